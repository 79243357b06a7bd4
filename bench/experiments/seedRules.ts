// Seed-rule harness (not part of tests): localizes the first NLOC training images of a FickleNet run once and scores
// several ways of combining the class maps with the image's MB+ saliency (gate, salient-region assignment, WS-FCN CRF
// agreement, PAMR-refined maps). AGG=max|mean, RUNS (selections), GATES, TAUS, FLOOR, CRF_GATE, PAMR_ITERS, THFGS
// and ADAPT set the rules.
// WRITE_SEEDS=<dir> writes one rule's seeds as seed PNGs (the first salient rule; WRITE_RULE=gate: the CRF_GATE gate
// alone, byte for byte the pipeline's seeds; WRITE_RULE=crf: with the CRF), so that `wsss train --resume` on a copy
// of the run trains DSRG on them. Usage:
//   RUN=<run folder> DATA=<voc root> NLOC=600 npx vite-node bench/experiments/seedRules.ts
import * as tf from '@tensorflow/tfjs-core';
import { wsFcnCrf } from '@wsss/crf';
import { toUnitFloat, vocColorMap, writeIndexPng } from '@wsss/datasets';
import { mbdSaliency, seedsFromMaps } from '@wsss/ficklenet';
import { pamr } from '@wsss/pamr';
import { localizeImage, SeedScore } from '../../packages/cli/src/ficklenet/localizeSet.js';
import { env, openFickleRun } from './fickleRun.js';

