import type { ActiveLabels } from './denseCrf2d.js';
import { DenseCRF2D } from './denseCrf2d.js';
import type { Layout } from './layout.js';
import { argmaxLabels, transpose } from './layout.js';
import { unaryFromProbabilities } from './unary.js';
import { assertArray, assertInteger } from './validate.js';

/** An 8-bit interleaved image in raster order: RGB (`data.length = H·W·3`) or RGBA (`H·W·4`, e.g. `ImageData`). */
export interface CrfImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/** Kernel and iteration settings of a dense CRF. */
export interface CrfSettings {
  /** Mean-field iterations. */
  iterations: number;
  /** Appearance-free kernel (θγ in pixels, weight). */
  gaussian?: { sxy: number; compat: number };
  /** Bilateral kernel (θα in pixels, θβ in 0–255 colour units, weight). */
  bilateral?: { sxy: number; srgb: number; compat: number };
}

/** A CRF result for one image. */
export interface CrfResult {
  /** Marginals, `nLabels·H·W`, in the layout asked for (recipes: NHWC by default). */
  probs: Float32Array;
  /** Most probable label per pixel (raster order). */
  labels: Int32Array;
  /** The labels inference ran over; the others have probability 0. */
  activeLabels: number[];
}

/**
 * WS-FCN's post-processing CRF (spec §4.9, `_crf_with_alpha` with α = 5 → `crf_inference`, t = 10):
 * bilateral θα = 30 px, θβ = 13, w = 10; Gaussian θγ = 3 px, w = 3; unary −log(clip(p, 1e-5, 1)) of the
 * un-normalised map [bg, fg…] with bg = (1 − max_c fg_c)^5.
 */
export const WS_FCN_CRF = {
  iterations: 10,
  gaussian: { sxy: 3, compat: 3 },
  bilateral: { sxy: 30, srgb: 13, compat: 10 },
  bgPower: 5,
  clip: 1e-5,
} as const;

/** SSSS's CRF (spec §3.11 item 7): as WS-FCN but bilateral θα = 80 px (background computed by the caller). */
export const SSSS_CRF = {
  iterations: 10,
  gaussian: { sxy: 3, compat: 3 },
  bilateral: { sxy: 80, srgb: 13, compat: 10 },
  clip: 1e-5,
} as const;

/**
 * DSRG's training-time CRF (spec §6.3 step 2, scale factor 12 on the 41×41 score map): unary −P with P clipped
 * at 1e-4; bilateral θα = 80/12 px, θβ = 13, w = 10; Gaussian θγ = 3/12 px, w = 3; 10 iterations; result
 * clipped at 1e-4 and renormalised.
 */
export const DSRG_CRF = {
  iterations: 10,
  scaleFactor: 12,
  gaussian: { sxy: 3 / 12, compat: 3 },
  bilateral: { sxy: 80 / 12, srgb: 13, compat: 10 },
  minProb: 1e-4,
} as const;

/** Options shared by the recipes. */
export interface RecipeOptions {
  /** Layout of the probability input and output; default `'nhwc'` (H·W·C, class fastest). */
  layout?: Layout;
  /** Override the number of mean-field iterations. */
  iterations?: number;
}

function checkImage(image: CrfImage): void {
  if (typeof image !== 'object' || image === null) {
    throw new TypeError(`image must be an object { data, width, height }, got ${String(image)}`);
  }
  assertInteger('image.width', image.width, 1);
  assertInteger('image.height', image.height, 1);
}

function layoutOf(options: RecipeOptions): Layout {
  const layout = options.layout ?? 'nhwc';
  if (layout !== 'nhwc' && layout !== 'labels-major') {
    throw new RangeError(`layout must be 'labels-major' or 'nhwc', got ${String(layout)}`);
  }
  return layout;
}

/** Builds a CRF with the given settings, runs it and packs the result. */
export function runCrf(
  image: CrfImage,
  unary: Float32Array,
  nLabels: number,
  settings: CrfSettings,
  active: ActiveLabels,
  layout: Layout,
): CrfResult {
  checkImage(image);
  const crf = new DenseCRF2D(image.width, image.height, nLabels);
  crf.setUnaryEnergy(unary, { layout });
  crf.setActiveLabels(active);
  if (settings.gaussian) crf.addPairwiseGaussian(settings.gaussian);
  if (settings.bilateral) crf.addPairwiseBilateral({ ...settings.bilateral, rgbim: image.data });
  const activeLabels = crf.activeLabels;
  const probs = crf.inference(settings.iterations, { layout });
  return { probs, labels: argmaxLabels(probs, crf.nPixels, nLabels, layout), activeLabels };
}

/**
 * WS-FCN's CRF post-processing (spec §4.9) for one image.
 *
 * @param image the original image, 8-bit RGB or RGBA, H×W.
 * @param fgProbs merged foreground class scores `v`, H·W·C (NHWC, class fastest; C = 20 for VOC), label-cleaned
 *   (absent classes zero) or not: with `presentClasses` only the present classes count.
 * @param presentClasses the image's classes as label indices of the full set (1…C; background 0 is always
 *   included). Inference runs over background + these only; absent labels get probability 0. Without it the
 *   labels are chosen by {@link ActiveLabels} `'auto'` (probability ≥ 1e-4 somewhere).
 * @returns probabilities over the C+1 labels [bg, fg…] (NHWC unless `layout`) and the argmax labels.
 */
