// Prints the losses of N seeded demo-preset training steps on one fixed batch with full precision, to compare two
// builds' numerics: `npx esbuild bench/experiments/numcheck.ts --bundle --platform=node --format=esm
// --outfile=bench/experiments/.num.mjs --external:@tensorflow/* --external:@wsss/* --external:sharp` after building each.
import * as tf from '@tensorflow/tfjs-core';
// from the built packages (bundle with --external:@wsss/*): one copy of @wsss/core and its random stream
import { createWsFcn, WsFcnTrainer } from '@wsss/cli';
import { seedRandom, setBackend } from '@wsss/core';

await setBackend((process.env.BACKEND ?? 'wasm') as 'wasm', {
  wasmThreads: Number(process.env.THREADS ?? 1),
});
seedRandom(1);
const net = createWsFcn({
  numClasses: 5,
  backbone: { channels: [8, 16, 32, 64, 128, 128, 128], depth: 'light', bnMode: 'batch', freezeStem: false },
  contextBnMode: 'batch',
});
/** Σ|w| over `ts`, in float64 (tensors freed). */
const absSum = (ts: tf.Tensor[]) =>
  ts.reduce((acc, t) => acc + tf.tidy(() => tf.sum(tf.abs(t)).dataSync()[0]!), 0).toPrecision(9);
console.log('init sum|w|', absSum(net.model.getWeights()));
for (const l of net.model.layers) console.log(' ', l.name, absSum(l.getWeights()));
const tr = new WsFcnTrainer(net, {
  optimizer: { kind: 'adam', lr: 1e-3 },
  weightDecay: 0,
  lrMults: [1, 1, 1, 1],
  loss: { pretrainEpochs: 1 },
});
const B = 8;
const S = 64;
const raw = tf.randomUniform([B, S, S, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
const images = tf.mul(tf.sub(raw, 0.45), 4) as tf.Tensor4D;
const labels = tf.tensor2d(
  Array.from({ length: B * 5 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
  [B, 5],
);
for (let i = 0; i < Number(process.env.N ?? 6); i++) {
  const r = await tr.step({ images, raw, labels }, 2);
  console.log(i, r.loss.toPrecision(9), r.clsLoss.toPrecision(9), r.maskLoss?.toPrecision(9));
}
console.log('sum|w|', absSum(net.model.getWeights()));
