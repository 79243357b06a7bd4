import * as tf from '@tensorflow/tfjs-core';
import {
  expectClose,
  expectNoTensorGrowth,
  seededTensor,
  seededValues,
  TEST_BACKENDS,
  useBackend,
} from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { pamrComposite } from './composite.js';
import { pamr } from './index.js';
import { disableSimdPropagation, hasSimdPropagation } from './kernels/propagateWasm.js';
import { hasPamrKernel, PAMR_KERNEL } from './kernels/register.js';

/**
 * Scalar reference written independently of the kernels, the way the spec reads (§3.6): materialise the
 * replicate-padded image and masks for each dilation, collect the 9 samples per dilation, std over all of them,
 * affinities, softmax, and propagate. Nested arrays, float64 throughout.
 */
function referencePamr(
  image: Float32Array,
  masks: Float32Array,
  dims: [number, number, number, number, number],
  iterations: number,
  dilations: number[],
): Float64Array {
  const [n, h, w, k, c] = dims;
  const padded = (src: ArrayLike<number>, stride: number, b: number, d: number): number[][] => {
    const rows: number[][] = [];
    for (let y = -d; y < h + d; y++) {
      const row: number[] = [];
      for (let x = -d; x < w + d; x++) {
        const yy = y < 0 ? 0 : y >= h ? h - 1 : y;
        const xx = x < 0 ? 0 : x >= w ? w - 1 : x;
        row.push(src[((b * h + yy) * w + xx) * stride]!);
      }
      rows.push(row);
    }
    return rows;
  };
  const out = new Float64Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    // per channel, per dilation: the padded plane
    const imgPlanes = Array.from({ length: k }, (_, ch) =>
      dilations.map((d) => padded(image.subarray(ch), k, b, d)),
    );
    const alpha: number[][] = []; // [pixel][neighbour]
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const aSum: number[] = [];
        for (let ch = 0; ch < k; ch++) {
          const samples: number[] = [];
          const neighbours: number[] = [];
          dilations.forEach((d, di) => {
            const plane = imgPlanes[ch]![di]!;
            for (const dy of [-d, 0, d])
              for (const dx of [-d, 0, d]) {
                const v = plane[y + d + dy]![x + d + dx]!;
                samples.push(v);
                if (dy !== 0 || dx !== 0) neighbours.push(v);
              }
          });
          const mean = samples.reduce((s, v) => s + v, 0) / samples.length;
          const variance = samples.reduce((s, v) => s + (v - mean) ** 2, 0) / (samples.length - 1);
          const centre = image[((b * h + y) * w + x) * k + ch]!;
          neighbours.forEach((v, j) => {
            aSum[j] = (aSum[j] ?? 0) - Math.abs(centre - v) / (1e-8 + 0.1 * Math.sqrt(variance)) / k;
          });
        }
        const mx = Math.max(...aSum);
        const e = aSum.map((v) => Math.exp(v - mx));
        const z = e.reduce((s, v) => s + v, 0);
        alpha.push(e.map((v) => v / z));
      }
    }
    let cur = Float64Array.from(masks.subarray(b * h * w * c, (b + 1) * h * w * c));
    for (let it = 0; it < iterations; it++) {
      const next = new Float64Array(h * w * c);
      for (let ch = 0; ch < c; ch++) {
        const planes = dilations.map((d) => padded(cur.subarray(ch), c, 0, d));
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            let j = 0;
            let s = 0;
            dilations.forEach((d, di) => {
              for (const dy of [-d, 0, d])
                for (const dx of [-d, 0, d]) {
                  if (dy === 0 && dx === 0) continue;
                  s += alpha[y * w + x]![j++]! * planes[di]![y + d + dy]![x + d + dx]!;
                }
            });
            next[(y * w + x) * c + ch] = s;
          }
      }
      cur = next;
    }
    out.set(cur, b * h * w * c);
  }
  return out;
}

