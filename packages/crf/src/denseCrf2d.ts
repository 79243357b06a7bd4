import type { Layout } from './layout.js';
import { transpose } from './layout.js';
import { meanField } from './meanField.js';
import type { PairwiseTerm } from './pairwise.js';
import { bilateralFeatures, LatticeTerm, positionFeatures } from './pairwise.js';
import { assertArray, assertFinite, assertInteger, assertPositive } from './validate.js';

/** Options of {@link DenseCRF2D.addPairwiseGaussian} (pydensecrf's `addPairwiseGaussian`). */
export interface PairwiseGaussianOptions {
  /** Standard deviation in pixels (θγ), one for both axes or `[sx, sy]`. */
  sxy: number | readonly [number, number];
  /** Potts weight w (pydensecrf's `compat` as a number). */
  compat: number;
}

/** Options of {@link DenseCRF2D.addPairwiseBilateral} (pydensecrf's `addPairwiseBilateral`). */
export interface PairwiseBilateralOptions {
  /** Spatial standard deviation in pixels (θα), one for both axes or `[sx, sy]`. */
  sxy: number | readonly [number, number];
  /** Colour standard deviation (θβ) in the units of `rgbim` (0–255), one for all channels or `[sr, sg, sb]`. */
  srgb: number | readonly [number, number, number];
  /**
   * The image, 8-bit, interleaved, raster order: RGB (`H·W·3`, pydensecrf's `rgbim` HWC) or RGBA (`H·W·4`, e.g.
   * `ImageData.data`; the 4th channel is ignored).
   */
  rgbim: Uint8Array | Uint8ClampedArray;
  /** Potts weight w (pydensecrf's `compat` as a number). */
  compat: number;
}

/**
 * Which labels mean-field runs over; the others get probability exactly 0 and cost nothing.
 * - `'all'`: every label (pydensecrf's behaviour).
 * - `'auto'` (default): the labels whose unary-implied probability softmax(−U) reaches `minProbability` (default
 *   1e-4) at some pixel. A label below it everywhere can gain at most a factor e^{w·1e-4} in mean-field, so leaving
 *   it out changes the others' probabilities by about its mass (≤ 1e-4 per pixel).
 * - a list of label indices (e.g. background + the image's classes): exactly those.
 */
export type ActiveLabels = 'auto' | 'all' | readonly number[];

/** Options of {@link DenseCRF2D.inference}. */
export interface InferenceOptions {
  /** Layout of the returned probabilities; default `'labels-major'` (pydensecrf's `Q`). */
  layout?: Layout;
}

/** Default threshold of `'auto'` active labels. */
export const DEFAULT_MIN_PROBABILITY = 1e-4;

/**
 * A fully-connected CRF on a W×H pixel grid with Gaussian pairwise potentials and Potts compatibility, inferred by
 * mean-field with permutohedral-lattice filtering (Krähenbühl & Koltun 2011). Mirrors pydensecrf's `DenseCRF2D`:
 *
 * ```ts
 * const crf = new DenseCRF2D(w, h, nLabels);
 * crf.setUnaryEnergy(unaryFromProbabilities(probs, { clip: 1e-5 })); // labels-major, nLabels·H·W
 * crf.addPairwiseGaussian({ sxy: 3, compat: 3 });
 * crf.addPairwiseBilateral({ sxy: 80, srgb: 13, rgbim, compat: 10 });
 * const q = crf.inference(10); // Float32Array, labels-major (l·H·W + y·W + x)
 * ```
 *
 * Energies and probabilities are labels-major by default (like pydensecrf's `Q`); pass `{ layout: 'nhwc' }` to
 * read or write pixel-major arrays instead. Each pairwise term builds its lattice once, when added; inference
 * reuses it for every iteration and every `inference` call.
 */
export class DenseCRF2D {
  readonly width: number;
  readonly height: number;
  readonly nLabels: number;
  /** Unary energies, pixel-major (NHWC): the lattice filters all labels of a pixel together. */
  private unary: Float32Array | undefined;
  /** {@link activeLabels} resolved for the current unary and setting. */
  private resolvedActive: number[] | undefined;
  private readonly terms: LatticeTerm[] = [];
  private active: ActiveLabels = 'auto';
  private minProbability = DEFAULT_MIN_PROBABILITY;

  /**
   * @param width image width W (pixels, ≥ 1).
   * @param height image height H (pixels, ≥ 1).
   * @param nLabels number of labels L (≥ 1).
   */
  constructor(width: number, height: number, nLabels: number) {
    assertInteger('width', width, 1);
    assertInteger('height', height, 1);
    assertInteger('nLabels', nLabels, 1);
    this.width = width;
    this.height = height;
    this.nLabels = nLabels;
  }

