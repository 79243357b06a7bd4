import * as tf from '@tensorflow/tfjs-core';
import {
  expectClose,
  expectNoTensorGrowth,
  gradCheck,
  seededTensor,
  TEST_BACKENDS,
  useBackend,
} from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  connectedComponents8,
  dsrgBoundaryLoss,
  dsrgLoss,
  dsrgProbabilities,
  dsrgSeedLoss,
  growSeeds,
  growSeedsImage,
  seedMapToMultiHot,
} from './dsrg.js';

/** Probabilities (h·w·L) where pixel i has class cls[i] at value val[i] and the rest spread evenly. */
function probsOf(cls: number[], val: number[], L: number): Float32Array {
  const out = new Float32Array(cls.length * L);
  cls.forEach((c, i) => {
    for (let l = 0; l < L; l++) out[i * L + l] = l === c ? val[i]! : (1 - val[i]!) / (L - 1);
  });
  return out;
}

/** Multi-hot seeds (h·w·L) from a list of [pixel, class]. */
function seedsOf(n: number, L: number, list: [number, number][]): Uint8Array {
  const s = new Uint8Array(n * L);
  for (const [i, c] of list) s[i * L + c] = 1;
  return s;
}

/** The pixels (raster indices) carrying class c. */
function pixelsOf(s: Uint8Array, L: number, c: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length / L; i++) if (s[i * L + c]) out.push(i);
  return out;
}

describe('DSRG region growing (spec §6.3 step 3)', () => {
  it('labels 8-connected components (diagonal neighbours join)', () => {
    // 1 0 0
    // 0 1 0
    // 0 0 0 1   (4 wide)
    const m = Uint8Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    const { labels, count } = connectedComponents8(m, 3, 4);
    expect(count).toBe(2);
    expect(labels[0]).toBe(labels[5]);
    expect(labels[11]).not.toBe(labels[0]);
    expect(labels[1]).toBe(-1);
  });

  it('grows an anchored foreground component (diagonally too) above 0.85, not an unanchored one', () => {
    const h = 5;
    const w = 6;
    const L = 3;
    const cls = new Array(h * w).fill(0);
    const val = new Array(h * w).fill(0.5);
    const at = (y: number, x: number, c: number, v: number) => {
      cls[y * w + x] = c;
      val[y * w + x] = v;
    };
    at(0, 0, 1, 0.9);
    at(0, 1, 1, 0.9);
    at(1, 1, 1, 0.9);
    at(2, 2, 1, 0.9); // diagonal neighbour of (1,1)
    at(3, 3, 1, 0.8); // below th_fg 0.85
    at(4, 4, 1, 0.9); // an unanchored component
    at(4, 5, 1, 0.9);
    const out = growSeedsImage(seedsOf(h * w, L, [[0, 1]]), probsOf(cls, val, L), [1, 2], h, w);
    expect(pixelsOf(out, L, 1)).toEqual([0, 1, w + 1, 2 * w + 2]);
    expect(pixelsOf(out, L, 0)).toEqual([]);
    expect(pixelsOf(out, L, 2)).toEqual([]);
  });

  it('background grows only above 0.99; below, the pixel is unlabelled and cuts the region', () => {
    const L = 2;
    // one row of 5: seed bg at 0; 0.995, 0.95, 0.995, 0.995
    const probs = probsOf([0, 0, 0, 0, 0], [0.995, 0.995, 0.95, 0.995, 0.995], L);
    const out = growSeedsImage(seedsOf(5, L, [[0, 0]]), probs, [], 1, 5);
    expect(pixelsOf(out, L, 0)).toEqual([0, 1]);
    // the same numbers as a foreground class (0.95 > 0.85) grow through
    const fg = probsOf([1, 1, 1, 1, 1], [0.995, 0.995, 0.95, 0.995, 0.995], L);
    expect(pixelsOf(growSeedsImage(seedsOf(5, L, [[0, 1]]), fg, [1], 1, 5), L, 1)).toEqual([0, 1, 2, 3, 4]);
    // custom thresholds
    expect(pixelsOf(growSeedsImage(seedsOf(5, L, [[0, 0]]), probs, [], 1, 5, { thBg: 0.9 }), L, 0)).toEqual([
      0, 1, 2, 3, 4,
    ]);
  });

  it('conflicting seeds: a seed of exactly one other class is left out, of two other classes taken; seeds stay', () => {
    const L = 4;
    const probs = probsOf([1, 1, 1, 1, 1], [0.9, 0.9, 0.9, 0.9, 0.9], L);
    const seeds = seedsOf(5, L, [
      [0, 1],
      [2, 2],
      [3, 2],
      [3, 3],
    ]);
    const out = growSeedsImage(seeds, probs, [1, 2, 3], 1, 5);
    // pixel 2 (seed of class 2 only) is removed individually; pixel 4 beyond it still joins (same component)
    expect(pixelsOf(out, L, 1)).toEqual([0, 1, 3, 4]);
    expect(pixelsOf(out, L, 2)).toEqual([2, 3]);
    expect(pixelsOf(out, L, 3)).toEqual([3]);
    expect(Array.from(seeds)).toEqual(
      Array.from(
        seedsOf(5, L, [
          [0, 1],
          [2, 2],
          [3, 2],
          [3, 3],
        ]),
      ),
    ); // input untouched
  });

  it('seeds of several classes at a pixel label it with the highest; absent classes never grow', () => {
    const L = 3;
    // low confidence everywhere: the map is the seeds only; pixel 0 has seeds 1 and 2 → label 2
    const probs = probsOf([0, 0, 0], [0.5, 0.5, 0.5], L);
    const seeds = seedsOf(3, L, [
      [0, 1],
      [0, 2],
      [1, 2],
    ]);
    const out = growSeedsImage(seeds, probs, [1, 2], 1, 3);
    expect(pixelsOf(out, L, 2)).toEqual([0, 1]);
    expect(pixelsOf(out, L, 1)).toEqual([0]);
    // class 2 confident but absent from the labels: the argmax runs over present classes only
    const p2 = probsOf([2, 2, 2], [0.95, 0.95, 0.95], L);
    expect(pixelsOf(growSeedsImage(seedsOf(3, L, [[0, 1]]), p2, [1], 1, 3), L, 1)).toEqual([0]);
    expect(() => growSeedsImage(seeds, probs, [3], 1, 3)).toThrow(
      /labels must be channel indices in \[0, 3\)/,
    );
  });
});

