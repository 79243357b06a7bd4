import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  expectClose,
  expectNoTensorGrowth,
  seededTensor,
  TEST_BACKENDS,
  useBackend,
} from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  autodiffGradCamWeights,
  drawSelectionSums,
  localize,
  seedsFromMaps,
  selectionGradCamWeights,
} from './localize.js';
import { FickleSelection, fickleExpandedMask } from './selection.js';

/** Σ_u g_o(u,k) of an expanded mask (1, s·h, s·w, C), over the u whose window offset o stays inside. */
function sumsOfMask(mask: tf.Tensor4D, s: number, h: number, w: number, rate: number): tf.Tensor3D {
  const c = mask.shape[3];
  const r = (s - 1) / 2;
  const m = mask.dataSync();
  const out = new Float32Array(s * s * c);
  for (let dy = 0; dy < s; dy++)
    for (let dx = 0; dx < s; dx++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          const yi = i + dy - r;
          const xj = j + dx - r;
          if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
          for (let k = 0; k < c; k++) {
            const centre = dy === r && dx === r;
            const g = centre ? 1 : m[((i * s + dy) * s * w + j * s + dx) * c + k]! / (1 - rate);
            out[(dy * s + dx) * c + k] = out[(dy * s + dx) * c + k]! + g;
          }
        }
  return tf.tensor3d(out, [1, s * s, c]);
}

/**
 * A hand-made classifier: an 8×8 feature map whose channel c is bright on class c's region, and a selection whose
 * class c reads only channel c (every tap). Every run's Grad-CAM of class c is then exactly channel c / its max.
 */
function handMade(): { x: tf.Tensor4D; selection: FickleSelection } {
  const h = 8;
  const x = tf.buffer([1, h, h, 2]);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) x.set(1, 0, i, j, 0); // class 0: top-left 3×3
  for (let i = 5; i < 8; i++) for (let j = 5; j < 8; j++) x.set(1, 0, i, j, 1); // class 1: bottom-right 3×3
  x.set(0.7, 0, 4, 4, 0); // a pixel where both are present: class 1 higher
  x.set(0.9, 0, 4, 4, 1);
  x.set(0.3, 0, 0, 7, 0); // a weak pixel (0.1 ≤ 0.3 ≤ 0.5): unlabelled
  const selection = new FickleSelection({ numClasses: 2, kernelSize: 3, rate: 0.9 });
  selection.build([null, h, h, 2]);
  const k = tf.buffer([3, 3, 2, 2]);
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 2; c++) k.set(1, a, b, c, c);
  selection.setWeights([k.toTensor(), tf.zeros([2])]);
  return { x: x.toTensor() as tf.Tensor4D, selection };
}

