import * as tf from '@tensorflow/tfjs-core';
import { conv2d, setBackend } from '@wsss/core';

await setBackend('wasm');
const cases: [number[], number[], number, number, number][] = [
  // [xShape, wShape(HWIO), stride, pad, dilation]
  [[16, 128, 128, 3], [3, 3, 3, 16], 1, 1, 1],
  [[16, 128, 128, 16], [3, 3, 16, 32], 2, 1, 1],
  [[16, 128, 128, 16], [1, 1, 16, 32], 2, 0, 1],
  [[16, 64, 64, 32], [3, 3, 32, 32], 1, 1, 1],
  [[16, 64, 64, 32], [3, 3, 32, 64], 2, 1, 1],
  [[16, 16, 16, 128], [3, 3, 128, 128], 1, 2, 2],
  [[16, 16, 16, 256], [3, 3, 64, 128], 1, 4, 4],
  [[16, 16, 16, 256], [3, 1, 256, 256], 1, 0, 1],
];
for (const [xs, ws, s, p, d] of cases) {
  const x = tf.randomNormal(xs) as tf.Tensor4D;
  const xr = xs[3] === ws[2] ? x : (tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, ws[2]!]) as tf.Tensor4D);
  const w = tf.randomNormal(ws) as tf.Tensor4D;
  const f = (a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(
      tf.square(
        conv2d(a as tf.Tensor4D, b as tf.Tensor4D, {
          stride: s,
          padding: ws[0] === 3 && ws[1] === 1 ? [1, 0] : p,
          dilation: d,
        }),
      ),
    );
  const t0 = performance.now();
  const [, gw] = tf.grads(f)([xr, w]);
  const wv = gw!.dataSync().slice();
  const ms = performance.now() - t0;
  await setBackend('cpu');
  const [, gwc] = tf.grads(f)([tf.tensor(xr.dataSync(), xr.shape), tf.tensor(w.dataSync(), w.shape)]);
  const cv = gwc!.dataSync();
  let md = 0,
    mx = 0;
  for (let i = 0; i < cv.length; i++) {
    md = Math.max(md, Math.abs(cv[i]! - wv[i]!));
    mx = Math.max(mx, Math.abs(cv[i]!));
  }
  console.log(
    JSON.stringify({ xs, ws, s, p, d }),
    'wasm ms',
    ms.toFixed(0),
    'rel max diff',
    (md / mx).toExponential(2),
  );
  await setBackend('wasm');
}
process.exit(0);
