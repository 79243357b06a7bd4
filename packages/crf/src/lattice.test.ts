import { describe, expect, it } from 'vitest';
import { PermutohedralLattice } from './lattice.js';
import { meanField } from './meanField.js';
import { bilateralFeatures, LatticeTerm, positionFeatures } from './pairwise.js';
import { ExactTerm, exactGaussianFilter, seededUniform, twoRegionScene } from './testing/exactFilter.js';

const W = 12;
const H = 10;
const N = W * H;

describe('PermutohedralLattice', () => {
  it('a single point keeps its value (all weight on one simplex, blur adds nothing elsewhere)', () => {
    const lat = new PermutohedralLattice(new Float32Array([0.3, -1.2]), 1, 2);
    const out = new Float32Array(2);
    lat.filter(new Float32Array([2, 5]), out, 2);
    const ones = new Float32Array(1);
    lat.filter(new Float32Array([1]), ones, 1);
    expect(out[0]! / ones[0]!).toBeCloseTo(2, 5);
    expect(out[1]! / ones[0]!).toBeCloseTo(5, 5);
  });

  it('barycentric weights sum to 1, so a constant input filters to a constant after normalisation', () => {
    const f = positionFeatures(W, H, 2, 2);
    const lat = new PermutohedralLattice(f, N, 2);
    const ones = new Float32Array(N).fill(1);
    const k1 = new Float32Array(N);
    lat.filter(ones, k1, 1);
    const c = new Float32Array(N).fill(3.5);
    const kc = new Float32Array(N);
    lat.filter(c, kc, 1);
    for (let i = 0; i < N; i++) expect(kc[i]! / k1[i]!).toBeCloseTo(3.5, 4);
  });

  for (const [name, features, d] of [
    ['Gaussian sxy 1', positionFeatures(W, H, 1, 1), 2],
    ['Gaussian sxy 3', positionFeatures(W, H, 3, 3), 2],
    [
      'bilateral sxy 4, srgb 20',
      bilateralFeatures(W, H, 4, 4, twoRegionScene(W, H, 2).rgb, 3, 20, 20, 20),
      5,
    ],
  ] as const) {
    it(`approximates exact Gaussian filtering (${name}): normalised outputs within 0.05`, () => {
      const lat = new PermutohedralLattice(features, N, d);
      const C = 3;
      const input = seededUniform(N * C, 11);
      const approx = new Float32Array(N * C);
      lat.filter(input, approx, C);
      const approx1 = new Float32Array(N);
      lat.filter(new Float32Array(N).fill(1), approx1, 1);
      const exact = exactGaussianFilter(features, N, d, input, C);
      const exact1 = exactGaussianFilter(features, N, d, new Float32Array(N).fill(1), 1);
      let maxDiff = 0;
      for (let i = 0; i < N; i++) {
        for (let c = 0; c < C; c++) {
          const a = approx[i * C + c]! / approx1[i]!;
          const e = exact[i * C + c]! / exact1[i]!;
          maxDiff = Math.max(maxDiff, Math.abs(a - e));
        }
      }
      expect(maxDiff).toBeLessThan(0.05);
    });
  }
});

describe('mean-field: lattice vs exact O(N²) filtering (12×10)', () => {
  // Strong weights (the WS-FCN ones: marginals saturate) and weak ones (many marginals stay in (0.2, 0.8)).
  for (const [L, seed, wg, wb] of [
    [2, 1, 3, 10],
    [3, 2, 3, 10],
    [5, 3, 3, 10],
    [2, 1, 0.5, 1.5],
    [3, 2, 0.5, 1.5],
    [5, 3, 0.5, 1.5],
  ] as const) {
    it(`${L} labels, weights ${wg}/${wb}: ≥ 99 % label agreement, probabilities within 0.05`, () => {
      const scene = twoRegionScene(W, H, L, { flip: 0.2, seed });
      // Pixel-major energies from a noisier, label-dependent map.
      const u = seededUniform(N * L, seed + 10);
      const unary = new Float32Array(N * L);
      for (let i = 0; i < N; i++) {
        for (let l = 0; l < L; l++)
          unary[i * L + l] = -Math.log(scene.probs[l * N + i]! * (0.5 + u[i * L + l]!));
      }
      const gf = positionFeatures(W, H, 1.5, 1.5);
      const bf = bilateralFeatures(W, H, 5, 5, scene.rgb, 3, 13, 13, 13);
      const lattice = meanField(
        unary,
        N,
        L,
        [new LatticeTerm(gf, N, 2, wg), new LatticeTerm(bf, N, 5, wb)],
        10,
      );
      const exact = meanField(unary, N, L, [new ExactTerm(gf, N, 2, wg), new ExactTerm(bf, N, 5, wb)], 10);
      const unaryOnly = meanField(unary, N, L, [], 10);
      const argmax = (q: Float32Array, i: number) => {
        let b = 0;
        for (let l = 1; l < L; l++) if (q[i * L + l]! > q[i * L + b]!) b = l;
        return b;
      };
      let agree = 0;
      let changed = 0;
      let maxDiff = 0;
      for (let i = 0; i < N; i++) {
        for (let l = 0; l < L; l++)
          maxDiff = Math.max(maxDiff, Math.abs(lattice[i * L + l]! - exact[i * L + l]!));
        if (argmax(lattice, i) === argmax(exact, i)) agree++;
        if (argmax(unaryOnly, i) !== argmax(exact, i)) changed++;
      }
      expect(changed).toBeGreaterThan(0); // the pairwise terms matter
      expect(agree / N).toBeGreaterThanOrEqual(0.99);
      expect(maxDiff).toBeLessThan(0.05);
    });
  }
});