/** Softmax over the last axis of seeded logits: masks whose classes sum to 1 per pixel. */
function seededMasks(shape: number[], seed: number): tf.Tensor4D {
  return tf.tidy(() => tf.softmax(seededTensor(shape, seed, 3)) as tf.Tensor4D);
}

/** An image in [0,1]. */
function seededImage(shape: number[], seed: number): tf.Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(seededTensor(shape, seed), 0.5), 0.5) as tf.Tensor4D);
}

describe.each(TEST_BACKENDS)('pamr (%s)', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('uses the dedicated kernel on this backend', () => {
    expect(hasPamrKernel()).toBe(true);
  });

  it('hand-computed 3×3 case, 1 iteration, dilation [1]', () => {
    // Grey image (three equal channels): 0 everywhere but 1 at (2,2). Mask channel 0 = 1..9, channel 1 = 10 − it.
    const g = [0, 0, 0, 0, 0, 0, 0, 0, 1];
    const image = tf.tensor4d(
      g.flatMap((v) => [v, v, v]),
      [1, 3, 3, 3],
    );
    const m0 = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const masks = tf.tensor4d(
      m0.flatMap((v) => [v, 10 - v]),
      [1, 3, 3, 2],
    );
    for (const out of [
      pamr(image, masks, { iterations: 1, dilations: [1] }),
      pamrComposite(image, masks, 1, [1]),
    ]) {
      const v = out.dataSync();
      // (0,0): all 9 samples are 0 → σ = 0, every a = 0, α = 1/8. Replicate padding: taps read
      // (0,0)×3, (0,1)×2, (1,0)×2, (1,1) → (3·1 + 2·2 + 2·4 + 5)/8.
      expect(v[0]).toBeCloseTo(2.5, 6);
      expect(v[1]).toBeCloseTo(10 - 2.5, 6);
      // (1,1): samples = the whole image, mean 1/9, unbiased var 1/9 → σ = 1/3; only the tap at (2,2) differs:
      // a = −1/(1e-8 + 0.1/3), the other 7 taps a = 0.
      const e1 = Math.exp(-1 / (1e-8 + 0.1 / 3));
      expect(v[4 * 2]).toBeCloseTo((1 + 2 + 3 + 4 + 6 + 7 + 8 + 9 * e1) / (7 + e1), 6);
      // (2,2): taps (1,1),(1,2),(1,2),(2,1),(2,2),(2,1),(2,2),(2,2) → 4 of the 9 samples are 1: σ² = 5/18;
      // the three taps on (2,2) have a = 0, the five others a = −1/(1e-8 + 0.1·σ).
      const e2 = Math.exp(-1 / (1e-8 + 0.1 * Math.sqrt(5 / 18)));
      expect(v[8 * 2]).toBeCloseTo((3 * 9 + (5 + 6 + 6 + 8 + 8) * e2) / (3 + 5 * e2), 6);
      out.dispose();
    }
    tf.dispose([image, masks]);
  });

  it('matches an independent scalar reference (batch 2, 7×9, dilations [1,2,24], 3 iterations)', () => {
    const shape: [number, number, number, number, number] = [2, 7, 9, 3, 5];
    const image = seededImage([2, 7, 9, 3], 11);
    const masks = seededMasks([2, 7, 9, 5], 12);
    const expected = referencePamr(
      image.dataSync() as Float32Array,
      masks.dataSync() as Float32Array,
      shape,
      3,
      [1, 2, 24],
    );
    const out = pamr(image, masks, { iterations: 3, dilations: [1, 2, 24] });
    expect(out.shape).toEqual([2, 7, 9, 5]);
    expectClose(out, expected, { atol: 1e-6, rtol: 1e-5, what: 'kernel' });
    const comp = pamrComposite(image, masks, 3, [1, 2, 24]);
    expectClose(comp, expected, { atol: 1e-6, rtol: 1e-5, what: 'composite' });
    tf.dispose([image, masks, out, comp]);
  });

  it('default options on an odd size with a single image channel (1×5×11, K = 1)', () => {
    const image = seededImage([1, 5, 11, 1], 3);
    const masks = seededMasks([1, 5, 11, 3], 4);
    const expected = referencePamr(
      image.dataSync() as Float32Array,
      masks.dataSync() as Float32Array,
      [1, 5, 11, 1, 3],
      10,
      [1, 2, 4, 8, 12, 24],
    );
    const out = pamr(image, masks);
    expectClose(out, expected, { atol: 1e-6, rtol: 1e-5 });
    tf.dispose([image, masks, out]);
  });

  it('a two-region image with a noisy mask converges to the regions', () => {
    const [h, w] = [16, 16];
    const img = new Float32Array(h * w * 3);
    const m = new Float32Array(h * w * 2);
    const noise = seededValues(h * w, 5);
    const texture = seededValues(h * w * 3, 6);
    const region = (y: number, x: number) => (x + 0.5 * y < 10 ? 0 : 1);
    let wrongBefore = 0;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        const r = region(y, x);
        for (let ch = 0; ch < 3; ch++) {
          img[p * 3 + ch] = (r === 0 ? [0.8, 0.2, 0.3] : [0.1, 0.5, 0.9])[ch]! + 0.01 * texture[p * 3 + ch]!;
        }
        // P(true class) = 0.6 ± 0.3: a quarter of the pixels start on the wrong side of 0.5.
        const pTrue = 0.6 + 0.3 * noise[p]!;
        if (pTrue < 0.5) wrongBefore++;
        m[p * 2 + r] = pTrue;
        m[p * 2 + 1 - r] = 1 - pTrue;
      }
    expect(wrongBefore).toBeGreaterThan(20);
    const out = pamr(tf.tensor4d(img, [1, h, w, 3]), tf.tensor4d(m, [1, h, w, 2]));
    const v = out.dataSync();
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const r = region(y, x);
        const pTrue = v[(y * w + x) * 2 + r]!;
        // Averaging stays inside the region: every pixel ends near its region's mean (≈ 0.6).
        expect(pTrue, `pixel (${y},${x})`).toBeGreaterThan(0.5);
        expect(Math.abs(pTrue - 0.6)).toBeLessThan(0.12);
      }
    out.dispose();
  });

  it('is invariant to a constant added to the image (and to scaling it)', () => {
    const image = seededImage([1, 9, 7, 3], 21);
    const masks = seededMasks([1, 9, 7, 4], 22);
    const y0 = pamr(image, masks, { iterations: 4 });
    const shifted = tf.add(image, 0.375) as tf.Tensor4D;
    const scaled = tf.mul(image, 4) as tf.Tensor4D;
    const y1 = pamr(shifted, masks, { iterations: 4 });
    const y2 = pamr(scaled, masks, { iterations: 4 });
    // Float32 rounding of the shifted image changes differences by ~1e-7: tiny, but amplified by 1/(0.1σ).
    expectClose(y1, y0, { atol: 1e-4, rtol: 1e-4, what: 'image + c' });
    expectClose(y2, y0, { atol: 1e-5, rtol: 1e-5, what: 'image · 4' });
    tf.dispose([image, masks, y0, shifted, scaled, y1, y2]);
  });

  it('every iteration keeps the per-pixel class sum and the range of each class', () => {
    const image = seededImage([2, 6, 8, 3], 31);
    const masks = seededMasks([2, 6, 8, 6], 32);
    const m = masks.dataSync();
    for (const iterations of [1, 2, 5]) {
      const out = pamr(image, masks, { iterations });
      const sums = tf.sum(out, 3);
      expectClose(sums, tf.onesLike(sums), {
        atol: 2e-6,
        rtol: 0,
        what: `sum over classes after ${iterations}`,
      });
      const v = out.dataSync();
      for (let ch = 0; ch < 6; ch++) {
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (let i = ch; i < m.length; i += 6) {
          lo = Math.min(lo, m[i]!);
          hi = Math.max(hi, m[i]!);
        }
        for (let i = ch; i < v.length; i += 6) {
          expect(v[i]!).toBeGreaterThanOrEqual(lo - 1e-6);
          expect(v[i]!).toBeLessThanOrEqual(hi + 1e-6);
        }
      }
      tf.dispose([out, sums]);
    }
    tf.dispose([image, masks]);
  });

  it('edge sizes: 1×1 and 1×6 images, dilation 24 far beyond the image; 0 iterations is the (resized) mask', () => {
    const masks1 = seededMasks([1, 1, 1, 3], 41);
    const out1 = pamr(seededImage([1, 1, 1, 3], 40), masks1);
    expectClose(out1, masks1, { atol: 1e-6, rtol: 0, what: '1×1' }); // all taps are the pixel itself (α = 1/48)
    const image = seededImage([1, 1, 6, 3], 42);
    const masks = seededMasks([1, 1, 6, 2], 43);
    const expected = referencePamr(
      image.dataSync() as Float32Array,
      masks.dataSync() as Float32Array,
      [1, 1, 6, 3, 2],
      2,
      [24],
    );
    const out = pamr(image, masks, { iterations: 2, dilations: [24] });
    expectClose(out, expected, { atol: 1e-6, rtol: 1e-5, what: '1×6' });
    const small = seededMasks([1, 3, 4, 2], 44);
    const zero = pamr(seededImage([1, 5, 7, 3], 45), small, { iterations: 0 });
    expectClose(zero, tf.image.resizeBilinear(small, [5, 7], true), {
      atol: 1e-7,
      rtol: 0,
      what: '0 iterations',
    });
    tf.dispose([masks1, out1, image, masks, out, small, zero]);
  });

  it('has a zero gradient by design (the output is a constant of the inputs)', () => {
    const image = seededImage([1, 4, 5, 3], 51);
    const masks = seededMasks([1, 2, 3, 2], 52);
    const [gi, gm] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(pamr(a as tf.Tensor4D, b as tf.Tensor4D)),
    )([image, masks]);
    expect(gi!.shape).toEqual(image.shape);
    expect(gm!.shape).toEqual(masks.shape);
    expectClose(gi!, tf.zerosLike(image), { atol: 0, rtol: 0 });
    expectClose(gm!, tf.zerosLike(masks), { atol: 0, rtol: 0 });
    tf.dispose([image, masks, gi!, gm!]);
  });

  it('keeps the tensor count flat (kernel, resize path, composite)', async () => {
    const image = seededImage([2, 8, 9, 3], 61);
    const masks = seededMasks([2, 8, 9, 4], 62);
    const small = seededMasks([2, 4, 5, 4], 63);
    await expectNoTensorGrowth(() => pamr(image, masks, { iterations: 3 }).dispose());
    await expectNoTensorGrowth(() => pamr(image, small, { iterations: 2 }).dispose());
    await expectNoTensorGrowth(() => pamrComposite(image, masks, 3, [1, 2]).dispose());
    await expectNoTensorGrowth(() => pamr(image.arraySync(), masks.arraySync(), { iterations: 1 }).dispose());
    tf.dispose([image, masks, small]);
  });

  it('refuses bad inputs and options with messages naming them', () => {
    const image = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
    const masks = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    expect(() => pamr(tf.zeros([4, 4, 3]) as unknown as tf.Tensor4D, masks)).toThrow(
      /image must be rank 4 \(N,H,W,C\), got rank 3/,
    );
    expect(() => pamr(image, tf.zeros([2, 4, 4, 2]) as tf.Tensor4D)).toThrow(
      /image \[1,4,4,3\] and masks \[2,4,4,2\] must have the same batch size/,
    );
    expect(() => pamr(image, tf.zeros([1, 0, 4, 2]) as tf.Tensor4D)).toThrow(/masks must not be empty/);
    expect(() => pamr(image, masks, { iterations: -1 })).toThrow(
      /iterations must be a non-negative integer, got -1/,
    );
    expect(() => pamr(image, masks, { dilations: [] })).toThrow(/dilations must be a non-empty array/);
    expect(() => pamr(image, masks, { dilations: [1, 0.5] })).toThrow(/got \[1,0.5\]/);
    expect(() => pamr(image, masks, { iters: 3 } as never)).toThrow(
      /unknown option 'iters'; accepted options are iterations, dilations/,
    );
    tf.dispose([image, masks]);
  });
});

