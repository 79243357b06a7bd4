import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  expectClose,
  expectNoTensorGrowth,
  gradCheck,
  saveLoadRoundTrip,
  seededTensor,
  seedWeights,
  TEST_BACKENDS,
  useBackend,
} from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { FickleSelection, fickleExpandedMask, fickleSelection } from './selection.js';

/** The paper's formulation, literally: build the expanded map, mask it, stride-s conv. An independent reference. */
function naiveExpanded(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  bias: tf.Tensor1D,
  mask: tf.Tensor4D,
  rate: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const s = kernel.shape[0];
    const r = (s - 1) / 2;
    const xv = x.arraySync();
    const mv = mask.arraySync();
    const e = new Float32Array(n * s * h * s * w * c);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let dy = 0; dy < s; dy++)
            for (let dx = 0; dx < s; dx++)
              for (let k = 0; k < c; k++) {
                const yi = i + dy - r;
                const xj = j + dx - r;
                const v = yi >= 0 && yi < h && xj >= 0 && xj < w ? xv[b]![yi]![xj]![k]! : 0;
                const centre = dy === r && dx === r;
                const keep = centre ? 1 : mv[b]![i * s + dy]![j * s + dx]![k]! / (1 - rate);
                e[((b * s * h + i * s + dy) * s * w + j * s + dx) * c + k] = v * keep;
              }
    const big = tf.tensor4d(e, [n, s * h, s * w, c]);
    return tf.add(tf.conv2d(big, kernel, s, 'valid'), bias) as tf.Tensor4D;
  });
}

