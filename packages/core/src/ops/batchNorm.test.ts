import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, gradCheck, seededTensor, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { batchNorm } from './batchNorm.js';

describe.each(TEST_BACKENDS)('batchNorm on %s', (backend) => {
  beforeAll(() => useBackend(backend));
  const x = () => tf.tensor4d([1, 2, 3, 4], [2, 1, 2, 1]);
  const stats = () => ({ movingMean: tf.tensor1d([1]), movingVariance: tf.tensor1d([4]) });

  it('frozen: γ(x − μ)/√(σ² + 1e-5) + β with the stored statistics, also when training', () => {
    for (const training of [false, true]) {
      const r = batchNorm(
        x(),
        { ...stats(), gamma: tf.tensor1d([2]), beta: tf.tensor1d([0.5]) },
        { mode: 'frozen', training },
      );
      const s = Math.sqrt(4 + 1e-5);
      expectClose(
        r.y,
        [0, 2 / s, 4 / s, 6 / s].map((v) => v + 0.5),
      );
      expect(r.newMovingMean).toBeUndefined();
    }
  });

  it('frozenStats with init statistics 0/1 is the affine map γ·x/√(1 + 1e-5) + β (spec §1.5)', () => {
    const r = batchNorm(
      x(),
      {
        movingMean: tf.tensor1d([0]),
        movingVariance: tf.tensor1d([1]),
        gamma: tf.tensor1d([3]),
        beta: tf.tensor1d([-1]),
      },
      { mode: 'frozenStats', training: true },
    );
    expectClose(
      r.y,
      [1, 2, 3, 4].map((v) => (3 * v) / Math.sqrt(1 + 1e-5) - 1),
    );
  });

  it('batch mode while training: biased variance to normalise, unbiased into the running variance (momentum 0.1)', () => {
    const r = batchNorm(
      x(),
      { movingMean: tf.tensor1d([0]), movingVariance: tf.tensor1d([1]) },
      { mode: 'batch', training: true },
    );
    const s = Math.sqrt(1.25 + 1e-5); // mean 2.5, biased variance 1.25
    expectClose(r.y, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]);
    expectClose(r.newMovingMean!, [0.25]);
    expectClose(r.newMovingVariance!, [0.9 + 0.1 * (5 / 3)]); // unbiased 1.25·4/3
  });

  it('batch mode in inference uses the stored statistics', () => {
    const r = batchNorm(x(), stats(), { mode: 'batch', training: false });
    expectClose(
      r.y,
      [0, 1, 2, 3].map((v) => v / Math.sqrt(4 + 1e-5)),
    );
  });

  it('batch-statistics gradients (x, γ, β) match finite differences at an odd size', () => {
    const st = { movingMean: tf.zeros([3]) as tf.Tensor1D, movingVariance: tf.ones([3]) as tf.Tensor1D };
    gradCheck(
      (xx, g, b) =>
        batchNorm(
          xx!,
          { ...st, gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D },
          { mode: 'batch', training: true },
        ).y,
      [seededTensor([2, 3, 5, 3], 1, 2), tf.tensor1d([1.5, 0.5, -1]), tf.tensor1d([0.1, 0.2, 0.3])],
      { eps: 1e-2, rtol: 3e-2, atol: 3e-3 },
    );
  });

  it('names the parameter whose shape does not match the channels', () => {
    expect(() =>
      batchNorm(
        x(),
        { movingMean: tf.zeros([2]) as tf.Tensor1D, movingVariance: tf.ones([1]) as tf.Tensor1D },
        { mode: 'frozen', training: false },
      ),
    ).toThrow(/movingMean must have shape \[1\] to match x's 1 channels, got \[2\]/);
  });

  /**
   * The fused kernels (value and gradients w.r.t. x, γ, β) against autodiff of the plain formula, with the batch
   * statistics (mode batch) or stored ones (frozenStats), on an odd-sized input with C channels.
   */
  function expectMatchesPlain(mode: 'batch' | 'frozenStats', C: number, relu = false): void {
    const x = seededTensor([3, 5, 7, C], 21 + C, 3);
    const g = tf.tensor1d([1.5, -0.5, 2, 0.7, 1.1, -1.3, 0.4, 0.9].slice(0, C));
    const b = tf.tensor1d([0.1, 0.2, -0.3, 0, 0.5, -0.1, 0.3, 0.2].slice(0, C));
    const st = {
      movingMean: tf.tensor1d([0.3, -1, 2, 0.5, 0, 1, -0.5, 0.2].slice(0, C)),
      movingVariance: tf.tensor1d([0.5, 2, 1.5, 4, 1, 0.8, 3, 1.2].slice(0, C)),
    };
    const w = seededTensor([3, 5, 7, C], 22);
    const fused = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const p = { ...st, gamma: gg as tf.Tensor1D, beta: bb as tf.Tensor1D };
      return tf.sum(tf.mul(batchNorm(xx, p, { mode, training: true, relu }).y, w));
    };
    const plain = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const { mean, variance } =
        mode === 'batch' ? tf.moments(xx, [0, 1, 2]) : { mean: st.movingMean, variance: st.movingVariance };
      const y = tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5))), gg), bb);
      return tf.sum(tf.mul(relu ? tf.relu(y) : y, w));
    };
    expectClose(fused(x, g, b), plain(x, g, b), { atol: 1e-3, what: 'value' });
    const a = tf.grads(fused)([x, g, b]);
    const e = tf.grads(plain)([x, g, b]);
    for (const [i, t] of a.entries()) {
      expectClose(t, e[i]!, { atol: 1e-4, rtol: 1e-3, what: ['dx', 'dgamma', 'dbeta'][i] });
    }
  }

  // 4 and 8 channels run the kernels' four-channels-at-a-time loops, 3 and 6 the one-channel loops
  it.each([4, 3, 8, 6])(
    'batch statistics: the fused kernel and its gradient equal autodiff of the plain formula, %i channels',
    (C) => expectMatchesPlain('batch', C),
  );

  it.each([4, 3])(
    'stored statistics (frozenStats, training): value and gradients equal autodiff of the plain formula, %i channels',
    (C) => expectMatchesPlain('frozenStats', C),
  );

  it.each([
    ['batch', 4],
    ['batch', 3],
    ['frozenStats', 8],
    ['frozenStats', 3],
  ] as const)(
    'relu: %s, %i channels: max(0, BN(x)) and its gradient equal autodiff of relu(plain BN)',
    (mode, C) => expectMatchesPlain(mode, C, true),
  );

  it('relu in inference: zero exactly where BN(x) < 0, BN(x) elsewhere', () => {
    const r = batchNorm(x(), stats(), { mode: 'batch', training: false, relu: true });
    expectClose(
      r.y,
      [0, 1, 2, 3].map((v) => v / Math.sqrt(4 + 1e-5)),
    );
    const neg = batchNorm(tf.neg(x()), stats(), { mode: 'frozen', training: false, relu: true });
    expect(Array.from(neg.y.dataSync())).toEqual([0, 0, 0, 0]);
  });

  it('batch statistics keep their precision for a channel with a large mean (1e4 ± 0.01)', () => {
    const noise = seededTensor([4, 9, 11, 2], 31, 0.01);
    const x = tf.add(noise, tf.tensor1d([1e4, -3e3]));
    const v = x.dataSync();
    // float64 two-pass reference on the same float32 values
    const ref = [0, 1].map((k) => {
      const vals = Array.from(v).filter((_, i) => i % 2 === k);
      const mu = vals.reduce((a, b) => a + b, 0) / vals.length;
      return vals.reduce((a, b) => a + (b - mu) ** 2, 0) / vals.length;
    });
    const r = batchNorm(
      x,
      { movingMean: tf.zeros([2]) as tf.Tensor1D, movingVariance: tf.zeros([2]) as tf.Tensor1D },
      { mode: 'batch', training: true, momentum: 1 },
    );
    const n = v.length / 2;
    // momentum 1: the running variance is the batch variance, unbiased
    expectClose(
      r.newMovingVariance!,
      ref.map((x) => (x * n) / (n - 1)),
      { rtol: 1e-4, atol: 0 },
    );
    expect(ref[0]).toBeGreaterThan(1e-5);
  });
});
