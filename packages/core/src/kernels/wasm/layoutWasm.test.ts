import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../testing/index.js';
import { type BackendWasm, f32 } from './heap.js';
import { simdIm2colRuns, simdToChannelMajor } from './layoutWasm.js';

describe('filter gradient layout copy (WebAssembly SIMD on the heap)', () => {
  it('toChannelMajor equals the element loop; the padding is left as it was (odd widths, offsets, cut rows)', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as unknown as BackendWasm;
    // [n, h, w, ci, pt, pl, far padding rows, far padding cols, yEnd, xEnd]
    for (const [n, h, w, ci, pt, pl, pb, pr, yEnd, xEnd] of [
      [1, 1, 1, 4, 0, 0, 0, 0, 1, 1],
      [2, 3, 7, 8, 1, 1, 1, 1, 3, 7],
      [1, 5, 9, 12, 2, 3, 2, 3, 5, 9],
      [3, 4, 13, 4, 0, 2, 0, 0, 4, 11], // the far side cut: columns past wp are never read
      [2, 6, 4, 16, 1, 0, 0, 1, 5, 4],
    ] as const) {
      const hp = pt + Math.min(h, yEnd) + pb;
      const wp = pl + Math.min(w, xEnd) + pr;
      const plane = hp * wp;
      const values = Float32Array.from({ length: n * h * w * ci }, (_, i) => i * 0.5 - 3);
      const x = tf.tensor4d(values, [n, h, w, ci]);
      const xt = tf.fill([ci * n * plane], -7);
      const want = new Float32Array(ci * n * plane).fill(-7);
      for (let b = 0; b < n; b++)
        for (let y = 0; y < yEnd; y++)
          for (let xx = 0; xx < xEnd; xx++)
            for (let c = 0; c < ci; c++)
              want[c * n * plane + b * plane + (y + pt) * wp + pl + xx] =
                values[((b * h + y) * w + xx) * ci + c]!;
      const ok = simdToChannelMajor(
        backend,
        f32(backend, x),
        f32(backend, xt),
        [n, h, w, ci],
        plane,
        wp,
        pt,
        pl,
        yEnd,
        xEnd,
      );
      expect(ok).toBe(true);
      expect(Array.from(f32(backend, xt)), `${[n, h, w, ci]}`).toEqual(Array.from(want));
      tf.dispose([x, xt]);
    }
    // channel counts that are not a multiple of 4 stay with the JS loop
    const x3 = tf.zeros([1, 2, 2, 3]);
    expect(
      simdToChannelMajor(backend, f32(backend, x3), f32(backend, x3), [1, 2, 2, 3], 4, 2, 0, 0, 2, 2),
    ).toBe(false);
    x3.dispose();
  });

  it('im2colRuns equals the per-row copies: row runs and whole-block runs, dilation 2, lengths not a multiple of 4', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as unknown as BackendWasm;
    // [kh, kw, dh, dw, ci, n, ho, wo]
    for (const [kh, kw, dh, dw, ci, n, ho, wo] of [
      [3, 3, 1, 1, 2, 2, 5, 7],
      [3, 3, 2, 2, 3, 1, 4, 9],
      [1, 3, 1, 3, 1, 3, 6, 5],
    ] as const) {
      const hp = ho + (kh - 1) * dh;
      const wp = wo + (kw - 1) * dw;
      const plane = hp * wp;
      for (const [runs, len, stride] of [
        [ho, wo, wp],
        [1, ho * wp - (kw - 1) * dw, 0], // a whole block, kept inside the plane
      ] as const) {
        const xtValues = Float32Array.from({ length: ci * n * plane }, (_, i) => i + 0.25);
        const xt = tf.tensor1d(xtValues);
        const total = kh * kw * ci * n * runs * len;
        const cols = tf.fill([total + 4], -1);
        const want = new Float32Array(total + 4).fill(-1);
        let d = 0;
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++)
            for (let cb = 0; cb < ci * n; cb++)
              for (let r = 0; r < runs; r++)
                for (let e = 0; e < len; e++)
                  want[d++] = xtValues[cb * plane + i * dh * wp + j * dw + r * stride + e]!;
        const ok = simdIm2colRuns(
          backend,
          f32(backend, xt),
          f32(backend, cols),
          [kh, kw, dh, dw],
          ci,
          n,
          plane,
          wp,
          runs,
          len,
          stride,
        );
        expect(ok).toBe(true);
        expect(Array.from(f32(backend, cols)), `${[kh, kw, dh, dw, ci, n, ho, wo]} runs ${runs}`).toEqual(
          Array.from(want),
        );
        tf.dispose([xt, cols]);
      }
    }
  });
});