describe('pamr across backends', () => {
  it('falls back to the composite on a backend without the kernel', async () => {
    await useBackend('cpu');
    const image = seededImage([1, 6, 7, 3], 91);
    const masks = seededMasks([1, 3, 4, 5], 92);
    const withKernel = pamr(image, masks, { iterations: 3 });
    const config = tf.getKernel(PAMR_KERNEL, 'cpu')!;
    tf.unregisterKernel(PAMR_KERNEL, 'cpu');
    try {
      expect(hasPamrKernel()).toBe(false);
      const fallback = pamr(image, masks, { iterations: 3 });
      expectClose(fallback, withKernel, { atol: 1e-6, rtol: 1e-5, what: 'composite via the op' });
      fallback.dispose();
    } finally {
      tf.registerKernel(config);
    }
    expect(hasPamrKernel()).toBe(true);
    tf.dispose([image, masks, withKernel]);
  });

  it('the SIMD propagation and its scalar fallback give identical bits (C = 7, not a multiple of 4)', async () => {
    await useBackend('cpu');
    expect(hasSimdPropagation()).toBe(true);
    const image = seededImage([2, 11, 6, 3], 81);
    const masks = seededMasks([2, 11, 6, 7], 82);
    const simd = pamr(image, masks, { iterations: 5, dilations: [1, 3, 7] });
    disableSimdPropagation(true);
    try {
      const scalar = pamr(image, masks, { iterations: 5, dilations: [1, 3, 7] });
      expectClose(scalar, simd, { atol: 0, rtol: 0, what: 'scalar vs SIMD' });
      scalar.dispose();
    } finally {
      disableSimdPropagation(false);
    }
    tf.dispose([image, masks, simd]);
  });

  it('cpu kernel == wasm kernel == composite (batch 3, 13×10, default options)', async () => {
    // Inputs made once (on cpu) and carried over as arrays: the backends' own softmax differ in the last bit.
    await useBackend('cpu');
    const image0 = seededImage([3, 13, 10, 3], 71);
    const masks0 = seededMasks([3, 13, 10, 6], 72);
    const imageData = image0.dataSync().slice();
    const masksData = masks0.dataSync().slice();
    tf.dispose([image0, masks0]);
    const run = async (backend: 'cpu' | 'wasm') => {
      await useBackend(backend);
      const image = tf.tensor4d(imageData, [3, 13, 10, 3]);
      const masks = tf.tensor4d(masksData, [3, 13, 10, 6]);
      const k = pamr(image, masks);
      const c = pamrComposite(image, masks, 10, [1, 2, 4, 8, 12, 24]);
      const r = { kernel: k.dataSync().slice(), composite: c.dataSync().slice() };
      tf.dispose([image, masks, k, c]);
      return r;
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    expectClose(wasm.kernel, cpu.kernel, { atol: 0, rtol: 0, what: 'wasm vs cpu kernel' });
    expectClose(cpu.composite, cpu.kernel, { atol: 1e-6, rtol: 1e-5, what: 'cpu composite vs kernel' });
    expectClose(wasm.composite, cpu.kernel, { atol: 1e-6, rtol: 1e-5, what: 'wasm composite vs kernel' });
  });
});
