import { describe, expect, it } from 'vitest';
import { mbdSaliency, minimumBarrierDistance, type SaliencyImage } from './saliency.js';

/** Deterministic pseudo-random integers in [0, n). */
function lcg(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

/**
 * The exact minimum barrier distance from the border, by brute force: for each lower bound l (a pixel value),
 * the least possible path maximum over 4-connected paths from the border through pixels ≥ l (relaxed to a fixed
 * point); the distance is the least (that maximum − l) over l.
 */
function exactMbd(v: readonly number[], w: number, h: number): number[] {
  const n = w * h;
  const border = (p: number) => {
    const x = p % w;
    const y = (p - x) / w;
    return x === 0 || y === 0 || x === w - 1 || y === h - 1;
  };
  const out = Array.from({ length: n }, (_, p) => (border(p) ? 0 : Number.POSITIVE_INFINITY));
  for (const l of new Set(v)) {
    const best = Array.from({ length: n }, (_, p) =>
      border(p) && v[p]! >= l ? v[p]! : Number.POSITIVE_INFINITY,
    );
    for (let changed = true; changed; ) {
      changed = false;
      for (let p = 0; p < n; p++) {
        if (v[p]! < l) continue;
        const x = p % w;
        for (const q of [p - w, p + w, x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1]) {
          if (q < 0 || q >= n) continue;
          const c = Math.max(best[q]!, v[p]!);
          if (c < best[p]!) {
            best[p] = c;
            changed = true;
          }
        }
      }
    }
    for (let p = 0; p < n; p++) out[p] = Math.min(out[p]!, best[p]! - l);
  }
  return out;
}

describe('minimumBarrierDistance', () => {
  it('3×3 by hand: the centre needs the inverse pass to reach its closest border neighbour', () => {
    // prettier-ignore
    const v = [1, 2, 3, 4, 9, 6, 7, 8, 5];
    // raster pass: from the left (|9 − 4| = 5) or above (7); inverse pass: from below |9 − 8| = 1
    expect(Array.from(minimumBarrierDistance(v, 3, 3, 1))).toEqual([0, 0, 0, 0, 5, 0, 0, 0, 0]);
    expect(Array.from(minimumBarrierDistance(v, 3, 3, 2))).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(exactMbd(v, 3, 3)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
  });

  it('5×5 by hand: a ring of 9 crossed cheapest from the one border pixel of 4 (barrier 9 − 4), in 3 passes', () => {
    // prettier-ignore
    const v = [0, 0, 0, 0, 0, 0, 9, 9, 9, 0, 0, 9, 4, 9, 4, 0, 9, 9, 9, 0, 0, 0, 0, 0, 0];
    const exact = exactMbd(v, 5, 5);
    // prettier-ignore
    expect(exact).toEqual([0, 0, 0, 0, 0, 0, 5, 5, 5, 0, 0, 5, 5, 5, 0, 0, 5, 5, 5, 0, 0, 0, 0, 0, 0]);
    // after raster + inverse raster the bottom row has not yet seen the path through the right border
    // prettier-ignore
    expect(Array.from(minimumBarrierDistance(v, 5, 5, 2))).toEqual([
      0, 0, 0, 0, 0, 0, 5, 5, 5, 0, 0, 5, 5, 5, 0, 0, 9, 9, 9, 0, 0, 0, 0, 0, 0,
    ]);
    expect(Array.from(minimumBarrierDistance(v, 5, 5, 3))).toEqual(exact);
  });

  it('equals the exact distance on every 3×3 image after 2 passes', () => {
    const rnd = lcg(1);
    for (let t = 0; t < 200; t++) {
      const v = Array.from({ length: 9 }, () => rnd(20));
      expect(Array.from(minimumBarrierDistance(v, 3, 3, 2))).toEqual(exactMbd(v, 3, 3));
    }
  });

  it('is the barrier of a real path: never below the exact distance, and never rising with more passes', () => {
    const rnd = lcg(2);
    let exactAfter3 = 0;
    let pixels = 0;
    for (let t = 0; t < 100; t++) {
      const w = 3 + rnd(5);
      const h = 3 + rnd(5);
      const v = Array.from({ length: w * h }, () => rnd(10));
      const exact = exactMbd(v, w, h);
      let prev: Float32Array | null = null;
      for (let passes = 1; passes <= 4; passes++) {
        const d = minimumBarrierDistance(v, w, h, passes);
        for (let p = 0; p < w * h; p++) {
          expect(d[p]!).toBeGreaterThanOrEqual(exact[p]!);
          if (prev) expect(d[p]!).toBeLessThanOrEqual(prev[p]!);
          if (passes === 3) {
            pixels++;
            if (d[p] === exact[p]) exactAfter3++;
          }
        }
        prev = d;
      }
    }
    // the paper's 3 passes are exact almost everywhere on these small images
    expect(exactAfter3 / pixels).toBeGreaterThan(0.97);
  });

  it('is 0 on images without interior pixels, and rejects bad arguments by name', () => {
    expect(Array.from(minimumBarrierDistance([5, 9, 1, 7], 2, 2))).toEqual([0, 0, 0, 0]);
    expect(Array.from(minimumBarrierDistance([5, 9, 1], 3, 1))).toEqual([0, 0, 0]);
    expect(() => minimumBarrierDistance([1, 2, 3], 2, 2)).toThrow(
      'minimumBarrierDistance: values must hold width·height = 4 values, got 3',
    );
    expect(() => minimumBarrierDistance([1, 2], 0, 2)).toThrow(
      'minimumBarrierDistance: width must be an integer ≥ 1, got 0',
    );
    expect(() => minimumBarrierDistance([1, 2, 3, 4], 2, 2, 0)).toThrow(
      'minimumBarrierDistance: passes must be an integer ≥ 1, got 0',
    );
    expect(() => minimumBarrierDistance([1, Number.NaN, 3, 4], 2, 2)).toThrow(
      'minimumBarrierDistance: values must be finite, got NaN at index 1',
    );
  });
});

type Rgb = readonly [number, number, number];

/** A W×H RGB image of `bg` (± `noise` per channel) with solid squares [x0, y0, side] of `fg`. */
function picture(
  W: number,
  H: number,
  squares: readonly (readonly [number, number, number])[],
  opts: { fg?: Rgb; bg?: Rgb; noise?: number; seed?: number } = {},
): SaliencyImage {
  const fg = opts.fg ?? [200, 40, 40];
  const bg = opts.bg ?? [90, 120, 160];
  const noise = opts.noise ?? 0;
  const rnd = lcg(opts.seed ?? 3);
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const inside = squares.some(([x0, y0, s]) => x >= x0 && x < x0 + s && y >= y0 && y < y0 + s);
      for (let c = 0; c < 3; c++) {
        const jitter = noise > 0 && !inside ? rnd(2 * noise + 1) - noise : 0;
        data[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, (inside ? fg : bg)[c]! + jitter));
      }
    }
  return { width: W, height: H, data };
}

