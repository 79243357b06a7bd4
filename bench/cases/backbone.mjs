// Backbone forward bench (bench/run.mjs protocol): WideResNet-38 / ResNet-38d (spec §2), eval mode (frozen BN,
// no dropout), taps conv3 + conv6. Paired with bench/torch/backbone.py.
// - backbone-fwd/full-321: wrn38() (the reference 64…4096 channels, 3/3/6/3/1/1 units), 1×321×321×3.
// - backbone-fwd/demo-128: wrn38({ channels: [16, 32, 64, 128, 256, 256, 256], depth: 'light' }), 16×128×128×3
//   (the brief's demo size).
// - backbone-fwd/demo-preset-96: the CLI's DEMO_PRESET widths [8…128] at 16×96×96×3.
import { wrn38 } from '@wsss/backbone-wrn38';
import { emit, initBackend, quick, tf, timeIt } from './_util.mjs';

// Heavy: wasm (and webgpu) only; the plain-JS cpu backend prints no rows (WSSS_BENCH_ALL_BACKENDS=1 forces it).
if (/--backend=cpu\b/.test(process.argv.join(' ')) && process.env.WSSS_BENCH_ALL_BACKENDS !== '1') {
  process.stdout.write('[]\n');
  process.exit(0);
}
const backend = await initBackend();
const rows = [];
const cases = [
  ['backbone-fwd/full-321', {}, [1, 321, 321, 3], 3],
  [
    'backbone-fwd/demo-128',
    { channels: [16, 32, 64, 128, 256, 256, 256], depth: 'light' },
    [16, 128, 128, 3],
    quick ? 3 : 7,
  ],
  // the CLI's DEMO_PRESET (packages/cli/src/config/presets.ts): [8…128], 96 px crops, batch 16
  [
    'backbone-fwd/demo-preset-96',
    { channels: [8, 16, 32, 64, 128, 128, 128], depth: 'light' },
    [16, 96, 96, 3],
    quick ? 3 : 7,
  ],
];
const only = process.env.WSSS_BENCH_ID;
for (const [id, opts, shape, reps] of cases) {
  if (only && !id.includes(only)) continue;
  const net = wrn38(opts);
  const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
  const r = timeIt(() => net.apply(x, { training: false }), { warmup: 1, reps });
  rows.push({ id, impl: backend, ...r, threads: 1, note: `batch ${shape[0]}, ${shape[1]}x${shape[2]}` });
  x.dispose();
  tf.dispose(net.weights.map((w) => w.read()));
}
emit(rows);
