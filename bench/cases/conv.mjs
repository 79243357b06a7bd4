// 3×3 conv, N=4, 64×64, 32→32, padding = dilation (size-preserving): a training step (forward + dX + dW of
// sum(y·r)), the forward alone, and forward + one gradient each, so that dX and dW can be read off by difference.
// Paired with bench/torch/conv.py.
import { conv2d } from '@wsss/core';
import { emit, initBackend, tf, timeIt } from './_util.mjs';

const backend = await initBackend();
const [n, h, w, ci, co] = [4, 64, 64, 32, 32];
const x = tf.randomNormal([n, h, w, ci], 0, 1, 'float32', 1);
const f = tf.randomNormal([3, 3, ci, co], 0, 0.1, 'float32', 2);
const r = tf.randomNormal([n, h, w, co], 0, 1, 'float32', 3);
const reps = backend === 'cpu' ? 2 : 20;
const warmup = backend === 'cpu' ? 1 : 3;
const rows = [];
const row = (id, step) => rows.push({ id, impl: backend, ...timeIt(step, { warmup, reps }), threads: 1 });

for (const d of [1, 2, 12]) {
  const opts = { padding: d, dilation: d };
  const loss = (xx, ff) => tf.sum(tf.mul(conv2d(xx, ff, opts), r));
  row(`conv3x3-train/d${d}`, () => tf.grads(loss)([x, f]));
  if (d === 1) row('conv3x3-fwd/d1', () => conv2d(x, f, opts));
  row(`conv3x3-fwd+dx/d${d}`, () => tf.grad((xx) => loss(xx, f))(x));
  row(`conv3x3-fwd+dw/d${d}`, () => tf.grad((ff) => loss(x, ff))(f));
}
emit(rows);
