import { describe, expect, it } from 'vitest';
import { DenseCRF2D } from './denseCrf2d.js';
import { argmaxLabels, labelsMajorToNhwc, nhwcToLabelsMajor } from './layout.js';
import { twoRegionScene } from './testing/exactFilter.js';
import { unaryFromProbabilities } from './unary.js';

function crfFor(W: number, H: number, L: number, rgb: Uint8Array, unary: Float32Array): DenseCRF2D {
  return new DenseCRF2D(W, H, L)
    .setUnaryEnergy(unary)
    .addPairwiseGaussian({ sxy: 3, compat: 3 })
    .addPairwiseBilateral({ sxy: 30, srgb: 13, rgbim: rgb, compat: 10 });
}

describe('DenseCRF2D', () => {
  it('cleans up a noisy two-region image (isolated wrong pixels are fixed)', () => {
    const W = 40;
    const H = 30;
    const scene = twoRegionScene(W, H, 2, { flip: 0.15 });
    const unary = unaryFromProbabilities(scene.probs);
    const before = argmaxLabels(scene.probs, W * H, 2);
    let wrongBefore = 0;
    for (let i = 0; i < W * H; i++) if (before[i] !== scene.truth[i]) wrongBefore++;
    expect(wrongBefore).toBe(scene.flipped.length);
    expect(wrongBefore).toBeGreaterThan(100);
    const labels = crfFor(W, H, 2, scene.rgb, unary).map(10);
    let wrongAfter = 0;
    for (let i = 0; i < W * H; i++) if (labels[i] !== scene.truth[i]) wrongAfter++;
    expect(wrongAfter).toBe(0);
  });

  it('returns normalised probabilities, labels-major by default and NHWC on request', () => {
    const W = 9;
    const H = 7;
    const n = W * H;
    const L = 3;
    const scene = twoRegionScene(W, H, L, { flip: 0.2, seed: 4 });
    const crf = crfFor(W, H, L, scene.rgb, unaryFromProbabilities(scene.probs)).setActiveLabels('all');
    const q = crf.inference(5);
    expect(q.length).toBe(L * n);
    for (let i = 0; i < n; i++) expect(q[i]! + q[n + i]! + q[2 * n + i]!).toBeCloseTo(1, 5);
    expect(crf.inference(5, { layout: 'nhwc' })).toEqual(labelsMajorToNhwc(q, n, L));
    // The same unary given as NHWC gives the same result.
    const crf2 = crfFor(W, H, L, scene.rgb, new Float32Array(L * n)).setActiveLabels('all');
    crf2.setUnaryEnergy(labelsMajorToNhwc(unaryFromProbabilities(scene.probs), n, L), { layout: 'nhwc' });
    expect(crf2.inference(5)).toEqual(q);
    expect(crf.map(5)).toEqual(argmaxLabels(q, n, L));
  });

  it('with 0 iterations returns softmax(−U); without pairwise terms inference is the same', () => {
    const unary = new Float32Array([0, 1, 2, Math.log(3), 0, 0]); // 2 labels × 3 pixels, labels-major
    const q = new DenseCRF2D(3, 1, 2).setActiveLabels('all').setUnaryEnergy(unary).inference(0);
    expect(q[0]).toBeCloseTo(1 / (1 + Math.exp(-Math.log(3))), 6);
    expect(q[1]).toBeCloseTo(Math.exp(-1) / (Math.exp(-1) + 1), 6);
    expect(q[2]).toBeCloseTo(Math.exp(-2) / (Math.exp(-2) + 1), 6);
    const q10 = new DenseCRF2D(3, 1, 2).setActiveLabels('all').setUnaryEnergy(unary).inference(10);
    expect(q10).toEqual(q);
  });

  it('a 1×1 image: the normalised kernel is exactly 1, so Q ← softmax(−U + (w_g + w_b)·Q)', () => {
    const u = [0.3, 1.1, 0.2];
    const crf = new DenseCRF2D(1, 1, 3)
      .setActiveLabels('all')
      .setUnaryEnergy(new Float32Array(u))
      .addPairwiseGaussian({ sxy: 3, compat: 3 })
      .addPairwiseBilateral({ sxy: 30, srgb: 13, rgbim: new Uint8Array([10, 200, 30]), compat: 0.5 });
    const softmax = (x: number[]) => {
      const m = Math.max(...x);
      const e = x.map((v) => Math.exp(v - m));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / z);
    };
    let q = softmax(u.map((v) => -v));
    for (let it = 0; it < 4; it++) q = softmax(u.map((v, l) => -v + 3.5 * q[l]!));
    const got = crf.inference(4);
    for (let l = 0; l < 3; l++) expect(got[l]).toBeCloseTo(q[l]!, 5);
  });

  it('absent labels get probability 0 and cost nothing (same result as a CRF over the present labels)', () => {
    const W = 20;
    const H = 16;
    const n = W * H;
    const scene = twoRegionScene(W, H, 2, { flip: 0.1, seed: 7 });
    // 6 labels; the scene's two labels are 1 and 4, the others have probability 0 (clipped to 1e-5).
    const L = 6;
    const probs = new Float32Array(L * n);
    probs.set(scene.probs.subarray(0, n), 1 * n);
    probs.set(scene.probs.subarray(n, 2 * n), 4 * n);
    const crf = crfFor(W, H, L, scene.rgb, unaryFromProbabilities(probs));
    expect(crf.activeLabels).toEqual([1, 4]);
    const q = crf.inference(10);
    for (const l of [0, 2, 3, 5]) for (let i = 0; i < n; i++) expect(q[l * n + i]).toBe(0);
    const small = crfFor(W, H, 2, scene.rgb, unaryFromProbabilities(scene.probs)).inference(10);
    expect(q.subarray(1 * n, 2 * n)).toEqual(small.subarray(0, n));
    expect(q.subarray(4 * n, 5 * n)).toEqual(small.subarray(n, 2 * n));
    // An explicit list does the same; 'all' runs every label and differs by about the dropped mass only.
    expect(crf.setActiveLabels([4, 1]).inference(10)).toEqual(q);
    const all = crf.setActiveLabels('all').inference(10);
    let maxDiff = 0;
    for (let k = 0; k < q.length; k++) maxDiff = Math.max(maxDiff, Math.abs(all[k]! - q[k]!));
    expect(maxDiff).toBeLessThan(1e-3);
    expect(all[0]).toBeGreaterThan(0);
  });

  it('rejects bad inputs with errors that name the argument and the expected shape', () => {
    expect(() => new DenseCRF2D(0, 5, 2)).toThrow(/width must be an integer ≥ 1, got 0/);
    expect(() => new DenseCRF2D(4, 2.5, 2)).toThrow(/height must be an integer ≥ 1, got 2.5/);
    expect(() => new DenseCRF2D(4, 5, 0)).toThrow(/nLabels must be an integer ≥ 1, got 0/);
    const crf = new DenseCRF2D(4, 5, 3);
    expect(() => crf.setUnaryEnergy(new Float32Array(59))).toThrow(
      /unary must have length nLabels·H·W = 3·5·4 \(labels-major\) = 60, got 59/,
    );
    expect(() => crf.setUnaryEnergy(new Float64Array(60) as unknown as Float32Array)).toThrow(
      /unary must be a Float32Array, got Float64Array/,
    );
    const inf = new Float32Array(60);
    inf[7] = Infinity;
    expect(() => crf.setUnaryEnergy(inf)).toThrow(/unary\[7\] must be finite, got Infinity/);
    expect(() => crf.inference(3)).toThrow(/call setUnaryEnergy before inference/);
    expect(() => crf.addPairwiseGaussian({ sxy: 0, compat: 3 })).toThrow(
      /sxy must be a finite number > 0, got 0/,
    );
    expect(() => crf.addPairwiseGaussian({ sxy: [3, -1], compat: 3 })).toThrow(
      /sxy\[1\] must be a finite number > 0/,
    );
    expect(() => crf.addPairwiseGaussian({ sxy: 3, compat: Number.NaN })).toThrow(
      /compat must be a finite number/,
    );
    const rgb = new Uint8Array(60);
    expect(() => crf.addPairwiseBilateral({ sxy: 30, srgb: -13, rgbim: rgb, compat: 10 })).toThrow(
      /srgb must be a finite number > 0, got -13/,
    );
    expect(() =>
      crf.addPairwiseBilateral({ sxy: 30, srgb: 13, rgbim: new Uint8Array(59), compat: 10 }),
    ).toThrow(/rgbim must have length H·W·3 = 5·4·3 \(RGB, HWC; or H·W·4 RGBA\) = 60, got 59/);
    expect(() =>
      crf.addPairwiseBilateral({
        sxy: 30,
        srgb: 13,
        rgbim: new Float32Array(60) as unknown as Uint8Array,
        compat: 10,
      }),
    ).toThrow(/rgbim must be a Uint8Array or Uint8ClampedArray, got Float32Array/);
    expect(() => crf.setActiveLabels([0, 3])).toThrow(
      /activeLabels entries must be integers in \[0, 2\], got 3/,
    );
    crf.setUnaryEnergy(new Float32Array(60));
    expect(() => crf.inference(-1)).toThrow(/nIterations must be an integer ≥ 0, got -1/);
    expect(() => crf.inference(2, { layout: 'nchw' as never })).toThrow(
      /layout must be 'labels-major' or 'nhwc'/,
    );
    expect(() => unaryFromProbabilities(new Float32Array(4), { clip: 0 })).toThrow(
      /clip must be a number in \(0, 1\]/,
    );
    expect(() => nhwcToLabelsMajor(new Float32Array(5), 2, 3)).toThrow(
      /nhwc must have length nPixels·nLabels = 2·3 = 6, got 5/,
    );
  });

  it('accepts RGBA images (ImageData) and gives the same result as RGB', () => {
    const W = 10;
    const H = 8;
    const n = W * H;
    const scene = twoRegionScene(W, H, 2, { seed: 9 });
    const rgba = new Uint8ClampedArray(n * 4);
    for (let i = 0; i < n; i++) {
      rgba.set(scene.rgb.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = 255;
    }
    const unary = unaryFromProbabilities(scene.probs);
    const a = crfFor(W, H, 2, scene.rgb, unary).inference(5);
    const b = new DenseCRF2D(W, H, 2)
      .setUnaryEnergy(unary)
      .addPairwiseGaussian({ sxy: 3, compat: 3 })
      .addPairwiseBilateral({ sxy: 30, srgb: 13, rgbim: rgba, compat: 10 })
      .inference(5);
    expect(b).toEqual(a);
  });
});

describe('layout converters', () => {
  it('round-trip NHWC ↔ labels-major', () => {
    const nhwc = Float32Array.from({ length: 12 }, (_, k) => k); // 4 pixels × 3 labels
    const lm = nhwcToLabelsMajor(nhwc, 4, 3);
    expect(Array.from(lm)).toEqual([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    expect(labelsMajorToNhwc(lm, 4, 3)).toEqual(nhwc);
    expect(Array.from(argmaxLabels(nhwc, 4, 3, 'nhwc'))).toEqual([2, 2, 2, 2]);
  });

  it('unaryFromProbabilities is −log(clip(p, clip, 1))', () => {
    const u = unaryFromProbabilities(new Float32Array([0, 1e-6, 0.5, 1, 2]));
    expect(u[0]).toBeCloseTo(-Math.log(1e-5), 5);
    expect(u[1]).toBeCloseTo(-Math.log(1e-5), 5);
    expect(u[2]).toBeCloseTo(Math.log(2), 6);
    expect(u[3]).toBe(0);
    expect(u[4]).toBe(0);
  });
});