describe.each(TEST_BACKENDS)('DSRG losses on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  /** P of spec §6.3 step 1, in plain JS. */
  const jsProbs = (z: number[]) => {
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / s + 1e-4);
    const t = p.reduce((a, b) => a + b, 0);
    return p.map((v) => v / t);
  };

  it('growSeeds on tensors, and index-map seeds', () => {
    const seeds = seedMapToMultiHot(tf.tensor3d([0, 255, 1, 255], [1, 2, 2], 'int32'), 2);
    expect(Array.from(seeds.dataSync())).toEqual([1, 0, 0, 0, 0, 1, 0, 0]);
    const probs = tf.tensor4d([0.995, 0.005, 0.5, 0.5, 0.1, 0.9, 0.05, 0.95], [1, 2, 2, 2]);
    const out = growSeeds(seeds, probs, [[1]]);
    expect(Array.from(out.dataSync())).toEqual([1, 0, 0, 0, 0, 1, 0, 1]);
  });

  it('balanced seed loss equals the hand-computed value and its gradient matches finite differences', () => {
    const z = [0, 1, 2, 1, 0, 0, 0.5, -1, 0.3, 2, 0.1, -0.4];
    const logits = tf.tensor4d(z, [2, 1, 2, 3]);
    // image 0: pixel 0 class 2, pixel 1 background; image 1: pixel 0 background only
    const seeds = tf.tensor4d([0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0], [2, 1, 2, 3]);
    const P = [0, 1, 2, 3].map((i) => jsProbs(z.slice(3 * i, 3 * i + 3)));
    const img0 = -Math.log(P[1]![0]!) / 1 - Math.log(P[0]![2]!) / 1;
    const img1 = -Math.log(P[2]![0]!) / 1 - 0 / 1e-4;
    const expected = (img0 + img1) / 2;
    expectClose(dsrgSeedLoss(logits, seeds), [expected], { atol: 1e-5 });
    expectClose(dsrgProbabilities(logits), P.flat(), { atol: 1e-6 });
    gradCheck((l) => dsrgSeedLoss(l as tf.Tensor4D, seeds), [seededTensor([2, 1, 2, 3], 3)], {
      eps: 1e-3,
      atol: 1e-3,
    });
  });

  it('boundary loss: value with clipping, exact gradient without the CRF term, the CRF term as the reference', () => {
    const z = [0, 1, -12, 2, 0, 0];
    const logits = tf.tensor4d(z, [1, 1, 2, 3]);
    const q = [0.3, 0.2, 0.5, 0.6, 0.3, 0.1];
    const Q = tf.tensor4d(q, [1, 1, 2, 3]);
    const P = [jsProbs(z.slice(0, 3)), jsProbs(z.slice(3))].flat();
    let expected = 0;
    for (let i = 0; i < 6; i++) expected += q[i]! * Math.log(Math.min(20, Math.max(0.05, q[i]! / P[i]!)));
    expected /= 2;
    expect(q[2]! / P[2]!).toBeGreaterThan(20); // the clip is active there
    expectClose(dsrgBoundaryLoss(logits, Q), [expected], { atol: 1e-5 });
    // inside the clip range and without the CRF term the gradient is the true one
    const Qs = tf.tensor4d([0.3, 0.2, 0.5, 0.6, 0.3, 0.1, 0.2, 0.2, 0.6], [1, 1, 3, 3]);
    gradCheck(
      (l) => dsrgBoundaryLoss(l as tf.Tensor4D, Qs, { crfGradient: false }),
      [seededTensor([1, 1, 3, 3], 5)],
      {
        eps: 1e-3,
        atol: 1e-3,
      },
    );
    // the CRF term adds (1 − Q')·Q'·(log clip(Q'/P) + 1)/(N·h·w) to ∂L/∂P, carried to the logits by P's VJP
    const lg = seededTensor([1, 1, 3, 3], 5) as tf.Tensor4D;
    const gWith = tf.grad((l: tf.Tensor) => dsrgBoundaryLoss(l as tf.Tensor4D, Qs))(lg);
    const gWithout = tf.grad((l: tf.Tensor) =>
      dsrgBoundaryLoss(l as tf.Tensor4D, Qs, { crfGradient: false }),
    )(lg);
    const p = dsrgProbabilities(lg);
    const extra = tf.div(
      tf.mul(tf.mul(tf.sub(1, Qs), Qs), tf.add(tf.log(tf.clipByValue(tf.div(Qs, p), 0.05, 20)), 1)),
      3,
    );
    const vjp = tf.grad((l: tf.Tensor) => tf.sum(tf.mul(dsrgProbabilities(l as tf.Tensor4D), extra)))(lg);
    expectClose(tf.sub(gWith, gWithout), vjp, { atol: 1e-6, rtol: 1e-4 });
  });

  it('dsrgLoss: CRF, growing and both losses in a training step without tensor growth', async () => {
    const h = 6;
    const w = 6;
    const L = 3;
    const rgb = new Uint8Array(h * w * 3);
    for (let i = 0; i < h * w; i++) rgb.fill(i % w < 3 ? 30 : 220, i * 3, i * 3 + 3);
    const seedMap = new Int32Array(h * w).fill(255);
    seedMap[0] = 0;
    seedMap[5] = 2;
    const seeds = seedMapToMultiHot(tf.tensor3d(seedMap, [1, h, w], 'int32'), L);
    const logitsVar = tf.variable(seededTensor([1, h, w, L], 2));
    const images = [{ data: rgb, width: w, height: h }];
    const r = dsrgLoss(logitsVar as tf.Tensor4D, { seeds, labels: [[2]], images });
    expectClose(r.loss, tf.add(r.seedLoss, r.boundaryLoss), { atol: 1e-6 });
    expect(r.grownSeeds.shape).toEqual([1, h, w, L]);
    expect(r.grownSeeds.dataSync()[5 * L + 2]).toBe(1); // original seeds stay
    tf.dispose([r.loss, r.seedLoss, r.boundaryLoss, r.grownSeeds, r.crfProbs]);
    const opt = tf.train.sgd(0.1);
    await expectNoTensorGrowth(() =>
      tf.dispose(
        opt.minimize(() => dsrgLoss(logitsVar as tf.Tensor4D, { seeds, labels: [[2]], images }).loss, true) ??
          undefined,
      ),
    );
  });
});
