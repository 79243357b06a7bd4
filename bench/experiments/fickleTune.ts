// FickleNet tuning harness (not part of tests): trains the FickleNet classifier on the synthetic set, localizes
// training images and prints seed precision/recall. Knobs via environment: CH, EPOCHS, LR, BATCH, CROP, S (window),
// P (rate), RUNS, THFG, THBG, AGG, NLOC, DATA (synthetic root), THREADS.
// Build: npx esbuild bench/experiments/fickleTune.ts --bundle --platform=node --format=esm --outfile=bench/experiments/.fickleTune.mjs --external:@tensorflow/* --external:sharp --external:@wsss/*
import * as tf from '@tensorflow/tfjs-core';
import { seedRandom, setBackend } from '@wsss/core';
import { batchToTensors, DataLoader, VocDataset } from '@wsss/datasets';
import { localizeImage, SeedScore } from '../../packages/cli/src/ficklenet/localizeSet.js';
import { createFickleClassifier } from '../../packages/cli/src/ficklenet/model.js';
import { FickleClassifierTrainer } from '../../packages/cli/src/ficklenet/steps.js';

const env = (k: string, d: string) => process.env[k] ?? d;
await setBackend('wasm', { wasmThreads: Number(env('THREADS', '2')) });
const root = env('DATA', '/tmp/demo-full2/data/synthetic-600-200-128px-k5-s0');
const train = await VocDataset.open({ root, split: 'train' });
seedRandom(7);
const net = createFickleClassifier({
  numClasses: train.numClasses,
  backbone: {
    channels: JSON.parse(env('CH', '[8,16,32,64,128,128,128]')),
    depth: 'light',
    bnMode: 'batch',
    freezeStem: false,
  },
  kernelSize: Number(env('S', '9')),
  rate: Number(env('P', '0.9')),
});
const tr = new FickleClassifierTrainer(net, {
  optimizer: { kind: 'adam', lr: Number(env('LR', '1e-3')) },
  weightDecay: 0,
  lrMults: [1, 1, 1, 1],
});
seedRandom(11);
const epochs = Number(env('EPOCHS', '8'));
const loader = new DataLoader({
  dataset: train,
  batchSize: Number(env('BATCH', '16')),
  seed: 0,
  dropLast: true,
  transform: { size: Number(env('CROP', '96')), scale: [0.9, 1], jitter: undefined },
});
let t0 = performance.now();
let sum = 0;
let n = 0;
for await (const b of loader.batches(epochs)) {
  const t = batchToTensors(b);
  const r = await tr.step({ images: t.images, labels: t.labels });
  tf.dispose([t.images, t.raw, t.labels, t.masks]);
  sum += r.loss;
  n++;
  if (b.position.epoch > b.epoch) {
    console.log(
      `epoch ${b.epoch}: loss ${(sum / n).toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(1)} s) tensors ${tf.memory().numTensors}`,
    );
    sum = 0;
    n = 0;
    t0 = performance.now();
  }
}
const nloc = Number(env('NLOC', '100'));
const recs = await Promise.all(Array.from({ length: nloc }, (_, i) => train.read(i)));
for (const agg of env('AGG', 'max,mean').split(',')) {
  for (const thFg of env('THFG', '0.5,0.7').split(',').map(Number)) {
    for (const thBg of env('THBG', '0.1,0.05').split(',').map(Number)) {
      const score = new SeedScore();
      t0 = performance.now();
      for (const [i, rec] of recs.entries()) {
        const r = await localizeImage(net, rec, {
          size: rec.image.width,
          runs: Number(env('RUNS', '200')),
          aggregate: agg as 'max',
          thFg,
          thBg,
          seed: i,
        });
        score.add(r.seeds, rec.mask!);
      }
      const m = score.summary();
      console.log(
        `agg ${agg} thFg ${thFg} thBg ${thBg}: ${((performance.now() - t0) / nloc).toFixed(0)} ms/img precision ${m.precision.toFixed(3)} recall ${m.recall.toFixed(3)} fg ${m.fgPrecision.toFixed(3)}/${m.fgRecall.toFixed(3)} coverage ${m.coverage.toFixed(3)}`,
      );
    }
  }
}
