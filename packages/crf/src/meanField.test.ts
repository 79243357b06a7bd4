import { describe, expect, it } from 'vitest';
import { wasmKernels } from './latticeWasm.js';
import { meanField, softmaxRows } from './meanField.js';
import { bilateralFeatures, LatticeTerm, positionFeatures } from './pairwise.js';
import { seededUniform, twoRegionScene } from './testing/exactFilter.js';

describe('mean-field engines', () => {
  it('WebAssembly SIMD is available here (Node ≥ 20)', () => {
    expect(wasmKernels()).not.toBeNull();
  });

  for (const L of [1, 3, 4, 5, 9]) {
    it(`WebAssembly and JS give the same marginals (${L} labels, within 2e-5)`, () => {
      const W = 23;
      const H = 17;
      const n = W * H;
      const scene = twoRegionScene(W, H, 2, { flip: 0.2, seed: L });
      const unary = seededUniform(n * L, 40 + L).map((u) => 3 * u);
      const terms = [
        new LatticeTerm(positionFeatures(W, H, 3, 3), n, 2, 3),
        new LatticeTerm(bilateralFeatures(W, H, 10, 10, scene.rgb, 3, 13, 13, 13), n, 5, 10),
      ];
      const js = meanField(unary, n, L, terms, 10, 'js');
      const wasm = meanField(unary, n, L, terms, 10, 'auto');
      let maxDiff = 0;
      for (let k = 0; k < js.length; k++) maxDiff = Math.max(maxDiff, Math.abs(js[k]! - wasm[k]!));
      expect(maxDiff).toBeLessThan(2e-5);
      // and the marginals are distributions
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let l = 0; l < L; l++) s += wasm[i * L + l]!;
        expect(s).toBeCloseTo(1, 5);
      }
    });
  }

  it('softmaxRows matches Math.exp to float32 precision, including very negative logits', () => {
    const x = new Float32Array([0, -1, -2.5, 3, -100, -1000, 50, 49.5, 0]);
    const out = new Float32Array(9);
    softmaxRows(x, out, 3, 3);
    for (let r = 0; r < 3; r++) {
      const row = Array.from(x.subarray(r * 3, r * 3 + 3));
      const m = Math.max(...row);
      const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
      for (let c = 0; c < 3; c++) {
        const ref = Math.exp(row[c]! - m) / z;
        expect(Math.abs(out[r * 3 + c]! - ref)).toBeLessThanOrEqual(1e-7 * Math.max(ref, 1e-30) + 1e-37);
      }
    }
  });
});
