import { readFileSync } from 'node:fs';
import { bitDifferences } from '@wsss/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mbdSaliency, minimumBarrierDistance, type SaliencyImage } from './saliency.js';
import { simdMbd3, simdMedian5, simdSmooth } from './saliencyWasm.js';

/** Deterministic pseudo-random integers in [0, n). */
function lcg(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

/** A w×h 8-bit plane: blocks of levels with some noise, so medians and barriers are not trivial. */
function plane(w: number, h: number, seed: number, noise = 40): Uint8Array {
  const rnd = lcg(seed);
  const out = new Uint8Array(w * h);
  const block = 1 + rnd(7);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const base = ((Math.floor(x / block) * 7 + Math.floor(y / block) * 13) % 5) * 50;
      out[y * w + x] = Math.min(255, base + rnd(noise + 1));
    }
  return out;
}

const clamp = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));

/** The 5×5 median with replicated borders, by sorting each window. */
function bruteMedian5(src: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  const win: number[] = [];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      win.length = 0;
      for (let dy = -2; dy <= 2; dy++)
        for (let dx = -2; dx <= 2; dx++) win.push(src[clamp(y + dy, h) * w + clamp(x + dx, w)]!);
      win.sort((a, b) => a - b);
      out[y * w + x] = win[12]!;
    }
  return out;
}

/**
 * Opening then closing by reconstruction with a (2r+1)² square (windows clipped at the border), by definition: the
 * erosion by brute force, then the reconstruction as the fixed point of f ← min(g, max of f over the pixel and its
 * 8 neighbours).
 */
function bruteSmooth(level: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const byReconstruction = (g: Uint8Array) => {
    const f = new Uint8Array(w * h);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let m = 255;
        for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++)
          for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++)
            m = Math.min(m, g[yy * w + xx]!);
        f[y * w + x] = m;
      }
    for (let changed = true; changed; ) {
      changed = false;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          let m = f[y * w + x]!;
          for (let dy = -1; dy <= 1; dy++)
            for (let dx = -1; dx <= 1; dx++) {
              const yy = y + dy;
              const xx = x + dx;
              if (yy >= 0 && yy < h && xx >= 0 && xx < w) m = Math.max(m, f[yy * w + xx]!);
            }
          m = Math.min(m, g[y * w + x]!);
          if (m !== f[y * w + x]) {
            f[y * w + x] = m;
            changed = true;
          }
        }
    }
    return f.map((v) => 255 - v); // complemented, for the dual step
  };
  return byReconstruction(byReconstruction(level));
}