describe.each(TEST_BACKENDS)('FickleSelection on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  const params = (s: number, c: number, k: number, seed = 3) => ({
    'classifier/kernel': seededTensor([s, s, c, k], seed, 0.3),
    'classifier/bias': seededTensor([k], seed + 1, 0.1),
  });

  it('equals the expanded-map formulation of the paper for an injected mask (s = 3 and 5, borders included)', () => {
    for (const [s, rate] of [
      [3, 0.5],
      [5, 0.9],
    ] as const) {
      const x = seededTensor([2, 4, 5, 3], 1) as tf.Tensor4D;
      const p = params(s, 3, 2);
      const mask = fickleExpandedMask([2, 4, 5, 3], s, rate, 11);
      const ref = naiveExpanded(
        x,
        p['classifier/kernel'] as tf.Tensor4D,
        p['classifier/bias'] as tf.Tensor1D,
        mask,
        rate,
      );
      for (const [impl, groupBytes] of [
        ['sparse', undefined],
        ['sparse', 1], // one offset per group
        ['sparse', 2 * 2 * 4 * 5 * 3 * 4], // two offsets per group
        ['dense', undefined],
      ] as const) {
        const opts = { stochastic: true, rate, impl, groupBytes };
        const { scoreMap, scores } = fickleSelection(x, p, { ...opts, mask });
        expectClose(scoreMap, ref, { atol: 1e-4, rtol: 1e-4, what: impl });
        expectClose(scores, tf.mean(ref, [1, 2]), { atol: 1e-4 });
        // the same seed without an injected mask draws the very same mask
        const drawn = fickleSelection(x, p, { ...opts, seed: 11 });
        expectClose(drawn.scoreMap, ref, { atol: 1e-4, rtol: 1e-4, what: impl });
      }
    }
  });

  it('with p = 0 (and when not stochastic) equals an s×s convolution with padding ⌊s/2⌋', () => {
    const x = seededTensor([1, 6, 7, 4], 2) as tf.Tensor4D;
    const p = params(5, 4, 3);
    const ref = tf.add(
      tf.conv2d(
        tf.pad(x, [
          [0, 0],
          [2, 2],
          [2, 2],
          [0, 0],
        ]),
        p['classifier/kernel'] as tf.Tensor4D,
        1,
        'valid',
      ),
      p['classifier/bias']!,
    );
    const ones = tf.ones([1, 30, 35, 4]) as tf.Tensor4D;
    expectClose(fickleSelection(x, p, { stochastic: true, rate: 0, mask: ones }).scoreMap, ref, {
      atol: 1e-4,
    });
    expectClose(fickleSelection(x, p, { stochastic: true, rate: 0 }).scoreMap, ref, { atol: 1e-4 });
    expectClose(fickleSelection(x, p, { stochastic: false, rate: 0.9 }).scoreMap, ref, { atol: 1e-4 });
  });

  it('never drops (nor scales) tile centres; drops other units with frequency ≈ p, keeping them ×1/(1−p)', () => {
    const s = 9;
    const c = 64;
    const x = tf.ones([1, 12, 12, c]) as tf.Tensor4D;
    // only the centre tap: the output must be the plain 1×1 conv whatever the draw
    const centre = tf.buffer([s, s, c, 1]);
    for (let k = 0; k < c; k++) centre.set(1, 4, 4, k, 0);
    const pc = { 'classifier/kernel': centre.toTensor() };
    for (const seed of [1, 2, 3]) {
      const m = fickleSelection(x, pc, { stochastic: true, rate: 0.9, seed }).scoreMap;
      expectClose(m, tf.fill([1, 12, 12, 1], c), { atol: 1e-4 });
    }
    // only tap (0,0), offset (−4,−4): S(u) = Σ_c m(u,c)/(1−p) for u with a valid neighbour (8·8 positions)
    const corner = tf.buffer([s, s, c, 1]);
    for (let k = 0; k < c; k++) corner.set(1, 0, 0, k, 0);
    const m = fickleSelection(
      x,
      { 'classifier/kernel': corner.toTensor() },
      { stochastic: true, rate: 0.9, seed: 5 },
    ).scoreMap;
    const v = m.dataSync();
    let kept = 0;
    for (let i = 4; i < 12; i++) for (let j = 4; j < 12; j++) kept += v[i * 12 + j]! / 10; // ×(1−p) = count
    for (let i = 0; i < 4; i++) expect(v[i * 12 + 7]).toBe(0); // window reads padding only
    const frac = 1 - kept / (64 * c);
    expect(Math.abs(frac - 0.9)).toBeLessThan(0.015); // 4096 draws: σ ≈ 0.0047
    expect(Math.abs(kept - Math.round(kept))).toBeLessThan(1e-2); // integer counts: kept units are exactly ×10
    // the materialised mask agrees: centres 1, elsewhere ≈ 1 − p
    const mask = fickleExpandedMask([1, 6, 6, 8], s, 0.9, 7).dataSync();
    let ones = 0;
    let total = 0;
    for (let i = 0; i < 54; i++)
      for (let j = 0; j < 54; j++)
        for (let k = 0; k < 8; k++) {
          const val = mask[(i * 54 + j) * 8 + k]!;
          if (i % 9 === 4 && j % 9 === 4) expect(val).toBe(1);
          else {
            total++;
            ones += val;
          }
        }
    expect(Math.abs(1 - ones / total - 0.9)).toBeLessThan(0.01);
  });

  it('gradients w.r.t. x and the kernel match finite differences (fixed injected mask, and seeded draw)', () => {
    const s = 3;
    const x = seededTensor([1, 4, 3, 2], 4) as tf.Tensor4D;
    const k = seededTensor([s, s, 2, 2], 5);
    const b = seededTensor([2], 6, 0.1);
    const mask = fickleExpandedMask([1, 4, 3, 2], s, 0.5, 3);
    for (const [impl, groupBytes] of [
      ['sparse', undefined],
      ['sparse', 3 * 4 * 3 * 2 * 4], // three offsets per group
      ['dense', undefined],
    ] as const) {
      const opts = { stochastic: true, impl, groupBytes };
      const f = (xx: tf.Tensor, kk: tf.Tensor) =>
        fickleSelection(
          xx as tf.Tensor4D,
          { 'classifier/kernel': kk, 'classifier/bias': b },
          { ...opts, rate: 0.5, mask },
        ).scoreMap;
      gradCheck(f, [x, k], { maxElements: 24 });
      const g = (xx: tf.Tensor, kk: tf.Tensor) =>
        fickleSelection(xx as tf.Tensor4D, { 'classifier/kernel': kk }, { ...opts, rate: 0.7, seed: 9 })
          .scores;
      gradCheck(g, [x, seededTensor([5, 5, 2, 2], 8)], { maxElements: 24 });
    }
  });

  it('is a layer: exact computeOutputShape, save/load round trip, trains without tensor growth', async () => {
    const name = `fickle_${backend}`;
    const inp = tfl.input({ shape: [5, 6, 4] });
    const layer = new FickleSelection({ name, numClasses: 3, kernelSize: 5, returnScoreMap: true });
    const [scores, map] = layer.apply(inp) as tfl.SymbolicTensor[];
    expect(scores!.shape).toEqual([null, 3]);
    expect(map!.shape).toEqual([null, 5, 6, 3]);
    expect(layer.computeOutputShape([null, 5, 6, 4])).toEqual([
      [null, 3],
      [null, 5, 6, 3],
    ]);
    expect(new FickleSelection({ numClasses: 7 }).computeOutputShape([2, 9, 9, 16])).toEqual([2, 7]);
    const model = tfl.model({ inputs: inp, outputs: [scores!, map!] });
    seedWeights(layer, 2);
    const x = seededTensor([2, 5, 6, 4], 3);
    const y = model.predict(x) as tf.Tensor[];
    const { loaded } = await saveLoadRoundTrip(model);
    const y2 = loaded.predict(x) as tf.Tensor[];
    expectClose(y2[0]!, y[0]!, { atol: 0, rtol: 0 });
    expectClose(y2[1]!, y[1]!, { atol: 0, rtol: 0 });
    const back = loaded.getLayer(name) as FickleSelection;
    expect(back).toBeInstanceOf(FickleSelection);
    expect(back.options).toEqual({ numClasses: 3, kernelSize: 5, rate: 0.9, returnScoreMap: true });
    // random only when training or asked: two eval calls agree, two stochastic ones differ
    const a = layer.apply(x) as tf.Tensor[];
    expectClose(a[0]!, y[0]!, { atol: 1e-6 });
    const r1 = (layer.apply(x, { stochastic: true }) as tf.Tensor[])[0]!.dataSync();
    const r2 = (layer.apply(x, { training: true }) as tf.Tensor[])[0]!.dataSync();
    expect(Array.from(r1)).not.toEqual(Array.from(r2));

    const plain = new FickleSelection({ numClasses: 2, kernelSize: 3 });
    const xs = seededTensor([2, 4, 4, 3], 8);
    plain.apply(xs);
    const opt = tf.train.sgd(0.01);
    const labels = tf.tensor2d([1, 0, 0, 1], [2, 2]);
    await expectNoTensorGrowth(() =>
      tf.dispose(
        opt.minimize(
          () =>
            tf.losses.sigmoidCrossEntropy(
              labels,
              plain.apply(xs, { training: true }) as tf.Tensor,
            ) as tf.Scalar,
          true,
        ) ?? undefined,
      ),
    );
    expect(() => new FickleSelection({ kernelSize: 4 })).toThrow(/kernelSize must be an odd/);
    expect(() => new FickleSelection({ rate: 1 })).toThrow(/rate must be in \[0, 1\)/);
    expect(() => new FickleSelection({ window: 3 } as never)).toThrow(/unknown option 'window'/);
  });
});