  /** Number of pixels H·W. */
  get nPixels(): number {
    return this.width * this.height;
  }

  /**
   * Sets the unary energies U (−log probability, up to a per-pixel constant); copied.
   * @param unary `nLabels·H·W` finite values, labels-major unless `layout` says `'nhwc'`.
   */
  setUnaryEnergy(unary: Float32Array, options: { layout?: Layout } = {}): this {
    const { nLabels, nPixels } = this;
    const layout = checkLayout(options.layout);
    assertArray(
      'unary',
      unary,
      [Float32Array],
      nLabels * nPixels,
      `nLabels·H·W = ${nLabels}·${this.height}·${this.width} (${layout})`,
    );
    for (let k = 0; k < unary.length; k++) {
      if (!Number.isFinite(unary[k]!)) {
        throw new RangeError(
          `unary[${k}] must be finite, got ${unary[k]} (clip probabilities before taking −log, e.g. unaryFromProbabilities)`,
        );
      }
    }
    this.unary = layout === 'nhwc' ? new Float32Array(unary) : transpose(unary, nLabels, nPixels);
    this.resolvedActive = undefined;
    return this;
  }

  /** Adds an appearance-free (smoothness) kernel w·exp(−|p_i − p_j|²/(2θγ²)). Builds its lattice now. */
  addPairwiseGaussian(options: PairwiseGaussianOptions): this {
    const [sx, sy] = pair('sxy', options?.sxy);
    assertFinite('compat', options.compat);
    const f = positionFeatures(this.width, this.height, sx, sy);
    this.terms.push(new LatticeTerm(f, this.nPixels, 2, options.compat));
    return this;
  }

  /**
   * Adds an appearance (bilateral) kernel w·exp(−|p_i − p_j|²/(2θα²) − |I_i − I_j|²/(2θβ²)). Builds its lattice now.
   */
  addPairwiseBilateral(options: PairwiseBilateralOptions): this {
    const [sx, sy] = pair('sxy', options?.sxy);
    const [sr, sg, sb] = triple('srgb', options.srgb);
    assertFinite('compat', options.compat);
    const n = this.nPixels;
    const im = options.rgbim;
    const channels = (im as { length?: number } | undefined)?.length === n * 4 ? 4 : 3;
    assertArray(
      'rgbim',
      im,
      [Uint8Array, Uint8ClampedArray],
      n * channels,
      `H·W·3 = ${this.height}·${this.width}·3 (RGB, HWC; or H·W·4 RGBA)`,
    );
    const f = bilateralFeatures(this.width, this.height, sx, sy, im, channels, sr, sg, sb);
    this.terms.push(new LatticeTerm(f, n, 5, options.compat));
    return this;
  }