describe('saliency kernels (WebAssembly SIMD)', () => {
  it('runs here (Node ≥ 20 has WebAssembly SIMD), so the tests below check the SIMD code', () => {
    const p = plane(16, 3, 1);
    expect(simdMedian5(p, new Uint8Array(p.length), 16, 3, 1)).toBe(true);
  });

  it('each module is valid and under 4 KB, so browsers compile it synchronously on the main thread', () => {
    const source = readFileSync(new URL('./saliencyWasm.ts', import.meta.url), 'utf8');
    const modules = [...source.matchAll(/const ([A-Z]+_WASM) =\s*'([^']*)';/g)];
    expect(modules.map((m) => m[1]).sort()).toEqual([
      'BACKGROUND_WASM',
      'MBD_WASM',
      'MEDIAN_WASM',
      'SMOOTH_WASM',
    ]);
    for (const [, name, b64] of modules) {
      const bytes = Buffer.from(b64!, 'base64');
      expect(WebAssembly.validate(bytes), name).toBe(true);
      expect(bytes.length, name).toBeLessThan(4096); // Chrome refuses larger synchronous compiles there
    }
  });

  it('5×5 median: equals sorting every window, at odd widths (the last block overlaps) and several planes', () => {
    for (const [w, h, planes] of [
      [16, 1, 1],
      [16, 5, 2],
      [17, 9, 1],
      [31, 4, 3],
      [33, 23, 3],
      [100, 7, 1],
    ] as const) {
      const src = new Uint8Array(w * h * planes);
      for (let c = 0; c < planes; c++) src.set(plane(w, h, 10 * w + h + c, 255), c * w * h);
      const dst = new Uint8Array(w * h * planes).fill(7);
      expect(simdMedian5(src, dst, w, h, planes)).toBe(true);
      for (let c = 0; c < planes; c++) {
        const want = bruteMedian5(src.subarray(c * w * h, (c + 1) * w * h), w, h);
        expect(Array.from(dst.subarray(c * w * h, (c + 1) * w * h)), `${w}×${h} plane ${c}`).toEqual(
          Array.from(want),
        );
      }
    }
  });

  it('5×5 median: declines planes narrower than 16 pixels and writes nothing', () => {
    const dst = new Uint8Array(15 * 4).fill(9);
    expect(simdMedian5(plane(15, 4, 2), dst, 15, 4, 1)).toBe(false);
    expect(dst.every((v) => v === 9)).toBe(true);
  });

  it('FastMBD of three channels: the sum of the three single-channel barrier maps, exactly', () => {
    for (const [w, h, passes] of [
      [3, 3, 3],
      [4, 17, 1],
      [29, 11, 2],
      [40, 33, 3],
      [64, 48, 4],
    ] as const) {
      const n = w * h;
      const planes = new Uint8Array(3 * n);
      for (let c = 0; c < 3; c++) planes.set(plane(w, h, 100 + 3 * w + c, 120), c * n);
      const sum = new Int32Array(n).fill(-5);
      expect(simdMbd3(planes, w, h, passes, sum)).toBe(true);
      const want = new Float64Array(n);
      for (let c = 0; c < 3; c++) {
        const d = minimumBarrierDistance(planes.subarray(c * n, (c + 1) * n), w, h, passes);
        for (let i = 0; i < n; i++) want[i] = want[i]! + d[i]!;
      }
      expect(Array.from(sum), `${w}×${h}, ${passes} passes`).toEqual(Array.from(want));
    }
    // no interior pixel: declined
    expect(simdMbd3(new Uint8Array(3 * 16 * 2), 16, 2, 3, new Int32Array(32))).toBe(false);
  });

  it('smoothing by reconstruction: equals the definition (brute-force erosion, reconstruction to its fixed point)', () => {
    for (const [w, h, r, noise] of [
      [16, 1, 1, 255],
      [16, 16, 1, 60],
      [19, 13, 2, 255],
      [37, 29, 3, 90],
      [48, 20, 9, 120],
      [23, 5, 11, 200], // the square wider than the image
    ] as const) {
      const level = plane(w, h, 7 * w + r, noise);
      const want = bruteSmooth(level, w, h, r);
      const got = level.slice();
      expect(simdSmooth(got, w, h, r)).toBe(true);
      expect(Array.from(got), `${w}×${h}, r ${r}`).toEqual(Array.from(want));
    }
    expect(simdSmooth(new Uint8Array(15), 15, 1, 1)).toBe(false);
  });
});

describe('mbdSaliency without WebAssembly', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  it('gives the same bytes through its JS loops (odd sizes, RGBA, the switches that reach each kernel)', async () => {
    const rnd = lcg(5);
    const images: SaliencyImage[] = [];
    for (const [w, h, ch] of [
      [321, 321, 3],
      [97, 41, 4],
      [40, 30, 3],
      [15, 20, 3],
    ] as const) {
      const data = new Uint8Array(w * h * ch);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const inside = Math.abs(x - w / 2) < w / 5 && Math.abs(y - h / 2) < h / 4;
          for (let c = 0; c < ch; c++)
            data[(y * w + x) * ch + c] = inside ? 190 - 60 * c + rnd(20) : 60 + 30 * c + rnd(50);
        }
      images.push({ width: w, height: h, data });
    }
    const options = [
      {},
      { smoothAlpha: 150 },
      { medianRadius: 3, contrast: 0 },
      { colorSpace: 'rgb' as const },
    ];
    const withSimd = images.flatMap((im) => options.map((o) => mbdSaliency(im, o)));
    vi.resetModules();
    vi.stubGlobal('WebAssembly', undefined);
    const plain = await import('./saliency.js');
    const wasm = await import('./saliencyWasm.js');
    expect(wasm.simdMedian5(new Uint8Array(64), new Uint8Array(64), 16, 4, 1)).toBe(false);
    const withJs = images.flatMap((im) => options.map((o) => plain.mbdSaliency(im, o)));
    for (let k = 0; k < withSimd.length; k++)
      expect(bitDifferences(withJs[k]!, withSimd[k]!), `image ${k >> 2}, options ${k & 3}`).toBe('none');
  });
});
