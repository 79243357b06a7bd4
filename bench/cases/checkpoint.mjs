// Checkpoint bench (bench/run.mjs protocol), paired with bench/torch/checkpoint.py: what a checkpoint costs a
// training run. Rows, each for the demo preset's WS-FCN (channels [8…128], light) and the full WS-FCN (148 M
// parameters, the VOC preset), with SGD momentum buffers for every trainable weight:
// - `checkpoint-pause/<size>`: how long training waits — CheckpointWriter.save(): reading weights and optimiser
//   slots off the backend and checksumming them (the file is then written in the background);
//   torch: torch.save(model + optimizer state dicts) + fsync, which training waits for entirely;
// - `checkpoint-write/<size>`: the background write that follows (stream to a temporary, fsync, rename, fsync the
//   folder); torch: the same save + fsync;
// - `checkpoint-load/<size>`: read, verify the CRC-32 and parse; torch: torch.load.
// Rows carry `bytes` (the file size). Timing: the median of `reps` saves after one warm-up.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWsFcn } from '@wsss/cli';
import { CheckpointWriter, loadCheckpoint } from '@wsss/cli/main';
import { GroupedOptimizer } from '@wsss/core';
import { emit, initBackend, quick } from './_util.mjs';

const impl = await initBackend();
const only = process.env.WSSS_BENCH_ID;
const dir = mkdtempSync(join(tmpdir(), 'wsss-bench-ckpt-'));

const SIZES = {
  'demo-preset': () =>
    createWsFcn({
      numClasses: 5,
      backbone: {
        channels: [8, 16, 32, 64, 128, 128, 128],
        depth: 'light',
        bnMode: 'batch',
        freezeStem: false,
      },
      contextBnMode: 'batch',
    }),
  'voc-321': () => createWsFcn({ numClasses: 20 }),
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rows = [];
for (const [size, build] of Object.entries(SIZES)) {
  if (only && !`checkpoint-pause/${size}`.includes(only) && !size.includes(only)) continue;
  const net = build();
  const vars = net.model.trainableWeights.map((w) => w.read());
  const opt = new GroupedOptimizer([{ name: 'all', variables: vars, lrMult: 1, weightDecay: 0 }], {
    kind: 'sgd',
    lr: 1e-3,
    momentum: 0.9,
  });
  // momentum buffers as after a first step (state after any step has the same size)
  const slots = {};
  for (const v of vars) {
    const values = new Float32Array(v.size);
    for (let i = 0; i < values.length; i += 97) values[i] = (i % 13) * 1e-3;
    slots[v.name] = { shape: v.shape, values: [values] };
  }
  opt.setState({ step: 1, slots });
  const file = join(dir, `${size}.safetensors`);
  const writer = new CheckpointWriter();
  const state = {
    epoch: 0,
    step: 1,
    position: { epoch: 0, index: 16 },
    random: null,
    optimizerStep: 1,
    best: null,
    reason: 'interval',
    config: {},
    classNames: [],
    savedAt: '',
  };
  const reps = quick || size === 'voc-321' ? 3 : 10;
  const pause = [];
  const write = [];
  const load = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    await writer.save(file, net, () => opt.getState(), state);
    const t1 = performance.now();
    await writer.settle();
    const t2 = performance.now();
    const ck = await loadCheckpoint(file);
    const t3 = performance.now();
    if (ck.weights.size !== net.model.weights.length) throw new Error('checkpoint lost weights');
    if (i === 0) continue; // warm-up
    pause.push(t1 - t0);
    write.push(t2 - t1);
    load.push(t3 - t2);
  }
  const bytes = statSync(file).size;
  const note = `${net.countParameters().toLocaleString('en')} parameters + momentum`;
  rows.push({
    id: `checkpoint-pause/${size}`,
    impl,
    ms: Number(median(pause).toFixed(1)),
    reps,
    bytes,
    note,
  });
  rows.push({
    id: `checkpoint-write/${size}`,
    impl,
    ms: Number(median(write).toFixed(1)),
    reps,
    bytes,
    note,
  });
  rows.push({ id: `checkpoint-load/${size}`, impl, ms: Number(median(load).toFixed(1)), reps, bytes, note });
  opt.dispose();
  net.model.dispose();
}
rmSync(dir, { recursive: true, force: true });
emit(rows);
