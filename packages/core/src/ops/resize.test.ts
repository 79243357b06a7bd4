import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectClose,
  expectNoTensorGrowth,
  gradCheck,
  seededTensor,
  TEST_BACKENDS,
  useBackend,
} from '../testing/index.js';
import { resizeBilinear, resizeBilinearGradComposite } from './resize.js';

/** [[1,2,3],[4,5,6]] as (1,2,3,1). */
const tiny = () => tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]);

// PyTorch 1.13 F.interpolate(mode='bilinear') reference (bench/torch/_samplingFixtures.py): x (1,3,4,2) NHWC
// with values ((i·7) mod 11 − 5)/4, dy ((i·5) mod 7 − 3)/2 over flat NHWC indices.
const TORCH: { size: [number, number]; ac: boolean; out: number[]; dx: number[] }[] = [
  {
    size: [5, 3],
    ac: true,
    out: [
      -1.25, 0.5, -0.125, 0.25, 1, 0, -1.125, 0.625, 0, -0.3125, 1.125, 0.125, -1, 0.75, 0.125, -0.875, 1.25,
      0.25, -0.875, 0.875, 0.25, -0.75, 0, 0.375, -0.75, 1, 0.375, -0.625, -1.25, 0.5,
    ],
    dx: [
      -1.75, 0.25, 0.25, -0.5, 0.25, -0.5, 1, 1.25, 1, -1, -0.625, 0.125, -0.625, 0.125, 0, -0.25, -0.25,
      1.75, 0.125, -0.625, 0.125, -0.625, -1, 1,
    ],
  },
  {
    size: [5, 3],
    ac: false,
    out: [
      -1.125, 0.625, -0.125, 0.2499999, 0.8750001, -0.1249999, -1.025, 0.5416666, -0.02499995, -0.2000001,
      0.975, -0.02499992, -0.8749999, 0.4166666, 0.125, -0.8749999, 1.125, 0.1250001, -0.725, 0.5666667,
      0.2750001, -0.7249999, -0.1000002, 0.2750001, -0.625, 0.6666666, 0.3750001, -0.6249999, -0.9166668,
      0.3750001,
    ],
    dx: [
      -1.5, 0.08333336, -8.940697e-8, -0.4833333, 0.4499999, -0.2666669, 0.7500001, 1.166667, 0.7499998,
      -0.75, -0.4999999, 0.04999998, -0.65, 0.1333334, -8.940697e-8, -0.3333333, -0.08333319, 1.5, 0.08333328,
      -0.3999999, -0.04999992, -0.5333335, -0.75, 0.8333334,
    ],
  },
  {
    size: [2, 7],
    ac: true,
    out: [
      -1.25, 0.5, -0.875, 0.875, -0.5, 1.25, -0.125, 0.25, 0.25, -0.75, 0.625, -0.375, 1, 0, -0.75, 1, -0.375,
      0, 0, -1, 0.375, -0.625, 0.75, -0.25, -0.25, 0.125, -1.25, 0.5,
    ],
    dx: [
      -1.5, 0.5, 1.25, -0.75, 0.25, 0, 0, 0.25, 0, 0, 0, 0, 0, 0, 0, 0, -1.5, 0.5, 1.25, -0.75, 0.25, 0, 0,
      0.25,
    ],
  },
  {
    size: [2, 7],
    ac: false,
    out: [
      -1.1875, 0.5625, -0.9196428, 0.5848214, -0.4910714, 0.6205357, -0.06249991, -0.03125016, 0.3660715,
      -0.6339285, 0.794643, -0.205357, 1.0625, 0.0625, -0.8125, 0.9375, -0.5446428, 0.2232142, -0.1160714,
      -0.9196429, 0.3125001, -0.6874999, 0.5937499, -0.2589285, -0.1562502, 0.169643, -0.625, 0.4375,
    ],
    dx: [
      -1.044643, 0.2946429, 0.857143, -0.4821427, 0.2410715, -0.1607146, -0.05357145, 0.3482145, -0.6964285,
      0.1964286, 0.5714287, -0.3214285, 0.1607143, -0.1071431, -0.03571431, 0.232143, -1.044643, 0.2946429,
      0.857143, -0.4821427, 0.2410715, -0.1607146, -0.05357145, 0.3482145,
    ],
  },
];

function torchX() {
  return tf.tensor4d(
    Array.from({ length: 24 }, (_, i) => (((i * 7) % 11) - 5) / 4),
    [1, 3, 4, 2],
  );
}
function torchDy(shape: number[]) {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Array.from({ length: n }, (_, i) => (((i * 5) % 7) - 3) / 2),
    shape,
  );
}