/** Mean saliency inside the square [x0, y0, side] and outside every square. */
function means(s: Float32Array, W: number, sq: readonly [number, number, number], all = [sq]) {
  const stat = { in: 0, nIn: 0, out: 0, nOut: 0 };
  for (let i = 0; i < s.length; i++) {
    const x = i % W;
    const y = (i - x) / W;
    const hit = ([x0, y0, side]: readonly [number, number, number]) =>
      x >= x0 && x < x0 + side && y >= y0 && y < y0 + side;
    if (hit(sq)) {
      stat.in += s[i]!;
      stat.nIn++;
    } else if (!all.some(hit)) {
      stat.out += s[i]!;
      stat.nOut++;
    }
  }
  return { inside: stat.in / stat.nIn, outside: stat.out / stat.nOut };
}

describe('mbdSaliency', () => {
  it('gives 0 everywhere on a uniform image (no NaN), RGB and RGBA', () => {
    for (const [W, H] of [
      [20, 10],
      [7, 5],
      [1, 1],
    ] as const) {
      const s = mbdSaliency({ width: W, height: H, data: new Uint8Array(W * H * 3).fill(77) });
      expect(s.length).toBe(W * H);
      expect(Array.from(s).every((v) => v === 0)).toBe(true);
      const rgba = mbdSaliency({ width: W, height: H, data: new Uint8ClampedArray(W * H * 4).fill(200) });
      expect(Array.from(rgba).every((v) => v === 0)).toBe(true);
    }
  });

  it('finds a solid square on a uniform background: inside ≥ 0.85, outside ≤ 0.02 (odd and non-square sizes)', () => {
    for (const [W, H, sq] of [
      [40, 30, [15, 10, 10]],
      [41, 29, [14, 9, 11]],
      [30, 40, [8, 15, 12]],
      [57, 23, [30, 6, 9]],
    ] as const) {
      const s = mbdSaliency(picture(W, H, [sq]));
      expect(s.length).toBe(W * H);
      expect(Math.min(...s)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...s)).toBeLessThanOrEqual(1);
      const m = means(s, W, sq);
      expect(m.inside).toBeGreaterThanOrEqual(0.85);
      expect(m.outside).toBeLessThanOrEqual(0.02);
    }
  });

  it('finds it on a noisy background, and through the downscale to 300 px and back', () => {
    const small = picture(41, 29, [[14, 9, 11]], { noise: 25 });
    const ms = means(mbdSaliency(small), 41, [14, 9, 11]);
    expect(ms.inside).toBeGreaterThanOrEqual(0.8);
    expect(ms.outside).toBeLessThanOrEqual(0.1);
    const sq = [160, 100, 90] as const;
    const big = picture(421, 317, [sq], { noise: 25 });
    const s = mbdSaliency(big);
    expect(s.length).toBe(421 * 317);
    const mb = means(s, 421, sq);
    expect(mb.inside).toBeGreaterThanOrEqual(0.8);
    expect(mb.outside).toBeLessThanOrEqual(0.1);
  });

  it('documents the boundary prior: the same square touching the border scores lower than in the centre', () => {
    const centre = [25, 10, 10] as const;
    const edge = [0, 10, 10] as const;
    const img = picture(60, 30, [centre, edge]);
    const full = mbdSaliency(img);
    const c = means(full, 60, centre, [centre, edge]).inside;
    const e = means(full, 60, edge, [centre, edge]).inside;
    expect(c).toBeGreaterThan(0.9);
    expect(e).toBeLessThan(0.2);
    // the barrier alone (no backgroundness, no centre bias): a border-touching object is background
    const mb = mbdSaliency(img, { backgroundness: false, centerBias: false });
    expect(means(mb, 60, centre, [centre, edge]).inside).toBeGreaterThan(0.85);
    expect(means(mb, 60, edge, [centre, edge]).inside).toBe(0);
  });

  it('reads RGBA exactly as RGB (alpha ignored), Uint8ClampedArray as Uint8Array', () => {
    const rgb = picture(33, 27, [[10, 8, 9]], { noise: 20 });
    const rgba = new Uint8ClampedArray(33 * 27 * 4);
    const rnd = lcg(9);
    for (let i = 0; i < 33 * 27; i++) {
      rgba.set(rgb.data.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = rnd(256);
    }
    const a = mbdSaliency(rgb);
    expect(Array.from(mbdSaliency({ width: 33, height: 27, data: rgba }))).toEqual(Array.from(a));
    const big = picture(350, 310, [[100, 100, 80]], { noise: 10 });
    const bigRgba = new Uint8Array(350 * 310 * 4).fill(255);
    for (let i = 0; i < 350 * 310; i++) bigRgba.set(big.data.subarray(i * 3, i * 3 + 3), i * 4);
    expect(Array.from(mbdSaliency({ width: 350, height: 310, data: bigRgba }))).toEqual(
      Array.from(mbdSaliency(big)),
    );
  });

  it('honours its switches: each post-processing step off still separates the square', () => {
    const img = picture(41, 29, [[14, 9, 11]], { noise: 15 });
    for (const o of [
      { backgroundness: false },
      { centerBias: false },
      { smoothAlpha: 0 },
      { contrast: 0 },
      { medianRadius: 0 },
      { colorSpace: 'rgb' as const },
      { passes: 1 },
    ]) {
      const m = means(mbdSaliency(img, o), 41, [14, 9, 11]);
      expect(m.inside - m.outside, JSON.stringify(o)).toBeGreaterThan(0.5);
    }
  });

  it('rejects bad inputs with the argument and the value', () => {
    const img = picture(10, 10, []);
    expect(() => mbdSaliency({ width: 10, height: 10, data: new Uint8Array(299) })).toThrow(
      'mbdSaliency: image.data must hold W·H·3 = 300 values (or W·H·4 = 400 for RGBA), got 299',
    );
    expect(() => mbdSaliency({ width: 0, height: 10, data: new Uint8Array(0) })).toThrow(
      'mbdSaliency: image.width must be an integer ≥ 1, got 0',
    );
    expect(() => mbdSaliency({ width: 10, height: 2.5, data: new Uint8Array(75) })).toThrow(
      'mbdSaliency: image.height must be an integer ≥ 1, got 2.5',
    );
    expect(() =>
      mbdSaliency({ width: 10, height: 10, data: new Float32Array(300) as unknown as Uint8Array }),
    ).toThrow('mbdSaliency: image.data must be a Uint8Array or Uint8ClampedArray, got Float32Array');
    expect(() => mbdSaliency(null as unknown as SaliencyImage)).toThrow(
      'mbdSaliency: image must be { width, height, data }, got null',
    );
    expect(() => mbdSaliency(img, { passes: 0 })).toThrow(
      'mbdSaliency: options.passes must be an integer ≥ 1, got 0',
    );
    expect(() => mbdSaliency(img, { maxSide: 2 })).toThrow(
      'mbdSaliency: options.maxSide must be an integer ≥ 3, got 2',
    );
    expect(() => mbdSaliency(img, { colorSpace: 'hsv' as 'lab' })).toThrow(
      "mbdSaliency: options.colorSpace must be 'lab' or 'rgb', got 'hsv'",
    );
    expect(() => mbdSaliency(img, { medianRadius: -1 })).toThrow(
      'mbdSaliency: options.medianRadius must be an integer ≥ 0, got -1',
    );
    expect(() => mbdSaliency(img, { borderRatio: 0 })).toThrow(
      'mbdSaliency: options.borderRatio must be a finite number > 0, got 0',
    );
    expect(() => mbdSaliency(img, { borderRatio: 0.6 })).toThrow(
      'mbdSaliency: options.borderRatio must be ≤ 0.5, got 0.6',
    );
    expect(() => mbdSaliency(img, { covarianceReg: 0 })).toThrow(
      'mbdSaliency: options.covarianceReg must be a finite number > 0, got 0',
    );
    expect(() => mbdSaliency(img, { smoothAlpha: Number.NaN })).toThrow(
      'mbdSaliency: options.smoothAlpha must be a finite number ≥ 0, got NaN',
    );
    expect(() => mbdSaliency(img, { contrast: -1 })).toThrow(
      'mbdSaliency: options.contrast must be a finite number ≥ 0, got -1',
    );
    expect(() => mbdSaliency(img, { backgroundness: 1 as unknown as boolean })).toThrow(
      'mbdSaliency: options.backgroundness must be true or false, got 1',
    );
  });
});
