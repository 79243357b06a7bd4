// Test-time augmentation of FickleNet localization (not part of tests): scores the seeds of the aggregated maps of the
// image alone against maps averaged over SCALES (sides = round(ficklenet.size × s)) and, with FLIP=1, horizontal
// flips too — each map already normalised to [0,1] per class, the average renormalised to its max (as AffinityNet /
// IRN's CAM inference sums scales and flips). Seeds: the run's θ_fg, MB+ background and saliency gate. Usage:
//   RUN=<run folder> DATA=<voc root> SCALES=1,0.75,1.5 FLIP=1 npx vite-node bench/experiments/ttaSeeds.ts
import * as tf from '@tensorflow/tfjs-core';
import { type DataRecord, flipHorizontal } from '@wsss/datasets';
import { mbdSaliency, seedsFromMaps } from '@wsss/ficklenet';
import { localizeImage, SeedScore } from '../../packages/cli/src/ficklenet/localizeSet.js';
import { env, openFickleRun } from './fickleRun.js';

const { c, f, train, net, K } = await openFickleRun();
const scales = env('SCALES', '1').split(',').map(Number);
const flip = env('FLIP', '0') === '1';
const n = Math.min(Number(env('NLOC', '600')), train.length);
const base = new SeedScore();
const tta = new SeedScore();

function flipped(rec: DataRecord): DataRecord {
  const { width: W, height: H, data } = rec.image;
  return { ...rec, image: { ...rec.image, data: flipHorizontal(Uint8Array.from(data), W, H, 3) } };
}

const t0 = performance.now();
for (let i = 0; i < n; i++) {
  const rec = await train.read(i);
  const { width: W, height: H } = rec.image;
  const sal = mbdSaliency(rec.image);
  const classes = rec.labels.map((l) => l - 1);
  const opts = (size: number) => ({
    size,
    runs: f.runs,
    aggregate: f.aggregate,
    thFg: f.thFg,
    thBg: f.thBg,
    background: 'saliency' as const,
    saliencyMap: sal,
    seed: c.config.train.seed + i,
  });
  const seedsOf = (maps: Float32Array) => {
    const t = tf.tidy(() =>
      seedsFromMaps(tf.tensor4d(maps, [1, H, W, K]), [classes], {
        thFg: f.thFg,
        saliency: tf.tensor3d(sal, [1, H, W]),
        saliencyThreshold: f.saliencyThreshold,
        ...(f.fgMinSaliency > 0 ? { fgMinSaliency: f.fgMinSaliency } : {}),
      }),
    );
    const data = Uint8Array.from(t.dataSync());
    t.dispose();
    return { width: W, height: H, data };
  };
  const one = await localizeImage(net, rec, opts(f.size));
  base.add(seedsOf(one.maps), rec.mask!);
  const sum = new Float32Array(H * W * K);
  for (const s of scales) {
    const size = Math.round(f.size * s);
    const r = s === 1 ? one : await localizeImage(net, rec, opts(size));
    for (let p = 0; p < sum.length; p++) sum[p]! += r.maps[p]!;
    if (flip) {
      const fr = await localizeImage(net, flipped(rec), {
        ...opts(size),
        saliencyMap: undefined,
        background: 'low-activation',
      });
      const back = flipHorizontal(fr.maps, W, H, K); // the pass's own array, mirrored back in place
      for (let p = 0; p < sum.length; p++) sum[p]! += back[p]!;
    }
  }
  for (let k = 0; k < K; k++) {
    let mx = 0;
    for (let p = 0; p < H * W; p++) mx = Math.max(mx, sum[p * K + k]!);
    if (mx > 0) for (let p = 0; p < H * W; p++) sum[p * K + k]! /= mx;
  }
  tta.add(seedsOf(sum), rec.mask!);
}
const fmt = (s: SeedScore) => {
  const m = s.summary();
  const pc = m.perClass.map((p) => `${p.label}:${(p.precision * 100).toFixed(0)}`).join(' ');
  return `all ${(m.precision * 100).toFixed(1)}/${(m.recall * 100).toFixed(1)} fg ${(m.fgPrecision * 100).toFixed(1)}/${(m.fgRecall * 100).toFixed(1)} [${pc}]`;
};
console.log(
  `${n} images, ${((performance.now() - t0) / n).toFixed(0)} ms/img, tensors ${tf.memory().numTensors}`,
);
console.log(`single        ${fmt(base)}`);
console.log(`scales ${scales} flip ${flip}: ${fmt(tta)}`);