describe.each(TEST_BACKENDS)('FickleNet localization on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('the analytic Grad-CAM weights equal autodiff through the layer on the same (injected) mask', () => {
    const s = 5;
    const [h, w, c] = [5, 6, 3];
    const x = seededTensor([1, h, w, c], 1) as tf.Tensor4D;
    const params = {
      'classifier/kernel': seededTensor([s, s, c, 4], 2),
      'classifier/bias': seededTensor([4], 3),
    };
    for (const seed of [1, 2]) {
      const mask = fickleExpandedMask([1, h, w, c], s, 0.7, seed);
      const auto = autodiffGradCamWeights(x, params, [0, 2, 3], { rate: 0.7, mask });
      const ana = selectionGradCamWeights(
        params['classifier/kernel'] as tf.Tensor4D,
        [0, 2, 3],
        sumsOfMask(mask, s, h, w, 0.7),
        h,
        w,
      );
      expectClose(ana, tf.expandDims(auto, 0), { atol: 1e-6, rtol: 1e-4 });
    }
  });

  it('drawn sums have the right distribution: centre exact, elsewhere mean n_o and multiples of 1/(1−p)', () => {
    const [s, h, w, c, runs] = [3, 4, 5, 50, 40];
    const sums = drawSelectionSums(runs, s, h, w, c, 0.9, 7);
    let corner = 0;
    for (let r = 0; r < runs; r++)
      for (let k = 0; k < c; k++) {
        expect(sums[(r * 9 + 4) * c + k]).toBe(20); // centre: all h·w positions, unscaled
        const v = sums[(r * 9 + 0) * c + k]!; // offset (−1,−1): n_o = 3·4 = 12
        expect(Math.abs(v / 10 - Math.round(v / 10))).toBeLessThan(1e-4);
        corner += v;
      }
    expect(Math.abs(corner / (runs * c) - 12)).toBeLessThan(0.8); // σ of the mean ≈ 0.33
  });

  it('finds the known regions of a hand-made classifier; seeds by θ_fg, higher map wins, low-activation bg', () => {
    const { x, selection } = handMade();
    for (const gradient of ['analytic', 'autodiff'] as const) {
      for (const aggregate of ['max', 'mean'] as const) {
        const runs = gradient === 'autodiff' ? 3 : 20;
        const { maps, seeds } = localize({ featureExtractor: (im) => im, selection }, x, [[0, 1]], {
          runs,
          gradient,
          aggregate,
          seed: 4,
        });
        expectClose(maps, x, { atol: 1e-5 });
        const sd = seeds.dataSync();
        expect(sd[0]).toBe(1); // class 0 → index 1
        expect(sd[7 * 8 + 7]).toBe(2);
        expect(sd[4 * 8 + 4]).toBe(2); // 0.9 beats 0.7
        expect(sd[0 * 8 + 7]).toBe(255); // 0.3: neither fg nor bg
        expect(sd[3 * 8 + 0]).toBe(0);
      }
    }
    // only class 0 present: class 1's region becomes background, its map is 0
    const one = localize({ featureExtractor: (im) => im, selection }, x, [[0]], { runs: 5 });
    expect(one.seeds.dataSync()[7 * 8 + 7]).toBe(0);
    expect(one.maps.dataSync()[(7 * 8 + 7) * 2 + 1]).toBe(0);
    // an unbuilt selection is built on first use (Keras style)
    const fresh = new FickleSelection({ numClasses: 3, kernelSize: 3 });
    const lazy = localize({ featureExtractor: (im) => im, selection: fresh }, x, [[1]], { runs: 2 });
    expect(lazy.maps.shape).toEqual([1, 8, 8, 3]);
    expect(fresh.built).toBe(true);
    // a single-class classifier (tf.oneHot would refuse depth 1)
    const single = localize(
      { featureExtractor: (im) => im, selection: new FickleSelection({ numClasses: 1, kernelSize: 3 }) },
      x,
      [[0]],
      { runs: 2 },
    );
    expect(single.maps.shape).toEqual([1, 8, 8, 1]);
  });

  it('works on a LayersModel built with the layer, with saliency-based background, without tensor growth', async () => {
    const { x, selection } = handMade();
    const inp = tfl.input({ shape: [8, 8, 2] });
    const conv = tfl.layers.conv2d({ filters: 2, kernelSize: 1, useBias: false });
    const feats = conv.apply(inp) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: inp, outputs: selection.apply(feats) as tfl.SymbolicTensor });
    conv.setWeights([tf.reshape(tf.eye(2), [1, 1, 2, 2])]);
    const saliency = tf.ones([1, 4, 4]).bufferSync();
    saliency.set(0, 0, 1, 0); // low saliency on rows 2–5 of column 0 after resizing to 8×8
    saliency.set(0, 0, 2, 0);
    const { maps, seeds } = localize(model, x, [[0, 1]], {
      runs: 10,
      saliency: saliency.toTensor() as tf.Tensor3D,
      saliencyThreshold: 0.5,
    });
    expectClose(maps, x, { atol: 1e-5 });
    const sd = seeds.dataSync();
    expect(sd[3 * 8 + 0]).toBe(0); // low saliency → background
    expect(sd[2 * 8 + 0]).toBe(1); // foreground wins over background
    expect(sd[0 * 8 + 5]).toBe(255); // salient, no class → unlabelled
    expect(sd[0]).toBe(1);
    tf.dispose([maps, seeds]);
    await expectNoTensorGrowth(() => {
      const r = localize(model, x, [[0, 1]], { runs: 4, chunk: 3 });
      tf.dispose([r.maps, r.seeds]);
    });
    expect(() => localize(model, x, [[2]])).toThrow(/labels must be class indices in \[0, 2\)/);
    expect(() => seedsFromMaps(maps, [])).toThrow(/labels must list 1 images/);
  });
  it('fgQuantile: each present class seeds its own top fraction, above the floor; absent classes never', () => {
    // one image, 1×10 maps of three classes: class 0 strong (0.5, 0.55, 0.7, 0.75, 0.9, then 0), class 1 weak
    // (0, then 0.15, 0.18, 0.21, 0.24, 0.27), class 2 absent (0.99 everywhere, never seeded)
    const K = 3;
    const m = new Float32Array(10 * K);
    for (let i = 0; i < 10; i++) {
      m[i * K] = i < 5 ? 0.5 + 0.1 * i - 0.05 * (i % 2) : 0;
      m[i * K + 1] = i >= 5 ? 0.03 * (i - 5) + 0.15 : 0;
      m[i * K + 2] = 0.99;
    }
    const maps = tf.tensor4d(m, [1, 1, 10, K]);
    const seeds = (o: Parameters<typeof seedsFromMaps>[2]) =>
      Array.from(seedsFromMaps(maps, [[0, 1]], { thBg: 0.01, ...o }).dataSync());
    // fixed θ_fg 0.5: only class 0's pixels above 0.5; the weak class gets none
    expect(seeds({})).toEqual([255, 1, 1, 1, 1, 255, 255, 255, 255, 255]);
    // q 0.2 of 10 pixels: each class's values above its 8th smallest: class 0's above 0.7 → 0.75, 0.9;
    // class 1's above 0.21 → 0.24, 0.27, both above the floor 0.5·0.2 = 0.1
    expect(seeds({ fgQuantile: 0.2 })).toEqual([255, 255, 255, 1, 1, 255, 255, 255, 2, 2]);
    // a higher floor drops the weak class
    expect(seeds({ fgQuantile: 0.2, fgFloor: 0.6 })).toEqual([255, 255, 255, 1, 1, 255, 255, 255, 255, 255]);
    expect(() => seeds({ fgQuantile: 1.5 })).toThrow(/fgQuantile must be in \(0, 1\], got 1.5/);
    maps.dispose();
  });
  it('fgMinSaliency: a qualifying pixel is foreground only where salient enough; below, background or unlabelled', () => {
    // 1×6: class 0's map 0.9 everywhere but the last pixel (0.05); saliency 0.05, 0.15, 0.25, 0.35, 0.6, 0.02
    const maps = tf.tensor4d([0.9, 0.9, 0.9, 0.9, 0.9, 0.05], [1, 1, 6, 1]);
    const saliency = tf.tensor3d([0.05, 0.15, 0.25, 0.35, 0.6, 0.02], [1, 1, 6]);
    const seeds = (o: Parameters<typeof seedsFromMaps>[2]) =>
      tf.tidy(() =>
        Array.from(seedsFromMaps(maps, [[0]], { saliency, saliencyThreshold: 0.1, ...o }).dataSync()),
      );
    // unset: the map wins everywhere it qualifies (spec §5.3); only the non-qualifying, non-salient pixel is background
    expect(seeds({})).toEqual([1, 1, 1, 1, 1, 0]);
    // at the background threshold: background wins where saliency < 0.1
    expect(seeds({ fgMinSaliency: 0.1 })).toEqual([0, 1, 1, 1, 1, 0]);
    // above it: 0.1 ≤ saliency < 0.3 is neither
    expect(seeds({ fgMinSaliency: 0.3 })).toEqual([0, 255, 255, 1, 1, 0]);
    // without a saliency map the gate has nothing to read: an error, not a silent no-op
    expect(() => seedsFromMaps(maps, [[0]], { fgMinSaliency: 0.3 })).toThrow(
      /fgMinSaliency needs a saliency map/,
    );
    expect(() => seeds({ fgMinSaliency: 1.5 })).toThrow(/fgMinSaliency must be in \[0, 1\], got 1.5/);
    tf.dispose([maps, saliency]);
  });
});
