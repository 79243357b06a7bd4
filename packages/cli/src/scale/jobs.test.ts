import { describe, expect, it } from 'vitest';
import { shardPlan } from './jobs.js';

describe('shardPlan', () => {
  it('full shards, then the last 2k images in quarter shards once there are 8 full shards', () => {
    const p = shardPlan(400, 16);
    expect(p).toHaveLength(23 + 8);
    expect(p.slice(0, 23).every(([a, b], i) => a === 16 * i && b === a + 16)).toBe(true);
    expect(p.slice(23)).toEqual([
      [368, 372],
      [372, 376],
      [376, 380],
      [380, 384],
      [384, 388],
      [388, 392],
      [392, 396],
      [396, 400],
    ]);
    // 48 ≥ 8·5: 35 images in 7 shards of 5, then 13 in shards of ⌈5/4⌉ = 2
    expect(shardPlan(48, 5).slice(6)).toEqual([
      [30, 35],
      [35, 37],
      [37, 39],
      [39, 41],
      [41, 43],
      [43, 45],
      [45, 47],
      [47, 48],
    ]);
  });

  it('fewer than 8 full shards: plain shards of k, the last one short', () => {
    expect(shardPlan(48, 7)).toEqual([
      [0, 7],
      [7, 14],
      [14, 21],
      [21, 28],
      [28, 35],
      [35, 42],
      [42, 48],
    ]);
    expect(shardPlan(3, 16)).toEqual([[0, 3]]);
    expect(shardPlan(0, 16)).toEqual([]);
  });

  it('covers every image once, in order, at odd sizes', () => {
    for (const n of [1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 1000, 10_582])
      for (const k of [1, 2, 3, 5, 16, 17, 64]) {
        const p = shardPlan(n, k);
        let next = 0;
        for (const [a, b] of p) {
          expect(a).toBe(next);
          expect(b).toBeGreaterThan(a);
          expect(b - a).toBeLessThanOrEqual(k);
          next = b;
        }
        expect(next, `${n}/${k}`).toBe(n);
      }
  });
});
