// Demo tuning harness (not part of tests): trains the width-reduced WS-FCN on the synthetic set and reports
// time per epoch and held-out mIoU of raw masks, PAMR pseudo-labels and predictions. Knobs via environment:
// CH (JSON channels), EPOCHS, PRETRAIN, LR, BATCH, NTRAIN, NVAL, SIZE, THREADS, BG ('model' or number), SEED.
// Build: npx esbuild bench/experiments/demoTune.ts --bundle --platform=node --format=esm --outfile=/tmp/demoTune.mjs --external:@tensorflow/* --external:sharp --external:@wsss/*
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  backgroundSoftmax,
  ConfusionMatrix,
  cleanMasks,
  describeBackend,
  pseudoGtMask,
  resizeBilinear,
  seedRandom,
  setBackend,
} from '@wsss/core';
import {
  batchToTensors,
  DataLoader,
  disposeBatchTensors,
  generateSyntheticSet,
  VocDataset,
} from '@wsss/datasets';
import { pamr } from '@wsss/pamr';
import { predictWsFcn } from '../../packages/cli/src/infer/predict.js';
import { createWsFcn } from '../../packages/cli/src/model/wsfcn.js';
import { WsFcnTrainer } from '../../packages/cli/src/train/step.js';

const env = (k: string, d: string) => process.env[k] ?? d;
const CH = JSON.parse(env('CH', '[16,32,64,128,256,256,256]'));
const EPOCHS = Number(env('EPOCHS', '12'));
const PRETRAIN = Number(env('PRETRAIN', '3'));
const LR = Number(env('LR', '1e-3'));
const BATCH = Number(env('BATCH', '16'));
const NTRAIN = Number(env('NTRAIN', '600'));
const NVAL = Number(env('NVAL', '200'));
const SIZE = Number(env('SIZE', '128'));
const THREADS = env('THREADS', '1');
const BG = env('BG', '0.25');
const K = 5;

const t0 = performance.now();
const el = () => ((performance.now() - t0) / 1000).toFixed(1);
await setBackend('wasm', { wasmThreads: THREADS === 'auto' ? 'auto' : Number(THREADS) });
console.log('backend', JSON.stringify(describeBackend()));
const root = mkdtempSync(join(tmpdir(), 'demo-'));
await generateSyntheticSet({
  root,
  count: NTRAIN + NVAL,
  size: SIZE,
  numClasses: K,
  seed: 0,
  splits: { train: NTRAIN, val: NVAL },
} as never);
console.log(`data ${el()}s`);
const train = await VocDataset.open({ root, split: 'train' } as never);
const val = await VocDataset.open({ root, split: 'val' } as never);
seedRandom(1);
const net = createWsFcn({
  numClasses: K,
  backbone: { channels: CH, depth: 'light', bnMode: 'batch', freezeStem: false },
  contextBnMode: 'batch',
});
console.log('params', net.countParameters());
const trainer = new WsFcnTrainer(net, {
  optimizer: { kind: 'adam', lr: LR },
  weightDecay: 0,
  lrMults: [1, 1, 1, 1],
  loss: { pretrainEpochs: PRETRAIN },
});
const loader = new DataLoader({
  dataset: train,
  batchSize: BATCH,
  seed: 0,
  dropLast: true,
  transform: { size: SIZE },
  prefetch: 2,
} as never);

async function evaluate(tag: string) {
  const cms = {
    raw: new ConfusionMatrix(K + 1),
    pamr: new ConfusionMatrix(K + 1),
    pred: new ConfusionMatrix(K + 1),
  };
  const vl = new DataLoader({
    dataset: val,
    batchSize: 20,
    shuffle: false,
    transform: 'none',
    prefetch: 1,
  } as never);
  for await (const b of vl.batches(1)) {
    const t = batchToTensors(b);
    tf.tidy(() => {
      const p = predictWsFcn(net, t.images, { bgScore: BG === 'model' ? 'model' : Number(BG) });
      cms.pred.update(p.classes.dataSync() as Int32Array, t.masks!.dataSync() as Int32Array);
      const z = net.model.predict(t.images) as tf.Tensor4D;
      const { masks } = backgroundSoftmax(z);
      const [, h, w] = masks.shape;
      const up = cleanMasks(resizeBilinear(masks, [SIZE, SIZE], { alignCorners: true }), t.labels);
      cms.raw.update(tf.argMax(up, 3).dataSync() as Int32Array, t.masks!.dataSync() as Int32Array);
      const ref = pamr(resizeBilinear(t.raw, [h, w], { alignCorners: true }), masks);
      const g = pseudoGtMask(cleanMasks(resizeBilinear(ref, [SIZE, SIZE], { alignCorners: true }), t.labels));
      const cls = tf.where(
        tf.greater(tf.sum(g, 3), 0),
        tf.argMax(g, 3),
        tf.fill(g.shape.slice(0, 3) as number[], 255, 'int32'),
      );
      cms.pamr.update(cls.dataSync() as Int32Array, t.masks!.dataSync() as Int32Array);
    });
    disposeBatchTensors(t);
  }
  console.log(
    `[${el()}s] ${tag} mIoU raw ${cms.raw.meanIoU().toFixed(3)} pamr ${cms.pamr.meanIoU().toFixed(3)} pred ${cms.pred.meanIoU().toFixed(3)}`,
  );
}

let te = performance.now();
let cur = 0;
let n = 0;
let cls = 0;
let mask = 0;
const endEpoch = async (e: number) => {
  console.log(
    `[${el()}s] epoch ${e} ${((performance.now() - te) / 1000).toFixed(1)}s cls ${(cls / n).toFixed(4)} mask ${(mask / n).toFixed(4)} tensors ${tf.memory().numTensors}`,
  );
  if (e === EPOCHS - 1 || (e >= PRETRAIN - 1 && e % 3 === 2)) await evaluate(`epoch ${e}`);
  te = performance.now();
  n = cls = mask = 0;
};
for await (const b of loader.batches(EPOCHS)) {
  if (b.epoch !== cur) {
    await endEpoch(cur);
    cur = b.epoch;
  }
  const t = batchToTensors(b);
  const r = await trainer.step(t, b.epoch);
  disposeBatchTensors(t);
  cls += r.clsLoss;
  mask += r.maskLoss ?? 0;
  n++;
}
await endEpoch(cur);
process.exit(0);
