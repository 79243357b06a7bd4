// Filter-gradient split (not part of tests): per convolution of the demo network's sizes, the wasm backend's
// forward conv, its filter gradient (Conv2DBackpropFilter: layout copies + one GEMM) and the two same-FLOP GEMMs
// alone, median ms. It answers how much of the filter gradient is GEMM. CASES='[[n,h,w,ci,co,k],…] (stride 1, "same")',
// THREADS (default 2). Usage: npx vite-node bench/experiments/fgsplit.ts
import * as tf from '@tensorflow/tfjs-core';
import { setBackend } from '@wsss/core';

await setBackend('wasm', { wasmThreads: Number(process.env.THREADS ?? 2) });
// [n, h, w, ci, co, k]
const cases: number[][] = JSON.parse(
  process.env.CASES ?? '[[16,12,12,128,128,3],[16,24,24,64,64,3],[16,48,48,16,32,3]]',
);
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
const time = (f: () => tf.Tensor, reps = 15) => {
  for (let i = 0; i < 3; i++) f().dispose();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = f();
    r.dataSync();
    t.push(performance.now() - t0);
    r.dispose();
  }
  return med(t);
};
for (const [n, h, w, ci, co, k] of cases) {
  const x = tf.randomNormal([n, h, w, ci]) as tf.Tensor4D;
  const wt = tf.randomNormal([k, k, ci, co]) as tf.Tensor4D;
  const dy = tf.randomNormal([n, h, w, co]) as tf.Tensor4D;
  const fwd = time(() => tf.conv2d(x, wt, 1, 'same', 'NHWC'));
  const fg = time(
    () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NHWC',
        filterShape: [k, k, ci, co],
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
  );
  const K = k * k * ci,
    M = n * h * w;
  const a = tf.randomNormal([K, M]);
  const b = tf.randomNormal([M, co]);
  const mm = time(() => tf.matMul(a, b));
  const a2 = tf.randomNormal([M, K]);
  const b2 = tf.randomNormal([K, co]);
  const mmf = time(() => tf.matMul(a2, b2));
  console.log(
    JSON.stringify({
      n,
      h,
      w,
      ci,
      co,
      k,
      fwd: +fwd.toFixed(2),
      filterGrad: +fg.toFixed(2),
      gemmKxM_MxCo: +mm.toFixed(2),
      gemmMxK_KxCo: +mmf.toFixed(2),
    }),
  );
  tf.dispose([x, wt, dy, a, b, a2, b2]);
}
process.exit(0);
