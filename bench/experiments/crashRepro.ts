import * as tf from '@tensorflow/tfjs-core';
import { seedRandom, setBackend } from '@wsss/core';
import { createWsFcn } from '../../packages/cli/src/model/wsfcn.js';
import { WsFcnTrainer } from '../../packages/cli/src/train/step.js';

await setBackend('wasm', { wasmThreads: Number(process.env.THREADS ?? 1) });
for (const k of (process.env.OFF ?? '').split(',').filter(Boolean)) {
  tf.unregisterKernel(k, 'wasm');
  console.log('unregistered', k);
}
seedRandom(1);
const net = createWsFcn({
  numClasses: 5,
  backbone: {
    channels: JSON.parse(process.env.CH ?? '[16,32,64,128,256,256,256]'),
    depth: 'light',
    bnMode: 'batch',
    freezeStem: false,
  },
  contextBnMode: 'batch',
});
const tr = new WsFcnTrainer(net, {
  optimizer: { kind: 'adam', lr: 1e-3 },
  weightDecay: 0,
  lrMults: [1, 1, 1, 1],
  loss: { pretrainEpochs: Number(process.env.PRE ?? 3) },
});
const B = Number(process.env.B ?? 16),
  S = Number(process.env.S ?? 128);
const images = tf.randomNormal([B, S, S, 3]) as tf.Tensor4D,
  raw = tf.randomUniform([B, S, S, 3]) as tf.Tensor4D;
const labels = tf.tensor2d(
  Array.from({ length: B * 5 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
  [B, 5],
);
if (process.env.TIMEK) {
  const eng = tf.engine() as unknown as { runKernel: (...a: unknown[]) => unknown };
  const orig = eng.runKernel.bind(eng);
  const times = new Map<string, number[]>();
  const names = process.env.TIMEK.split(',');
  eng.runKernel = (name: unknown, ...rest: unknown[]) => {
    if (!names.includes(name as string) && names[0] !== '*') return orig(name, ...rest);
    const t0 = performance.now();
    const r = orig(name, ...rest);
    const key = process.env.SHAPES
      ? `${name} ${JSON.stringify(Object.values((rest[0] ?? {}) as Record<string, tf.Tensor>).map((t) => t?.shape))}`
      : (name as string);
    const l = times.get(key) ?? [];
    l.push(performance.now() - t0);
    times.set(key, l);
    return r;
  };
  // per kernel (and shape with SHAPES=1): the median over STEPS steps of its summed time in a step
  const perStep: Map<string, [number, number]>[] = [];
  const stepMs: number[] = [];
  for (let i = 0; i < Number(process.env.STEPS ?? 5); i++) {
    times.clear();
    const t0 = performance.now();
    await tr.step({ images, raw, labels }, 5);
    stepMs.push(performance.now() - t0);
    perStep.push(new Map([...times].map(([k, v]) => [k, [v.length, v.reduce((a, b) => a + b, 0)]])));
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  const keys = new Set(perStep.flatMap((m) => [...m.keys()]));
  const rows = [...keys]
    .map((k) => [k, perStep[0]!.get(k)?.[0] ?? 0, med(perStep.map((m) => m.get(k)?.[1] ?? 0))] as const)
    .sort((a, b) => b[2] - a[2]);
  console.log('steps', stepMs.map((t) => t.toFixed(0)).join(' '), 'median', med(stepMs).toFixed(0));
  console.log('  kernels total (sum of medians)', rows.reduce((a, r) => a + r[2], 0).toFixed(0));
  for (const [k, n, t] of rows.slice(0, Number(process.env.TOP ?? 30))) console.log(' ', k, n, t.toFixed(1));
  process.exit(0);
}
if (process.env.STACK) {
  Error.stackTraceLimit = 60;
  const eng = tf.engine() as unknown as { runKernel: (...a: unknown[]) => unknown };
  const orig = eng.runKernel.bind(eng);
  const seen = new Map<string, number>();
  eng.runKernel = (name: unknown, ...rest: unknown[]) => {
    if (name === process.env.STACK) {
      const st = (new Error().stack ?? '')
        .split('\n')
        .slice(Number(process.env.S0 ?? 2), Number(process.env.S1 ?? 9))
        .map((l) => l.trim().replace(/\(.*\//, '('))
        .join(' < ');
      seen.set(st, (seen.get(st) ?? 0) + 1);
    }
    return orig(name, ...rest);
  };
  await tr.step({ images, raw, labels }, 5);
  for (const [k, v] of [...seen].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(v, k);
  process.exit(0);
}
if (process.env.PROFILE) {
  await tr.step({ images, raw, labels }, 5);
  const info = await tf.profile(async () => {
    await tr.step({ images, raw, labels }, 5);
  });
  console.log(
    'peakMB',
    (info.peakBytes / 2 ** 20).toFixed(0),
    'newBytesMB',
    (info.newBytes / 2 ** 20).toFixed(0),
    'kernels',
    info.kernels.length,
  );
  const agg = new Map<string, { n: number; mb: number; ms: number }>();
  for (const k of info.kernels) {
    const a = agg.get(k.name) ?? { n: 0, mb: 0, ms: 0 };
    a.n++;
    a.mb += k.bytesAdded / 2 ** 20;
    a.ms += Number(k.kernelTimeMs) || 0;
    agg.set(k.name, a);
  }
  for (const [k, a] of [...agg].sort((x, y) => y[1].ms - x[1].ms).slice(0, 25))
    console.log(k.padEnd(32), a.n, 'MB', a.mb.toFixed(0), 'ms', a.ms.toFixed(0));
  if (process.env.TOP) {
    const top = [...info.kernels]
      .filter((k) => !process.env.TOP_NAME || k.name === process.env.TOP_NAME)
      .sort((x, y) => Number(y.kernelTimeMs) - Number(x.kernelTimeMs))
      .slice(0, Number(process.env.TOP));
    for (const k of top)
      console.log(
        k.name.padEnd(28),
        Number(k.kernelTimeMs).toFixed(1),
        JSON.stringify(k.inputShapes),
        JSON.stringify(k.outputShapes),
      );
  }
  process.exit(0);
}
for (let i = 0; i < Number(process.env.N ?? 4); i++) {
  const t0 = performance.now();
  const r = await tr.step({ images, raw, labels }, 5);
  const b = tf.backend() as any;
  console.log(
    i,
    (performance.now() - t0).toFixed(0),
    'ms',
    r.loss.toFixed(4),
    'heapMB',
    (b.wasm.HEAPU8.length / 2 ** 20).toFixed(0),
    'tfMB',
    (tf.memory().numBytes / 2 ** 20).toFixed(0),
  );
}
process.exit(0);