export function wsFcnCrf(
  image: CrfImage,
  fgProbs: Float32Array,
  presentClasses?: readonly number[],
  options: RecipeOptions = {},
): CrfResult {
  checkImage(image);
  const layout = layoutOf(options);
  const n = image.width * image.height;
  if (!(fgProbs instanceof Float32Array) || fgProbs.length === 0 || fgProbs.length % n !== 0) {
    throw new RangeError(
      `fgProbs must be a Float32Array of H·W·C = ${image.height}·${image.width}·C values, got ${
        fgProbs instanceof Float32Array ? `length ${fgProbs.length}` : String(fgProbs)
      }`,
    );
  }
  const C = fgProbs.length / n;
  const L = C + 1;
  const fg = layout === 'nhwc' ? fgProbs : transpose(fgProbs, C, n);
  let present: number[] | undefined;
  if (presentClasses !== undefined) {
    if (!Array.isArray(presentClasses))
      throw new TypeError('presentClasses must be an array of label indices');
    for (const c of presentClasses) {
      if (!Number.isInteger(c) || c < 0 || c > C) {
        throw new RangeError(`presentClasses entries must be label indices in [0, ${C}], got ${c}`);
      }
    }
    present = [...new Set([0, ...presentClasses])].sort((a, b) => a - b);
  }
  // [bg, fg…] pixel-major, bg = (1 − max over the (present) fg)^5 (spec §4.9).
  const probs = new Float32Array(n * L);
  const fgIdx = present ? present.filter((l) => l > 0).map((l) => l - 1) : null;
  for (let i = 0; i < n; i++) {
    const o = i * C;
    let m = 0;
    if (fgIdx) {
      for (const c of fgIdx) if (fg[o + c]! > m) m = fg[o + c]!;
    } else {
      for (let c = 0; c < C; c++) if (fg[o + c]! > m) m = fg[o + c]!;
    }
    probs[i * L] = (1 - m) ** WS_FCN_CRF.bgPower;
    for (let c = 0; c < C; c++) probs[i * L + 1 + c] = fg[o + c]!;
  }
  const unary = unaryFromProbabilities(probs, { clip: WS_FCN_CRF.clip });
  const settings: CrfSettings = {
    iterations: options.iterations ?? WS_FCN_CRF.iterations,
    gaussian: WS_FCN_CRF.gaussian,
    bilateral: WS_FCN_CRF.bilateral,
  };
  const result = runCrf(image, unary, L, settings, present ?? 'auto', 'nhwc');
  if (layout === 'labels-major') result.probs = transpose(result.probs, n, L);
  return result;
}

/**
 * DSRG's training-time CRF refinement (spec §6.3 step 2) for one image: P clipped at 1e-4, unary energy −P
 * (probabilities, not log: a code fact), θα = 80/12, θβ = 13, w = 10; θγ = 3/12, w = 3; 10 iterations; the result
 * clipped at 1e-4 and renormalised. `image` is the image already resized to the score map (41×41 in DSRG).
 *
 * @param probs softmax probabilities over all L labels (bg first), H·W·L (NHWC unless `layout`).
 * @param options.presentClasses restrict inference to these labels (background 0 always included). Note that with
 *   a −P unary absent labels are *not* negligible, so this changes the result; by default all labels run, as in DSRG.
 */
export function dsrgCrf(
  image: CrfImage,
  probs: Float32Array,
  options: RecipeOptions & { presentClasses?: readonly number[] } = {},
): CrfResult {
  checkImage(image);
  const layout = layoutOf(options);
  const n = image.width * image.height;
  if (!(probs instanceof Float32Array) || probs.length === 0 || probs.length % n !== 0) {
    throw new RangeError(
      `probs must be a Float32Array of H·W·L = ${image.height}·${image.width}·L values, got ${
        probs instanceof Float32Array ? `length ${probs.length}` : String(probs)
      }`,
    );
  }
  const L = probs.length / n;
  assertArray('probs', probs, [Float32Array], n * L, `H·W·L`);
  const unary = new Float32Array(probs.length);
  for (let k = 0; k < probs.length; k++) {
    const p = probs[k]!;
    if (Number.isNaN(p)) throw new RangeError(`probs[${k}] must be a number, got NaN`);
    unary[k] = -Math.max(p, DSRG_CRF.minProb);
  }
  const active: ActiveLabels = options.presentClasses
    ? [...new Set([0, ...options.presentClasses])].sort((a, b) => a - b)
    : 'all';
  const settings: CrfSettings = {
    iterations: options.iterations ?? DSRG_CRF.iterations,
    gaussian: DSRG_CRF.gaussian,
    bilateral: DSRG_CRF.bilateral,
  };
  const result = runCrf(image, unary, L, settings, active, layout);
  // Clip at 1e-4 and renormalise (labels outside the active set stay at the floor, as the clip implies).
  const q = result.probs;
  const floor = DSRG_CRF.minProb;
  const stride = layout === 'nhwc' ? 1 : n;
  for (let i = 0; i < n; i++) {
    const base = layout === 'nhwc' ? i * L : i;
    let s = 0;
    for (let l = 0; l < L; l++) {
      const k = base + l * stride;
      const v = Math.max(q[k]!, floor);
      q[k] = v;
      s += v;
    }
    for (let l = 0; l < L; l++) q[base + l * stride] = q[base + l * stride]! / s;
  }
  return result;
}