describe.each(TEST_BACKENDS)('resizeBilinear on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('alignCorners=true, 2×3 → 3×5: corners kept, midpoints averaged', () => {
    const y = resizeBilinear(tiny(), [3, 5], { alignCorners: true });
    expect(y.shape).toEqual([1, 3, 5, 1]);
    expectClose(y, [1, 1.5, 2, 2.5, 3, 2.5, 3, 3.5, 4, 4.5, 4, 4.5, 5, 5.5, 6]);
  });

  it('alignCorners=false, 2×3 → 4×6: half-pixel centres, source clamped at the edges', () => {
    // rows: src = (r+½)/2 − ½ = −¼→0, ¼, ¾, 1¼→row 1; columns likewise
    const y = resizeBilinear(tiny(), [4, 6], { alignCorners: false });
    expectClose(
      y,
      [
        [1, 1.25, 1.75, 2.25, 2.75, 3],
        [1.75, 2, 2.5, 3, 3.5, 3.75],
        [3.25, 3.5, 4, 4.5, 5, 5.25],
        [4, 4.25, 4.75, 5.25, 5.75, 6],
      ].flat(),
    );
  });

  it('alignCorners=false downsampling 4×4 → 2×2 averages 2×2 blocks (src = 0.5, 2.5)', () => {
    const x = tf.tensor4d(
      Array.from({ length: 16 }, (_, i) => i),
      [1, 4, 4, 1],
    );
    expectClose(resizeBilinear(x, [2, 2], { alignCorners: false }), [2.5, 4.5, 10.5, 12.5]);
  });

  it('degenerate sizes: output 1×1, size 1 with alignCorners, input 1×1 (broadcast)', () => {
    expectClose(resizeBilinear(tiny(), [1, 1], { alignCorners: true }), [1]); // src 0
    expectClose(resizeBilinear(tiny(), [1, 1], { alignCorners: false }), [3.5]); // src (½, 1)
    expectClose(resizeBilinear(tiny(), [1, 5], { alignCorners: true }), [1, 1.5, 2, 2.5, 3]);
    const one = tf.tensor4d([2, -3, 7, 1], [2, 1, 1, 2]);
    for (const ac of [true, false]) {
      const y = resizeBilinear(one, [3, 4], { alignCorners: ac });
      expect(y.shape).toEqual([2, 3, 4, 2]);
      expectClose(
        y,
        Array.from({ length: 48 }, (_, i) => [2, -3, 7, 1][(i % 2) + 2 * Math.floor(i / 24)]!),
      );
      // a non-uniform dy: the gradient is the spatial sum of dy per image and channel
      const dy = tf.reshape(tf.range(0, 48), [2, 3, 4, 2]);
      const [g] = tf.grads((a: tf.Tensor) =>
        tf.sum(tf.mul(resizeBilinear(a as tf.Tensor4D, [3, 4], { alignCorners: ac }), dy)),
      )([one]);
      expectClose(g!, [132, 144, 420, 432]);
    }
  });

  for (const ref of TORCH) {
    it(`matches PyTorch F.interpolate and its gradient, size ${ref.size}, alignCorners=${ref.ac}`, () => {
      const x = torchX();
      const y = resizeBilinear(x, ref.size, { alignCorners: ref.ac });
      expectClose(y, ref.out, { atol: 2e-6, what: 'out' });
      const dy = torchDy(y.shape);
      const [dx] = tf.grads((a: tf.Tensor) =>
        tf.sum(tf.mul(resizeBilinear(a as tf.Tensor4D, ref.size, { alignCorners: ref.ac }), dy)),
      )([x]);
      expectClose(dx!, ref.dx, { atol: 2e-6, what: 'dx' });
      // The composite gradient (other backends) agrees.
      expectClose(resizeBilinearGradComposite(dy as tf.Tensor4D, 3, 4, ref.ac), ref.dx, {
        atol: 2e-6,
        what: 'composite dx',
      });
    });
  }

  for (const ac of [true, false]) {
    for (const size of [
      [7, 9],
      [3, 2],
      [1, 4],
    ] as [number, number][]) {
      it(`finite-difference gradient, (2,5,4,3) → ${size}, alignCorners=${ac}`, () => {
        const x = seededTensor([2, 5, 4, 3], 51);
        gradCheck((a) => resizeBilinear(a as tf.Tensor4D, size, { alignCorners: ac }), [x], {
          maxElements: 120,
        });
      });
    }
  }

  it('checks its arguments', () => {
    const x = tiny();
    expect(() => resizeBilinear(tf.zeros([2, 3, 1]) as any, [2, 2], { alignCorners: true })).toThrow(
      /x must be rank 4 \(N,H,W,C\), got rank 3/,
    );
    expect(() => resizeBilinear(x, [0, 2], { alignCorners: true })).toThrow(
      /size must be \[height, width\] of positive integers, got \[0,2\]/,
    );
    expect(() => resizeBilinear(x, [2, 2], {} as any)).toThrow(/alignCorners must be a boolean/);
    expect(() => resizeBilinear(x, [2, 2], { alignCorners: true, halfPixelCenters: true } as any)).toThrow(
      /unknown option 'halfPixelCenters'/,
    );
  });

  it('leaves no tensors behind over repeated gradient steps', async () => {
    const x = seededTensor([1, 4, 5, 2], 61);
    await expectNoTensorGrowth(() => {
      for (const ac of [true, false]) {
        const [g] = tf.grads((a: tf.Tensor) =>
          tf.sum(resizeBilinear(a as tf.Tensor4D, [7, 3], { alignCorners: ac })),
        )([x]);
        g!.dispose();
      }
    });
  });
});
