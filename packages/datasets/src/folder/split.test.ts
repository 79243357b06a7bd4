import { describe, expect, it } from 'vitest';
import { Rng } from '../synthetic/rng.js';
import { stratifiedSplit } from './split.js';

/** n images with 1–3 of k classes each, class c drawn with weight 1/c² (so the high classes are rare). */
function randomLabels(n: number, k: number, seed: number): number[][] {
  const rng = new Rng(seed);
  const weights = Array.from({ length: k }, (_, c) => 1 / (c + 1) ** 2);
  const sum = weights.reduce((a, b) => a + b, 0);
  return Array.from({ length: n }, () => {
    const out = new Set<number>();
    const m = rng.int(0, 3); // 0 = background only
    while (out.size < m) {
      let u = rng.next() * sum;
      let c = 0;
      while (u > weights[c]! && c < k - 1) u -= weights[c++]!;
      out.add(c + 1);
    }
    return [...out];
  });
}

const counts = (labels: number[][], idx: number[]) => {
  const m = new Map<number, number>();
  for (const i of idx) for (const c of labels[i]!) m.set(c, (m.get(c) ?? 0) + 1);
  return m;
};

describe('stratifiedSplit', () => {
  it('puts every class of two or more images on both sides, with the requested size, sorted', () => {
    for (const seed of [0, 1, 2, 3]) {
      const labels = randomLabels(300, 20, 100 + seed);
      const { train, val } = stratifiedSplit(labels, 0.1, seed);
      expect(val).toHaveLength(30);
      expect(train).toHaveLength(270);
      expect([...train, ...val].sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(train).toEqual([...train].sort((a, b) => a - b));
      expect(val).toEqual([...val].sort((a, b) => a - b));
      const all = counts(labels, [...train, ...val]);
      const tr = counts(labels, train);
      const va = counts(labels, val);
      // the rare classes exist (some with just 2-3 images), so the check is not vacuous
      expect([...all.values()].some((v) => v <= 3)).toBe(true);
      for (const [c, v] of all) {
        if (v < 2) continue;
        expect(tr.get(c) ?? 0, `class ${c} in train`).toBeGreaterThan(0);
        expect(va.get(c) ?? 0, `class ${c} in val`).toBeGreaterThan(0);
      }
    }
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const labels = randomLabels(200, 10, 5);
    const a = stratifiedSplit(labels, 0.25, 42);
    expect(stratifiedSplit(labels, 0.25, 42)).toEqual(a);
    const b = stratifiedSplit(labels, 0.25, 43);
    expect(b.val).toHaveLength(50);
    expect(b.val).not.toEqual(a.val);
  });

  it('sizes the validation part as max(1, round(fraction·n)) capped at n − 1', () => {
    expect(stratifiedSplit([[1], [1]], 0.01, 0).val).toHaveLength(1);
    expect(stratifiedSplit([[1], [2], [3]], 0.99, 0).val).toHaveLength(2);
    expect(
      stratifiedSplit(
        Array.from({ length: 10 }, () => []),
        0.35,
        0,
      ).val,
    ).toHaveLength(4);
    // class 1 twice, class 2 twice, 3 in val: the size wins over keeping class 2 in train
    const s = stratifiedSplit([[1], [1], [2], [2]], 0.75, 0);
    expect(s.val).toHaveLength(3);
    // a class that shares its only images: both sides still get one
    const shared = stratifiedSplit([[1, 2], [1, 2], [3], [3], [3], [3]], 0.34, 9);
    expect(shared.val).toHaveLength(2);
    expect(shared.val.filter((i) => i < 2)).toHaveLength(1);
    expect(shared.val.filter((i) => i >= 2)).toHaveLength(1);
  });

  it('refuses fewer than two images and a fraction outside (0, 1), naming the values', () => {
    expect(() => stratifiedSplit([[1]], 0.5, 0)).toThrow(
      new RangeError('stratifiedSplit: need at least 2 images to split, got n = 1'),
    );
    for (const f of [0, 1, -0.1, 1.5, Number.NaN]) {
      expect(() => stratifiedSplit([[1], [2]], f, 0)).toThrow(
        `stratifiedSplit: fraction must lie strictly between 0 and 1, got ${f}`,
      );
    }
  });
});
