import { describe, expect, it } from 'vitest';
import { BinomialSampler, keptIndices, Uint32Stream } from './random.js';

describe('selection draws', () => {
  it('keptIndices: ascending, reproducible, kept fraction ≈ keep on both the gap (≤ ½) and the per-unit path', () => {
    for (const keep of [0.1, 0.3, 0.7]) {
      const a = keptIndices(100_000, keep, 5);
      expect(Array.from(keptIndices(100_000, keep, 5))).toEqual(Array.from(a));
      for (let i = 1; i < a.length; i++) expect(a[i]!).toBeGreaterThan(a[i - 1]!);
      expect(a[a.length - 1]!).toBeLessThan(100_000);
      expect(Math.abs(a.length / 100_000 - keep)).toBeLessThan(0.006); // σ ≤ 0.0016
    }
    // gaps are geometric: P(gap = 0) = keep
    const k = keptIndices(200_000, 0.1, 9);
    let adjacent = 0;
    for (let i = 1; i < k.length; i++) if (k[i] === k[i - 1]! + 1) adjacent++;
    expect(Math.abs(adjacent / (k.length - 1) - 0.1)).toBeLessThan(0.01);
    expect(keptIndices(5, 1, 1)).toEqual(Int32Array.from([0, 1, 2, 3, 4]));
    expect(keptIndices(5, 0, 1).length).toBe(0);
  });

  it('BinomialSampler draws Binomial(n, q): frequencies match the pmf', () => {
    const n = 20;
    const q = 0.3;
    const sampler = new BinomialSampler(q);
    const rng = new Uint32Stream(3);
    const draws = 40_000;
    const freq = new Array(n + 1).fill(0);
    for (let i = 0; i < draws; i++) freq[sampler.draw(n, rng)]++;
    let pk = (1 - q) ** n;
    for (let k = 0; k <= n; k++) {
      const sd = Math.sqrt((pk * (1 - pk)) / draws);
      expect(Math.abs(freq[k] / draws - pk)).toBeLessThan(5 * sd + 1e-4);
      pk *= ((n - k) / (k + 1)) * (q / (1 - q));
    }
    expect(new BinomialSampler(0).draw(7, rng)).toBe(0);
    expect(new BinomialSampler(1).draw(7, rng)).toBe(7);
    expect(sampler.draw(0, rng)).toBe(0);
    // large n stays exact in log space
    const big = new BinomialSampler(0.1);
    let sum = 0;
    for (let i = 0; i < 2000; i++) sum += big.draw(10_000, rng);
    expect(Math.abs(sum / 2000 - 1000)).toBeLessThan(3);
  });
});