const { c, f, train, net, K } = await openFickleRun();
const gates = env('GATES', '0,0.1,0.2,0.3,0.5').split(',').map(Number);
const salThr = f.saliencyThreshold;
const scores = gates.map(() => new SeedScore());
// salient-region rule: where saliency ≥ τ the strongest present class (if its map ≥ FLOOR), where it is < the
// background threshold background, between the fixed θ_fg rule
const taus = env('TAUS', '0.3,0.5,0.7').split(',').map(Number);
const floorFg = Number(env('FLOOR', '0.2'));
const salScores = taus.map(() => new SeedScore());
// class-agnostic: pixels with saliency ≥ τ that are foreground in the ground truth
const salFg = taus.map(() => ({ n: 0, fg: 0 }));
// what the baseline's foreground seeds land on: the right class, another class, background
const land = { right: 0, other: 0, bg: 0 };
// CRF agreement (WS-FCN's CRF of the maps, bg = (1 − max)^5, spec §4.9): foreground seeds of the CRF_GATE rule kept
// only where the CRF's label agrees
const crfGate = Number(env('CRF_GATE', '0.3'));
const crfScore = new SeedScore();
// PAMR (spec §3.6) over the aggregated maps, guided by the image, before the CRF_GATE rule: PAMR_ITERS iterations,
// each class map renormalised to its maximum after (PAMR_RENORM=0: not)
const pamrIters = env('PAMR_ITERS', '').split(',').filter(Boolean).map(Number);
const pamrRenorm = env('PAMR_RENORM', '1') !== '0';
const pamrScores = pamrIters.map(() => new SeedScore());
// θ_fg sweep: the first gate's rule at each THFGS value
const thFgs = env('THFGS', '').split(',').filter(Boolean).map(Number);
const thFgScores = thFgs.map(() => new SeedScore());
const adapt = Number(env('ADAPT', '0'));
const writeDir = process.env['WRITE_SEEDS'];
const palette = vocColorMap();
const t0 = performance.now();
const n = Math.min(Number(env('NLOC', '600')), train.length);
for (let i = 0; i < n; i++) {
  const rec = await train.read(i);
  const { width: W, height: H } = rec.image;
  const r = await localizeImage(net, rec, {
    size: f.size,
    runs: Number(env('RUNS', String(f.runs))),
    aggregate: (process.env['AGG'] as 'max' | 'mean' | undefined) ?? f.aggregate,
    thFg: f.thFg,
    thBg: f.thBg,
    seed: c.config.train.seed + i,
  });
  const sal = mbdSaliency(rec.image);
  const classes = r.labels.map((l) => l - 1);
  const gt = rec.mask!.data;
  // the seeds of θ_fg alone (gate null: no saliency), or with MB+ background and a foreground gate (0: none)
  const seedsAt = (gate: number | null, thFg = f.thFg): Uint8Array => {
    const t = tf.tidy(() =>
      seedsFromMaps(tf.tensor4d(r.maps, [1, H, W, K]), [classes], {
        thFg,
        ...(gate === null
          ? {}
          : {
              saliency: tf.tensor3d(sal, [1, H, W]),
              saliencyThreshold: salThr,
              ...(gate > 0 ? { fgMinSaliency: gate } : {}),
            }),
      }),
    );
    const data = Uint8Array.from(t.dataSync());
    t.dispose();
    return data;
  };
  const write = (rule: string | undefined, data: Uint8Array) =>
    writeDir && process.env['WRITE_RULE'] === rule
      ? writeIndexPng(`${writeDir}/${rec.id}.png`, { width: W, height: H, data }, palette)
      : Promise.resolve();
  // ADAPT=k: the first gate raised to k × the image's mean saliency where that is higher (an adaptive threshold)
  let meanSal = 0;
  for (let p = 0; p < H * W; p++) meanSal += sal[p]!;
  meanSal /= H * W;
  const gate0 = Math.max(gates[0] ?? 0, adapt * meanSal);
  for (const [j, th] of thFgs.entries())
    thFgScores[j]!.add({ width: W, height: H, data: seedsAt(gate0, th) }, rec.mask!);
  const base = seedsAt(null);
  for (let p = 0; p < H * W; p++) {
    const v = base[p]!;
    const t = gt[p]!;
    if (v === 0 || v === 255 || t === 255) continue;
    if (v === t) land.right++;
    else if (t === 0) land.bg++;
    else land.other++;
  }
  for (const [j, tau] of taus.entries()) {
    const data = new Uint8Array(H * W);
    for (let p = 0; p < H * W; p++) {
      let best = -1;
      let bv = -1;
      for (const c of classes) {
        const v = r.maps[p * K + c]!;
        if (v > bv) {
          bv = v;
          best = c;
        }
      }
      const sp = sal[p]!;
      if (sp < salThr) data[p] = 0;
      else if (sp >= tau) data[p] = best >= 0 && bv >= floorFg ? best + 1 : 255;
      else data[p] = best >= 0 && bv > f.thFg ? best + 1 : 255;
      if (sp >= tau && gt[p] !== 255) {
        salFg[j]!.n++;
        if (gt[p] !== 0) salFg[j]!.fg++;
      }
    }
    salScores[j]!.add({ width: W, height: H, data }, rec.mask!);
    // WRITE_SEEDS=<dir>: the first salient rule's seeds as the pipeline's seed PNGs (to train DSRG on them)
    if (j === 0) await write(undefined, data);
  }
  {
    const crf = wsFcnCrf({ width: W, height: H, data: rec.image.data }, r.maps, r.labels);
    const data = seedsAt(crfGate);
    await write('gate', data);
    for (let p = 0; p < H * W; p++)
      if (data[p] !== 0 && data[p] !== 255 && crf.labels[p] !== data[p]) data[p] = 255;
    crfScore.add({ width: W, height: H, data }, rec.mask!);
    await write('crf', data);
  }
  for (const [j, iters] of pamrIters.entries()) {
    const t = tf.tidy(() => {
      let m = pamr(
        tf.tensor4d(toUnitFloat(rec.image.data), [1, H, W, 3]),
        tf.tensor4d(r.maps, [1, H, W, K]),
        { iterations: iters },
      );
      if (pamrRenorm) m = tf.div(m, tf.maximum(tf.max(m, [1, 2], true), 1e-5));
      return seedsFromMaps(m, [classes], {
        thFg: f.thFg,
        saliency: tf.tensor3d(sal, [1, H, W]),
        saliencyThreshold: salThr,
        ...(crfGate > 0 ? { fgMinSaliency: crfGate } : {}),
      });
    });
    pamrScores[j]!.add({ width: W, height: H, data: Uint8Array.from(t.dataSync()) }, rec.mask!);
    t.dispose();
  }
  for (const [g, gate] of gates.entries())
    scores[g]!.add({ width: W, height: H, data: seedsAt(gate) }, rec.mask!);
}
console.log(
  `${n} images, ${((performance.now() - t0) / n).toFixed(0)} ms/img, tensors ${tf.memory().numTensors}`,
);
for (const [g, gate] of gates.entries()) {
  const m = scores[g]!.summary();
  const bg = m.perClass.find((p) => p.label === 0)!;
  console.log(
    `fgMinSaliency ${gate}: precision ${m.precision.toFixed(3)} recall ${m.recall.toFixed(3)} fg ${m.fgPrecision.toFixed(3)}/${m.fgRecall.toFixed(3)} bg ${bg.precision.toFixed(3)}/${bg.recall.toFixed(3)} coverage ${m.coverage.toFixed(3)}`,
  );
}
for (const [j, th] of thFgs.entries()) {
  const m = thFgScores[j]!.summary();
  console.log(
    `θ_fg ${th}, fgMinSaliency ${gates[0] ?? 0}: precision ${m.precision.toFixed(3)} recall ${m.recall.toFixed(3)} fg ${m.fgPrecision.toFixed(3)}/${m.fgRecall.toFixed(3)}`,
  );
}
const landed = land.right + land.other + land.bg;
console.log(
  `baseline foreground seeds land on: the right class ${(land.right / landed).toFixed(3)}, another class ${(land.other / landed).toFixed(3)}, background ${(land.bg / landed).toFixed(3)}`,
);
for (const [j, tau] of taus.entries()) {
  const m = salScores[j]!.summary();
  const bg = m.perClass.find((p) => p.label === 0)!;
  console.log(
    `salient ≥ ${tau} (${(salFg[j]!.fg / salFg[j]!.n).toFixed(3)} of it foreground), class by map ≥ ${floorFg}: precision ${m.precision.toFixed(3)} recall ${m.recall.toFixed(3)} fg ${m.fgPrecision.toFixed(3)}/${m.fgRecall.toFixed(3)} bg ${bg.precision.toFixed(3)}/${bg.recall.toFixed(3)}`,
  );
}
{
  const m = crfScore.summary();
  console.log(
    `gate ${crfGate} + CRF agreement: precision ${m.precision.toFixed(3)} recall ${m.recall.toFixed(3)} fg ${m.fgPrecision.toFixed(3)}/${m.fgRecall.toFixed(3)}`,
  );
}
for (const [j, iters] of pamrIters.entries()) {
  const m = pamrScores[j]!.summary();
  console.log(
    `gate ${crfGate} on PAMR(${iters}) maps${pamrRenorm ? ' renormalised' : ''}: precision ${m.precision.toFixed(3)} recall ${m.recall.toFixed(3)} fg ${m.fgPrecision.toFixed(3)}/${m.fgRecall.toFixed(3)}`,
  );
}
