import { describe, expect, it } from 'vitest';
import { DenseCRF2D } from './denseCrf2d.js';
import { labelsMajorToNhwc, nhwcToLabelsMajor } from './layout.js';
import { DSRG_CRF, dsrgCrf, WS_FCN_CRF, wsFcnCrf } from './recipes.js';
import { runCrfTask } from './tasks.js';
import { seededUniform, twoRegionScene } from './testing/exactFilter.js';
import { unaryFromProbabilities } from './unary.js';

const W = 16;
const H = 12;
const n = W * H;

/** Foreground scores (NHWC, C = 5): class 2 (label 3) on the right half, noise elsewhere. */
function fgScene(): { rgb: Uint8Array; fg: Float32Array; truth: Int32Array } {
  const scene = twoRegionScene(W, H, 2, { flip: 0.1, seed: 5 });
  const C = 5;
  const u = seededUniform(n * C, 3);
  const fg = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    const p = scene.probs[n + i]!; // label 1 of the scene → class index 2 (label 3)
    fg[i * C + 2] = p > 0.5 ? p : 0.1 * p;
    fg[i * C + 4] = 0.05 * u[i * C + 4]!; // a faint class (label 5)
  }
  const truth = scene.truth.map((t) => (t === 1 ? 3 : 0));
  return { rgb: scene.rgb, fg, truth };
}

describe('wsFcnCrf (spec §4.9)', () => {
  it('is the pydensecrf recipe: bg = (1 − max fg)^5, unary −log(clip 1e-5), θ 3/3 and 30/13/10, 10 iterations', () => {
    const { rgb, fg } = fgScene();
    const C = 5;
    const L = C + 1;
    const res = wsFcnCrf({ data: rgb, width: W, height: H }, fg, [3, 5]);
    // The same by hand with the class API.
    const probs = new Float32Array(n * L);
    for (let i = 0; i < n; i++) {
      let m = 0;
      for (const c of [2, 4]) m = Math.max(m, fg[i * C + c]!);
      probs[i * L] = (1 - m) ** 5;
      for (let c = 0; c < C; c++) probs[i * L + 1 + c] = fg[i * C + c]!;
    }
    const q = new DenseCRF2D(W, H, L)
      .setUnaryEnergy(unaryFromProbabilities(probs, { clip: 1e-5 }), { layout: 'nhwc' })
      .setActiveLabels([0, 3, 5])
      .addPairwiseGaussian({ sxy: 3, compat: 3 })
      .addPairwiseBilateral({ sxy: 30, srgb: 13, rgbim: rgb, compat: 10 })
      .inference(10, { layout: 'nhwc' });
    expect(res.probs).toEqual(q);
    expect(res.activeLabels).toEqual([0, 3, 5]);
    expect(WS_FCN_CRF).toMatchObject({
      iterations: 10,
      bgPower: 5,
      bilateral: { sxy: 30, srgb: 13, compat: 10 },
    });
  });

  it('segments the scene; without presentClasses picks the labels automatically', () => {
    const { rgb, fg, truth } = fgScene();
    const res = wsFcnCrf({ data: rgb, width: W, height: H }, fg);
    expect(res.activeLabels).toEqual([0, 3, 5]); // the faint class reaches 1e-4 somewhere; absent ones do not
    let wrong = 0;
    let wrongBefore = 0;
    for (let i = 0; i < n; i++) {
      if (res.labels[i] !== truth[i]) wrong++;
      const fgWins = fg[i * 5 + 2]! > (1 - fg[i * 5 + 2]!) ** 5;
      if ((fgWins ? 3 : 0) !== truth[i]) wrongBefore++;
    }
    expect(wrongBefore).toBeGreaterThan(10);
    expect(wrong).toBe(0);
    const lm = wsFcnCrf({ data: rgb, width: W, height: H }, nhwcToLabelsMajor(fg, n, 5), undefined, {
      layout: 'labels-major',
    });
    expect(labelsMajorToNhwc(lm.probs, n, 6)).toEqual(res.probs);
  });

  it('with no present classes everything is background', () => {
    const { rgb, fg } = fgScene();
    const res = wsFcnCrf({ data: rgb, width: W, height: H }, fg, []);
    expect(res.activeLabels).toEqual([0]);
    expect(Array.from(new Set(res.labels))).toEqual([0]);
    for (let i = 0; i < n; i++) expect(res.probs[i * 6]).toBe(1);
  });

  it('rejects fgProbs of the wrong length and out-of-range classes', () => {
    const img = { data: new Uint8Array(n * 3), width: W, height: H };
    expect(() => wsFcnCrf(img, new Float32Array(n * 5 + 1))).toThrow(
      /fgProbs must be a Float32Array of H·W·C = 12·16·C values, got length 961/,
    );
    expect(() => wsFcnCrf(img, new Float32Array(n * 5), [6])).toThrow(
      /presentClasses entries must be label indices in \[0, 5\], got 6/,
    );
    expect(() => wsFcnCrf({ ...img, width: 0 }, new Float32Array(n))).toThrow(
      /image.width must be an integer ≥ 1/,
    );
  });
});

describe('dsrgCrf (spec §6.3)', () => {
  it('unary −max(P, 1e-4), θ 80/12, 13, 10 and 3/12, 3; output clipped at 1e-4 and renormalised', () => {
    const L = 4;
    const scene = twoRegionScene(W, H, L, { flip: 0.1, seed: 8 });
    const probs = labelsMajorToNhwc(scene.probs, n, L);
    probs[0] = 0; // clipped to 1e-4
    const res = dsrgCrf({ data: scene.rgb, width: W, height: H }, probs);
    const unary = probs.map((p) => -Math.max(p, 1e-4));
    const q = new DenseCRF2D(W, H, L)
      .setUnaryEnergy(unary, { layout: 'nhwc' })
      .setActiveLabels('all')
      .addPairwiseGaussian({ sxy: 3 / 12, compat: 3 })
      .addPairwiseBilateral({ sxy: 80 / 12, srgb: 13, rgbim: scene.rgb, compat: 10 })
      .inference(10, { layout: 'nhwc' });
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let l = 0; l < L; l++) s += Math.max(q[i * L + l]!, 1e-4);
      for (let l = 0; l < L; l++) {
        expect(res.probs[i * L + l]).toBeCloseTo(Math.max(q[i * L + l]!, 1e-4) / s, 6);
        expect(res.probs[i * L + l]).toBeGreaterThanOrEqual(1e-4 / s - 1e-9);
      }
    }
    expect(res.activeLabels).toEqual([0, 1, 2, 3]);
    expect(DSRG_CRF.scaleFactor).toBe(12);
  });
});

describe('runCrfTask', () => {
  it('dispatches on the recipe and names a bad one', () => {
    const { rgb, fg } = fgScene();
    const image = { data: rgb, width: W, height: H };
    expect(runCrfTask({ recipe: 'ws-fcn', image, fgProbs: fg, presentClasses: [3] })).toEqual(
      wsFcnCrf(image, fg, [3]),
    );
    expect(() => runCrfTask({ recipe: 'sec' } as never)).toThrow(
      /task.recipe must be 'ws-fcn', 'dsrg' or 'custom', got sec/,
    );
  });
});
