import { PermutohedralLattice } from './lattice.js';

/**
 * A Gaussian pairwise term as mean-field needs it: `apply` adds `weight · K̃ Q` to the logits, where
 * K̃ = D^{-½} K D^{-½} is the kernel matrix K_ij = exp(−|f_i − f_j|²/2) with symmetric normalisation
 * (D = diag(K·1); pydensecrf's default NORMALIZE_SYMMETRIC), and Q holds the current marginals of the active labels.
 * With the Potts model, adding `w·(K̃Q)_l` to label l's logit is the same as subtracting `w·Σ_{l'≠l}(K̃Q)_{l'}`
 * (the two differ by a per-pixel constant, which the softmax removes).
 * @internal
 */
export interface PairwiseTerm {
  /** Potts weight w (pydensecrf's `compat`). */
  readonly weight: number;
  /** `logits[i·L + l] += weight · (K̃ q)[i·L + l]` for pixel-major `q` with `L` channels. */
  apply(q: Float32Array, logits: Float32Array, nChannels: number): void;
}

/** A pairwise term filtered with a permutohedral lattice built once from the features. @internal */
export class LatticeTerm implements PairwiseTerm {
  readonly weight: number;
  readonly lattice: PermutohedralLattice;
  /** D^{-½}: 1/√(K·1) per pixel. */
  readonly norm: Float32Array;
  private scratch: [Float32Array, Float32Array] | undefined;

  constructor(features: Float32Array, nPixels: number, d: number, weight: number) {
    this.weight = weight;
    this.lattice = new PermutohedralLattice(features, nPixels, d);
    const ones = new Float32Array(nPixels).fill(1);
    const sums = new Float32Array(nPixels);
    this.lattice.filter(ones, sums, 1);
    const norm = new Float32Array(nPixels);
    for (let i = 0; i < nPixels; i++) norm[i] = 1 / Math.sqrt(sums[i]! + 1e-20);
    this.norm = norm;
  }

  apply(q: Float32Array, logits: Float32Array, nChannels: number): void {
    const size = (this.lattice.nVertices + 1) * nChannels;
    if (!this.scratch || this.scratch[0].length < size) {
      this.scratch = [new Float32Array(size), new Float32Array(size)];
    }
    const outScale = this.weightedNorm;
    this.lattice.filter(q, logits, nChannels, {
      scratch: this.scratch,
      inScale: this.norm,
      outScale,
      accumulate: true,
    });
  }

  private weighted: Float32Array | undefined;
  /** weight · D^{-½} (the slice's per-pixel factor). */
  get weightedNorm(): Float32Array {
    if (!this.weighted) {
      const w = new Float32Array(this.norm.length);
      for (let i = 0; i < w.length; i++) w[i] = this.weight * this.norm[i]!;
      this.weighted = w;
    }
    return this.weighted;
  }
}

/**
 * Features of the appearance-free (smoothness) kernel: (x/sx, y/sy) per pixel, raster order.
 * @internal
 */
export function positionFeatures(width: number, height: number, sx: number, sy: number): Float32Array {
  const f = new Float32Array(width * height * 2);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 2) {
      f[i] = x / sx;
      f[i + 1] = y / sy;
    }
  }
  return f;
}

/**
 * Features of the bilateral (appearance) kernel: (x/sx, y/sy, r/sr, g/sg, b/sb) per pixel, from an interleaved
 * image with `channels` (3 or 4; a 4th channel, e.g. alpha, is ignored).
 * @internal
 */
export function bilateralFeatures(
  width: number,
  height: number,
  sx: number,
  sy: number,
  image: ArrayLike<number>,
  channels: number,
  sr: number,
  sg: number,
  sb: number,
): Float32Array {
  const f = new Float32Array(width * height * 5);
  for (let y = 0, i = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 5, p += channels) {
      f[i] = x / sx;
      f[i + 1] = y / sy;
      f[i + 2] = image[p]! / sr;
      f[i + 3] = image[p + 1]! / sg;
      f[i + 4] = image[p + 2]! / sb;
    }
  }
  return f;
}
