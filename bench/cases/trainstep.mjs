// WS-FCN training-step bench (bench/run.mjs protocol), paired with bench/torch/trainstep.py: createWsFcn with the
// demo widths (backbone channels [16, 32, 64, 128, 256, 256, 256], depth 'light', trained from scratch: BNs in
// batch mode, nothing frozen; FCA/SF2/head at 64 channels) + WsFcnTrainer (SGD momentum 0.9, the WS-FCN groups
// 1/2/20/40, wd 5e-4) at 128×128, batch 8, epoch past pretraining (mask phase on: PAMR, pseudo GT, balanced CE).
// Rows: wsfcn-trainstep/demo-128, wsfcn-trainstep-clsonly/demo-128 (mask phase off), wsfcn-fwd/demo-128, and
// wsfcn-trainstep/demo-preset-96 (the CLI's DEMO_PRESET: see DEMO_PRESET_96).
// Exports `demoTrainStep()` for bench/cases/datasets.mjs (what a training step consumes, images/s).
import { fileURLToPath } from 'node:url';
import { createWsFcn, WsFcnTrainer } from '@wsss/cli';
import { applyModel } from '@wsss/core';
import { emit, initBackend, quick, tf, timeIt } from './_util.mjs';

export const DEMO = {
  n: 8,
  size: 128,
  numClasses: 20,
  channels: [16, 32, 64, 128, 256, 256, 256],
  optimizer: { kind: 'sgd', lr: 1e-3, momentum: 0.9 },
  trainer: {},
};
/**
 * The CLI's demo preset as it stands in packages/cli/src/config/presets.ts (DEMO_PRESET, 2026-11-21): channels
 * [8…128], 96 px crops, batch 16, 5 classes, Adam lr 1e-3, multipliers 1, no weight decay. Values copied here
 * (not imported) so that the case does not depend on the CLI's config module.
 */
export const DEMO_PRESET_96 = {
  n: 16,
  size: 96,
  numClasses: 5,
  channels: [8, 16, 32, 64, 128, 128, 128],
  optimizer: { kind: 'adam', lr: 1e-3 },
  trainer: { weightDecay: 0, lrMults: [1, 1, 1, 1] },
};

export function demoNet(cfg = DEMO) {
  return createWsFcn({
    numClasses: cfg.numClasses,
    backbone: {
      channels: cfg.channels,
      depth: 'light',
      bnMode: 'batch',
      freezeStem: false,
    },
    contextBnMode: 'batch',
  });
}

/** The same batch as the torch twin's layout (values differ: timing only). */
export function demoBatch(cfg = DEMO) {
  const { n, size, numClasses: k } = cfg;
  const raw = tf.randomUniform([n, size, size, 3], 0, 1, 'float32', 7);
  const images = tf.tidy(() => tf.div(tf.sub(raw, [0.485, 0.456, 0.406]), [0.229, 0.224, 0.225]));
  const lab = new Float32Array(n * k);
  for (let b = 0; b < n; b++) for (let j = 0; j <= b % 3; j++) lab[b * k + ((b * 7 + j * 5) % k)] = 1;
  return { images, raw, labels: tf.tensor2d(lab, [n, k]) };
}

/** Median ms of `reps` demo training steps (mask phase on) after `warmup`; images/s = n / (ms / 1000). */
export async function demoTrainStep({ warmup = 1, reps = 3, maskPhase = true, cfg = DEMO } = {}) {
  const net = demoNet(cfg);
  const trainer = new WsFcnTrainer(net, { optimizer: cfg.optimizer, ...cfg.trainer });
  const batch = demoBatch(cfg);
  const epoch = maskPhase ? 100 : 0;
  for (let i = 0; i < warmup; i++) await trainer.step(batch, epoch);
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await trainer.step(batch, epoch); // reads the loss back: the step has finished
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  trainer.dispose();
  net.model.dispose();
  tf.dispose(batch);
  return {
    ms: Number(times[Math.floor(times.length / 2)].toFixed(3)),
    reps,
    imagesPerSec: cfg.n / (times[Math.floor(times.length / 2)] / 1000),
  };
}

/**
 * `--serve`: the lockstep protocol of bench/paired.mjs for the demo preset's step. Prints {"ready": true}, then
 * for every stdin line "step" runs one training step and prints {"ms": …}; ends at EOF or "quit".
 */
async function serve() {
  await initBackend();
  const cfg = DEMO_PRESET_96;
  const net = demoNet(cfg);
  const trainer = new WsFcnTrainer(net, { optimizer: cfg.optimizer, ...cfg.trainer });
  const batch = demoBatch(cfg);
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const { createInterface } = await import('node:readline');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() !== 'step') break;
    const t0 = performance.now();
    await trainer.step(batch, 100);
    process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0 })}\n`);
  }
  process.exit(0);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--serve')) await serve();
else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Heavy: wasm (and webgpu) only; the plain-JS cpu backend prints no rows (WSSS_BENCH_ALL_BACKENDS=1 forces it).
  if (/--backend=cpu\b/.test(process.argv.join(' ')) && process.env.WSSS_BENCH_ALL_BACKENDS !== '1') {
    process.stdout.write('[]\n');
    process.exit(0);
  }
  const backend = await initBackend();
  const reps = quick ? 3 : 7;
  const note = `batch ${DEMO.n}, ${DEMO.size}x${DEMO.size}, demo widths [16,32,64,128,256,256,256] light, from scratch, SGD`;
  const rows = [];
  const want = (id) => !process.env.WSSS_BENCH_ID || id.includes(process.env.WSSS_BENCH_ID); // substring filter
  if (want('wsfcn-trainstep/demo-128')) {
    const on = await demoTrainStep({ warmup: 2, reps });
    rows.push({
      id: 'wsfcn-trainstep/demo-128',
      impl: backend,
      ms: on.ms,
      reps,
      threads: 1,
      note: `${note}; ${on.imagesPerSec.toFixed(1)} img/s`,
    });
  }
  if (want('wsfcn-trainstep-clsonly/demo-128')) {
    const off = await demoTrainStep({ warmup: 1, reps, maskPhase: false });
    rows.push({ id: 'wsfcn-trainstep-clsonly/demo-128', impl: backend, ms: off.ms, reps, threads: 1, note });
  }
  if (want('wsfcn-fwd/demo-128')) {
    const net = demoNet();
    const { images, raw, labels } = demoBatch();
    const r = timeIt(() => applyModel(net.model, images, { training: true }), { warmup: 1, reps });
    rows.push({
      id: 'wsfcn-fwd/demo-128',
      impl: backend,
      ...r,
      threads: 1,
      note: 'forward only, training mode',
    });
    net.model.dispose();
    tf.dispose([images, raw, labels]);
  }
  if (want('wsfcn-trainstep/demo-preset-96')) {
    const c = DEMO_PRESET_96;
    const r = await demoTrainStep({ warmup: 1, reps: quick ? 3 : 5, cfg: c });
    rows.push({
      id: 'wsfcn-trainstep/demo-preset-96',
      impl: backend,
      ms: r.ms,
      reps: r.reps,
      threads: 1,
      note: `CLI DEMO_PRESET: batch ${c.n}, ${c.size}x${c.size}, [8..128] light, ${c.numClasses} classes, Adam; ${r.imagesPerSec.toFixed(1)} img/s`,
    });
  }
  emit(rows);
}
