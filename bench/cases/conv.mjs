// 3×3 conv, N=4, 64×64, 32→32, padding = dilation (size-preserving): a training step (forward + dX + dW of
// sum(y·r)), the forward alone, and forward + one gradient each, so that dX and dW can be read off by
// difference; plus the stride-2 conv (64×64 → 32×32, padding 1) our backbones use. Paired with
// bench/torch/conv.py.
import { conv2d } from '@wsss/core';
import { emit, initBackend, tf, timeIt } from './_util.mjs';

const backend = await initBackend();
// The cpu backend is the reference only (DESIGN §3): a training step takes tens of seconds there, so it runs the
// three training steps once each (no warm-up) and nothing else.
const cpu = backend === 'cpu';
const [n, h, w, ci, co] = [4, 64, 64, 32, 32];
const x = tf.randomNormal([n, h, w, ci], 0, 1, 'float32', 1);
const f = tf.randomNormal([3, 3, ci, co], 0, 0.1, 'float32', 2);
const r = tf.randomNormal([n, h, w, co], 0, 1, 'float32', 3);
const r2 = tf.randomNormal([n, h / 2, w / 2, co], 0, 1, 'float32', 4);
const rows = [];
const row = (id, step) => {
  if (cpu && !id.startsWith('conv3x3-train/')) return;
  rows.push({ id, impl: backend, ...timeIt(step, cpu ? { warmup: 0, reps: 1 } : undefined), threads: 1 });
};

// Gradients of sum(y·r): r is passed as the upstream gradient, so no elementwise ops surround the conv.
for (const d of [1, 2, 12]) {
  const y = (xx, ff) => conv2d(xx, ff, { padding: d, dilation: d });
  row(`conv3x3-train/d${d}`, () => tf.grads(y)([x, f], r));
  if (d === 1) row('conv3x3-fwd/d1', () => y(x, f));
  row(`conv3x3-fwd+dx/d${d}`, () => tf.grad((xx) => y(xx, f))(x, r));
  row(`conv3x3-fwd+dw/d${d}`, () => tf.grad((ff) => y(x, ff))(f, r));
}
row('conv3x3s2-train/d1', () => tf.grads((xx, ff) => conv2d(xx, ff, { stride: 2, padding: 1 }))([x, f], r2));
emit(rows);
