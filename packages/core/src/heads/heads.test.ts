import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  backwardProbe,
  expectClose,
  gradCheck,
  seededTensor,
  seededValues,
  TEST_BACKENDS,
  useBackend,
} from '../testing/index.js';
import { balancedMaskLoss } from './maskLoss.js';
import { cleanMasks, pseudoGtMask } from './pseudoLabels.js';
import { backgroundSoftmax, classScores, multiLabelSoftMarginLoss } from './scores.js';

/** Scalar reference of spec §3.5 for one image: z is [pixel][class] foreground logits. */
function referenceScores(z: number[][], p = 3, lambda = 0.01): number[] {
  const y = z.map((row) => [1, ...row]);
  const m = y.map((row) => {
    const e = row.map(Math.exp);
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
  const out: number[] = [];
  for (let c = 1; c < y[0]!.length; c++) {
    let ym = 0;
    let ms = 0;
    for (let i = 0; i < y.length; i++) {
      ym += y[i]![c]! * m[i]![c]!;
      ms += m[i]![c]!;
    }
    const mean = ms / y.length;
    out.push(ym / (1 + ms) + (1 - mean) ** p * Math.log(lambda + mean));
  }
  return out;
}

describe.each(TEST_BACKENDS)('heads and losses on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('backgroundSoftmax prepends the constant logit 1 (spec §3.5)', () => {
    const { logits, masks } = backgroundSoftmax(tf.tensor4d([0, 2], [1, 1, 2, 1]));
    expectClose(logits, [1, 0, 1, 2]);
    const e = Math.E;
    expectClose(masks, [e / (e + 1), 1 / (e + 1), 1 / (1 + e), e / (1 + e)]);
  });

  it('classScores: nGWP with ε = 1 plus the focal penalty; the two-pixel case by hand', () => {
    const { logits, masks } = backgroundSoftmax(tf.tensor4d([0, 2], [1, 1, 2, 1]));
    const s = 1 / (1 + Math.E);
    const expected = (2 * (1 - s)) / (1 + 1) + 0.5 ** 3 * Math.log(0.51); // Σm = s + (1−s) = 1
    expectClose(classScores(logits, masks), [expected]);
  });

  it('classScores matches the scalar reference on a 3×5 map with 4 classes, and focal options apply', () => {
    const z = seededTensor([2, 3, 5, 4], 11, 3) as tf.Tensor4D;
    const { logits, masks } = backgroundSoftmax(z);
    const v = z.arraySync() as number[][][][];
    const expected = v.flatMap((img) => referenceScores(img.flat()));
    expectClose(classScores(logits, masks), expected, { atol: 1e-5 });
    const expected2 = v.flatMap((img) => referenceScores(img.flat(), 2, 0.1));
    expectClose(classScores(logits, masks, { focalP: 2, focalLambda: 0.1 }), expected2, { atol: 1e-5 });
  });

  it('class-score gradients w.r.t. the foreground logits match finite differences', () => {
    gradCheck(
      (z) => {
        const { logits, masks } = backgroundSoftmax(z as tf.Tensor4D);
        return classScores(logits, masks);
      },
      [seededTensor([1, 3, 5, 3], 4, 2)],
    );
  });

  it('multiLabelSoftMarginLoss by hand', () => {
    const loss = multiLabelSoftMarginLoss(tf.tensor2d([[0, 2]]), tf.tensor2d([[1, 0]]));
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    expectClose(loss, [-(Math.log(sig(0)) + Math.log(sig(-2))) / 2]);
    // stable at large scores: log σ(−100) must not be −∞
    expect(
      multiLabelSoftMarginLoss(tf.tensor2d([[100, -100]]), tf.tensor2d([[0, 1]])).dataSync()[0],
    ).toBeCloseTo(100, 3);
  });

  it('cleanMasks zeroes absent classes and leaves the background', () => {
    const m = tf.tensor4d([0.2, 0.3, 0.5], [1, 1, 1, 3]);
    expectClose(cleanMasks(m, tf.tensor2d([[0, 1]])), [0.2, 0, 0.5]);
    expect(() => cleanMasks(m, tf.tensor2d([[1, 1, 1]]))).toThrow(/labels must have shape \[1, 2\]/);
  });

  it('pseudoGtMask: thresholds 0.7/0.6/0.2, strict >, ambiguous and empty pixels ignored (spec §3.7)', () => {
    const masks = tf.tensor4d(
      [
        [0.9, 0.05, 0.05], // background
        [0.3, 0.6, 0.1], // class 1
        [0.5, 0.45, 0.05], // class 1 (0.45 > 0.6·0.6)
        [0.7, 0.5, 0.0], // background and class 1 → ignored
        [0.5, 0.3, 0.2], // class 2 at exactly its floor 0.2: not active (strict) → empty → ignored
      ].flat(),
      [1, 1, 5, 3],
    );
    expectClose(pseudoGtMask(masks), [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('balancedMaskLoss matches a scalar reference, gates images and averages over all pixels', () => {
    const n = 2;
    const h = 3;
    const w = 4;
    const c = 3;
    const y = seededTensor([n, h, w, c], 3, 2) as tf.Tensor4D;
    // Image 0: bg + class 1 + class 2 present, labels {1,2} → gate 1. Image 1: class 2 labelled but absent → gate 0.
    const tgt = [
      [0, 0, 1, 1, 255, 2, 2, 0, 1, 255, 0, 2],
      [0, 0, 1, 1, 0, 255, 0, 1, 1, 0, 0, 0],
    ];
    const gv = new Float32Array(n * h * w * c);
    tgt.forEach((img, b) => {
      img.forEach((t, i) => {
        if (t !== 255) gv[(b * h * w + i) * c + t] = 1;
      });
    });
    const G = tf.tensor4d(gv, [n, h, w, c]);
    const labels = tf.tensor2d([
      [1, 1],
      [1, 1],
    ]);
    const r = balancedMaskLoss(y, G, labels);
    const yv = y.dataSync();
    const expected: number[] = [];
    tgt.forEach((img, b) => {
      const counts = [0, 0, 0];
      for (const t of img) if (t !== 255) counts[t]!++;
      const total = counts[0]! + counts[1]! + counts[2]!;
      let sum = 0;
      img.forEach((t, i) => {
        if (t === 255) return;
        const o = (b * h * w + i) * c;
        const logits = [yv[o]!, yv[o + 1]!, yv[o + 2]!];
        const lse = Math.log(logits.reduce((a, v) => a + Math.exp(v), 0));
        sum += ((total - counts[t]!) / (1 + total)) * (lse - logits[t]!);
      });
      const gate = counts.filter((k) => k > 0).length === 3 ? 1 : 0;
      expected.push((gate * sum) / (h * w));
    });
    expectClose(r.gate, [1, 0]);
    expectClose(r.perSample, expected, { atol: 1e-5 });
    expectClose(r.loss, [(expected[0]! + expected[1]!) / 2], { atol: 1e-5 });
    // a true mask (semi-supervised) is never gated off: image 1's loss counts, image 0's is unchanged
    const trusted = balancedMaskLoss(y, G, labels, { trusted: tf.tensor1d([0, 1]) });
    const ungated: number[] = [];
    tgt.forEach((img, b) => {
      const counts = [0, 0, 0];
      for (const t of img) if (t !== 255) counts[t]!++;
      const total = counts[0]! + counts[1]! + counts[2]!;
      let sum = 0;
      img.forEach((t, i) => {
        if (t === 255) return;
        const o = (b * h * w + i) * c;
        const lse = Math.log([0, 1, 2].reduce((a, k) => a + Math.exp(yv[o + k]!), 0));
        sum += ((total - counts[t]!) / (1 + total)) * (lse - yv[o + t]!);
      });
      ungated.push(sum / (h * w));
    });
    expectClose(trusted.gate, [1, 1]);
    expectClose(trusted.perSample, ungated, { atol: 1e-5 });
    expect(ungated[1]).toBeGreaterThan(0);
  });

  it('balancedMaskLoss upsamples logits with align-corners and its gradient matches finite differences', () => {
    const G = tf.tidy(() => {
      const v = seededValues(1 * 5 * 7, 5);
      const onehot = new Float32Array(5 * 7 * 3);
      v.forEach((x, i) => {
        if (x > -0.6) onehot[i * 3 + (x > 0.3 ? 2 : x > -0.1 ? 1 : 0)] = 1;
      });
      return tf.tensor4d(onehot, [1, 5, 7, 3]);
    });
    const labels = tf.tensor2d([[1, 1]]);
    gradCheck((y) => balancedMaskLoss(y as tf.Tensor4D, G, labels).loss, [seededTensor([1, 3, 4, 3], 6)]);
  });

  it('balancedMaskLoss keeps two numbers a pixel for the backward pass, none of its (N,H,W,C) tensors', () => {
    const [H, W, C] = [160, 120, 21];
    const fullBytes = H * W * C * 4;
    const G = tf.tidy(() =>
      tf.oneHot(
        tf.tensor3d(
          seededValues(H * W, 8).map((v) => Math.floor((v + 1) * 10.5) % C),
          [1, H, W],
          'int32',
        ),
        C,
        1,
        0,
        'float32',
      ),
    ) as tf.Tensor4D;
    const labels = tf.tensor2d([Array.from({ length: C - 1 }, () => 1)]);
    const y = tf.variable(seededTensor([1, 21, 16, C], 9) as tf.Tensor4D);
    let held = 0;
    // at the first op of the backward pass everything the forward kept for it is alive, and nothing else
    const probe = backwardProbe<tf.Scalar>(() => {
      held = tf.memory().numBytes;
    });
    const base = tf.memory().numBytes;
    const r = tf.variableGrads(() => probe(balancedMaskLoss(y, G, labels).loss), [y]);
    // the target (int32) and weight of each pixel, and small tensors; the composite loss kept ~4 full tensors
    expect(held - base).toBeLessThan(0.2 * fullBytes);
    expect(held - base).toBeGreaterThanOrEqual(2 * H * W * 4);
    tf.dispose([r.value, r.grads, G, labels, y]);
  });
});
