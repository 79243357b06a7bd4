/**
 * Test helpers: exact O(N²) Gaussian filtering with the same symmetric normalisation as the lattice terms, and
 * small synthetic images. Not part of the public API.
 */
import type { PairwiseTerm } from '../pairwise.js';

/** out_i = Σ_j exp(−|f_i − f_j|²/2)·in_j for point-major features (d per point) and values (C per point). */
export function exactGaussianFilter(
  features: Float32Array,
  nPoints: number,
  d: number,
  input: Float32Array,
  nChannels: number,
): Float32Array {
  const out = new Float64Array(nPoints * nChannels);
  for (let i = 0; i < nPoints; i++) {
    for (let j = 0; j < nPoints; j++) {
      let dist = 0;
      for (let k = 0; k < d; k++) {
        const t = features[i * d + k]! - features[j * d + k]!;
        dist += t * t;
      }
      const w = Math.exp(-0.5 * dist);
      for (let c = 0; c < nChannels; c++) out[i * nChannels + c]! += w * input[j * nChannels + c]!;
    }
  }
  return Float32Array.from(out);
}

/** A pairwise term filtered exactly (O(N²)), symmetric normalisation like {@link LatticeTerm}. */
export class ExactTerm implements PairwiseTerm {
  readonly weight: number;
  private readonly norm: Float32Array;
  constructor(
    private readonly features: Float32Array,
    private readonly nPoints: number,
    private readonly d: number,
    weight: number,
  ) {
    this.weight = weight;
    const sums = exactGaussianFilter(features, nPoints, d, new Float32Array(nPoints).fill(1), 1);
    this.norm = sums.map((s) => 1 / Math.sqrt(s));
  }

  apply(q: Float32Array, logits: Float32Array, nChannels: number): void {
    const scaled = new Float32Array(q.length);
    for (let i = 0; i < this.nPoints; i++) {
      for (let c = 0; c < nChannels; c++) scaled[i * nChannels + c] = q[i * nChannels + c]! * this.norm[i]!;
    }
    const f = exactGaussianFilter(this.features, this.nPoints, this.d, scaled, nChannels);
    for (let i = 0; i < this.nPoints; i++) {
      for (let c = 0; c < nChannels; c++) {
        logits[i * nChannels + c]! += this.weight * this.norm[i]! * f[i * nChannels + c]!;
      }
    }
  }
}

/** Deterministic uniform [0,1) numbers (LCG). */
export function seededUniform(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 4294967296;
  }
  return v;
}

/**
 * A W×H two-region test image (left half dark red, right half light blue, ±`noise` colour noise) and unaries for
 * L labels: label 0 on the left, 1 on the right, with a fraction `flip` of pixels given confidently wrong
 * probabilities. Returns RGB (HWC), labels-major probabilities, and the true label map.
 */
export function twoRegionScene(
  W: number,
  H: number,
  L: number,
  options: { flip?: number; noise?: number; seed?: number } = {},
): { rgb: Uint8Array; probs: Float32Array; truth: Int32Array; flipped: Int32Array } {
  const { flip = 0.1, noise = 10, seed = 1 } = options;
  const n = W * H;
  const u = seededUniform(n * 5, seed);
  const rgb = new Uint8Array(n * 3);
  const probs = new Float32Array(n * L);
  const truth = new Int32Array(n);
  const flipped: number[] = [];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const t = x < W / 2 ? 0 : 1;
      truth[i] = t;
      const base = t === 0 ? [150, 30, 40] : [60, 140, 220];
      for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round(base[c]! + (u[i * 5 + c]! - 0.5) * 2 * noise);
      const wrong = u[i * 5 + 3]! < flip;
      if (wrong) flipped.push(i);
      const label = wrong ? 1 - t : t;
      const conf = 0.6 + 0.2 * u[i * 5 + 4]!;
      for (let l = 0; l < L; l++) probs[l * n + i] = l === label ? conf : (1 - conf) / (L - 1);
    }
  }
  return { rgb, probs, truth, flipped: Int32Array.from(flipped) };
}