  /** Chooses the labels mean-field runs over (see {@link ActiveLabels}); default `'auto'`. */
  setActiveLabels(labels: ActiveLabels, options: { minProbability?: number } = {}): this {
    if (labels !== 'auto' && labels !== 'all') {
      if (!Array.isArray(labels) || labels.length === 0) {
        throw new RangeError(`activeLabels must be 'auto', 'all' or a non-empty array of label indices`);
      }
      const seen = new Set<number>();
      for (const l of labels) {
        if (!Number.isInteger(l) || l < 0 || l >= this.nLabels) {
          throw new RangeError(`activeLabels entries must be integers in [0, ${this.nLabels - 1}], got ${l}`);
        }
        if (seen.has(l)) throw new RangeError(`activeLabels has label ${l} twice`);
        seen.add(l);
      }
      labels = [...labels].sort((a, b) => a - b);
    }
    if (options.minProbability !== undefined) {
      const p = options.minProbability;
      if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
        throw new RangeError(`minProbability must be a number in [0, 1], got ${String(p)}`);
      }
      this.minProbability = p;
    }
    this.active = labels;
    this.resolvedActive = undefined;
    return this;
  }

  /** The labels inference runs over (resolved against the current unary for `'auto'`), ascending. */
  get activeLabels(): number[] {
    const unary = this.requireUnary();
    this.resolvedActive ??= this.resolveActive(unary);
    return [...this.resolvedActive];
  }

  private resolveActive(unary: Float32Array): number[] {
    const L = this.nLabels;
    if (this.active === 'all') return Array.from({ length: L }, (_, l) => l);
    if (this.active !== 'auto') return [...this.active];
    // p_i(l) = e^{m_i − U_il} / Z_i with m_i = min_l U_il and 1 ≤ Z_i ≤ L: a gap U_il − m_i ≤ −log(L·minP) makes
    // l active for sure, a gap > −log(minP) rules pixel i out; only gaps in between need Z_i.
    const n = this.nPixels;
    const minP = this.minProbability;
    const sure = minP > 0 ? -Math.log(L * minP) : Infinity;
    const never = minP > 0 ? -Math.log(minP) : Infinity;
    const active = new Uint8Array(L);
    let nActive = 0;
    for (let i = 0, o = 0; i < n && nActive < L; i++, o += L) {
      let m = unary[o]!;
      for (let l = 1; l < L; l++) if (unary[o + l]! < m) m = unary[o + l]!;
      let z = -1;
      for (let l = 0; l < L; l++) {
        if (active[l]) continue;
        const gap = unary[o + l]! - m;
        if (gap > never) continue;
        if (gap > sure) {
          if (z < 0) {
            z = 0;
            for (let k = 0; k < L; k++) z += Math.exp(m - unary[o + k]!);
          }
          if (Math.exp(-gap) / z < minP) continue;
        }
        active[l] = 1;
        nActive++;
      }
    }
    const out: number[] = [];
    for (let l = 0; l < L; l++) if (active[l]) out.push(l);
    return out;
  }

  /**
   * Runs `nIterations` of mean-field and returns the marginals Q.
   * @param nIterations number of mean-field updates (≥ 0; pydensecrf's default 5).
   * @returns `nLabels·H·W` probabilities, labels-major (`Q[l·H·W + y·W + x]`) unless `layout: 'nhwc'`; labels
   *   outside {@link activeLabels} are exactly 0.
   */
  inference(nIterations = 5, options: InferenceOptions = {}): Float32Array {
    assertInteger('nIterations', nIterations, 0);
    const layout = checkLayout(options.layout);
    const unary = this.requireUnary();
    const active = this.activeLabels;
    const n = this.nPixels;
    const L = this.nLabels;
    const La = active.length;
    let ua = unary;
    if (La < L) {
      ua = new Float32Array(n * La);
      for (let i = 0; i < n; i++) for (let a = 0; a < La; a++) ua[i * La + a] = unary[i * L + active[a]!]!;
    }
    const q = meanField(ua, n, La, this.terms as PairwiseTerm[], nIterations);
    if (layout === 'nhwc' && La === L) return q;
    const out = new Float32Array(n * L);
    if (layout === 'nhwc') {
      for (let i = 0; i < n; i++) for (let a = 0; a < La; a++) out[i * L + active[a]!] = q[i * La + a]!;
    } else {
      for (let a = 0; a < La; a++) {
        const o = active[a]! * n;
        for (let i = 0; i < n; i++) out[o + i] = q[i * La + a]!;
      }
    }
    return out;
  }

  /** Runs {@link inference} and returns the most probable label per pixel (raster order). */
  map(nIterations = 5): Int32Array {
    const q = this.inference(nIterations, { layout: 'nhwc' });
    const n = this.nPixels;
    const L = this.nLabels;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bv = q[i * L]!;
      for (let l = 1; l < L; l++) {
        if (q[i * L + l]! > bv) {
          bv = q[i * L + l]!;
          best = l;
        }
      }
      out[i] = best;
    }
    return out;
  }

  private requireUnary(): Float32Array {
    if (!this.unary) throw new Error('DenseCRF2D: call setUnaryEnergy before inference');
    return this.unary;
  }
}

function checkLayout(layout: Layout | undefined): Layout {
  if (layout === undefined) return 'labels-major';
  if (layout !== 'labels-major' && layout !== 'nhwc') {
    throw new RangeError(`layout must be 'labels-major' or 'nhwc', got ${String(layout)}`);
  }
  return layout;
}

function pair(name: string, v: number | readonly [number, number] | undefined): [number, number] {
  if (Array.isArray(v)) {
    if (v.length !== 2)
      throw new RangeError(`${name} must be a number or [sx, sy], got an array of ${v.length}`);
    assertPositive(`${name}[0]`, v[0]);
    assertPositive(`${name}[1]`, v[1]);
    return [v[0], v[1]];
  }
  assertPositive(name, v);
  return [v as number, v as number];
}

function triple(
  name: string,
  v: number | readonly [number, number, number] | undefined,
): [number, number, number] {
  if (Array.isArray(v)) {
    if (v.length !== 3)
      throw new RangeError(`${name} must be a number or [sr, sg, sb], got an array of ${v.length}`);
    for (let k = 0; k < 3; k++) assertPositive(`${name}[${k}]`, v[k]);
    return [v[0], v[1], v[2]];
  }
  assertPositive(name, v);
  return [v as number, v as number, v as number];
}
