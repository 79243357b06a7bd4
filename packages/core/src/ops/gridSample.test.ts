import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectClose,
  expectNoTensorGrowth,
  gradCheck,
  seededTensor,
  seededValues,
  TEST_BACKENDS,
  useBackend,
} from '../testing/index.js';
import { gridSample, gridSampleComposite } from './gridSample.js';
import { resizeBilinear } from './resize.js';

/** x (1,2,3,2): channel 0 is [[1,2,3],[4,5,6]], channel 1 is ten times channel 0. */
function tinyX(): tf.Tensor4D {
  const v: number[] = [];
  for (const a of [1, 2, 3, 4, 5, 6]) v.push(a, 10 * a);
  return tf.tensor4d(v, [1, 2, 3, 2]);
}

/** The grid (n,ho,wo,2) whose points are the given pixel coordinates (u along W, v along H) of an h×w input. */
function gridFromPixels(uv: number[][], h: number, w: number, ho: number, wo: number, n = 1, ac = true) {
  const g: number[] = [];
  for (const [u, v] of uv) {
    g.push(
      ac ? (2 * u!) / (w - 1) - 1 : (2 * u! + 1) / w - 1,
      ac ? (2 * v!) / (h - 1) - 1 : (2 * v! + 1) / h - 1,
    );
  }
  return tf.tensor4d(g, [n, ho, wo, 2]);
}

/** Points in pixel units kept ≥ 0.15 px from integer coordinates (finite differences must not cross a tap). */
function offPixelGrid(n: number, ho: number, wo: number, h: number, w: number, seed: number, ac: boolean) {
  const r = seededValues(n * ho * wo * 4, seed);
  const uv: number[][] = [];
  for (let i = 0; i < n * ho * wo; i++) {
    // integer part from −1 to size−1 (so some points sit half outside), fraction in [0.15, 0.85]
    const cu = Math.floor(((r[4 * i]! + 1) / 2) * (w + 1)) - 1;
    const cv = Math.floor(((r[4 * i + 1]! + 1) / 2) * (h + 1)) - 1;
    uv.push([cu + 0.5 + 0.35 * r[4 * i + 2]!, cv + 0.5 + 0.35 * r[4 * i + 3]!]);
  }
  return gridFromPixels(uv, h, w, ho, wo, n, ac);
}

/** PyTorch's base grid: gx(j) = −1 + 2j/(W−1), gy(i) = −1 + 2i/(H−1), computed in double precision. */
function identityGrid(n: number, h: number, w: number): tf.Tensor4D {
  const g = new Float32Array(n * h * w * 2);
  for (let p = 0; p < n * h * w; p++) {
    const j = p % w;
    const i = Math.floor(p / w) % h;
    g[2 * p] = -1 + (2 * j) / (w - 1);
    g[2 * p + 1] = -1 + (2 * i) / (h - 1);
  }
  return tf.tensor4d(g, [n, h, w, 2]);
}

/** Per-element weights for a scalar loss, so that every output and channel counts differently. */
function lossOf(y: tf.Tensor): tf.Scalar {
  return tf.sum(tf.mul(y, seededTensor(y.shape, 99)));
}

// PyTorch 1.13 reference (bench/torch/_samplingFixtures.py): x (1,3,4,2) NHWC with values
// ((i·7) mod 11 − 5)/4, dy ((i·5) mod 7 − 3)/2 over flat NHWC indices; the grid has points on pixels, on the
// corner, between pixels, half a pixel outside and far outside.
const TORCH_GRID = [
  -1, -1, -0.3, 0.2, 1, 1, 1.2, 0, -1.25, 0.5, 0.3333333, 0, 0.55, -0.85, -0.9, 1.3, 3, -2, 0, 0.9,
];
const TORCH = {
  true: {
    out: [
      -1.25, 0.5, -0.1625, -1.1625, -1.25, 0.5, 0.8749998, 0.175, -0.546875, 0.546875, 0.4999999, -0.5000001,
      0.5312498, -0.4687501, -0.44625, 0.49, 0, 0, 0.35, -0.65,
    ],
    dx: [
      -1.5, 1, 0, 0, 0.2868751, -0.2868751, 0.1381249, -0.1381249, 0.3125, 0, 0.0749999, -0.7349998,
      -0.8743749, 1.434375, -0.3256249, -1.074375, -0.58, 0.595, 0.5174999, 0.14, 0.675, 0.215, 1.5, 0.5,
    ],
    dgrid: [
      -0.5625, -0.125, -1.125, -0.25, 2.4375, 1.625, 1.5, 0.6124998, -1.3125, 0.15625, 0.5625, 0.125, 0, 0,
      -3.28125, -1.65625, 0, 0, 2.25, 0.5,
    ],
  },
  false: {
    out: [
      -0.3125, 0.125, -0.25, -0.9749999, -0.3125, 0.125, 0.1249999, 0.02499998, 0, 0, 0.6249999, -0.3750001,
      0.5074999, -0.2175, -0.0262501, 0.03500013, 0, 0, 0.24375, -0.4062501,
    ],
    dx: [
      -0.375, 0.25, 0, 0, 0.145, -0.145, 0.2175, -0.2175, 0, -0.07000001, 0, -0.6299999, -0.8333335, 1.25,
      -0.2166665, 0.0999999, -0.0525002, 0.00500012, 0.4875001, -0.1075, 0.4875001, 0.1625, 0.375, 0.125,
    ],
    dgrid: [
      2.375, 1.78125, 4, -0.375, 1.625, 1.21875, 2, 0.1312499, -1.625, 0, 0.75, 0.8749993, 0, 0.75, 0.2125008,
      -2.23125, 0, 0, 1.95, -0.375,
    ],
  },
};

function torchInputs() {
  const n = 24;
  const xv = Array.from({ length: n }, (_, i) => (((i * 7) % 11) - 5) / 4);
  const dyv = Array.from({ length: 20 }, (_, i) => (((i * 5) % 7) - 3) / 2);
  return {
    x: tf.tensor4d(xv, [1, 3, 4, 2]),
    grid: tf.tensor4d(TORCH_GRID, [1, 2, 5, 2]),
    dy: tf.tensor4d(dyv, [1, 2, 5, 2]),
  };
}

describe.each(TEST_BACKENDS)('gridSample on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('hand-computed values, alignCorners=true (u = gx+1, v = (gy+1)/2 on a 2×3 input)', () => {
    const grid = tf.tensor4d(
      [
        [-1, -1], // pixel (0,0) → 1
        [0, 0], // u=1, v=0.5 → (2+5)/2 = 3.5
        [0.5, 1], // u=1.5, v=1 → (5+6)/2 = 5.5
        [1, 1], // corner (2,1) → 6 (the taps beyond the edge have weight 0)
        [1.5, -1], // u=2.5: half a pixel outside → ½·3 = 1.5
        [-1.5, -1], // u=−0.5 → ½·1 = 0.5
        [5, 5], // far outside → 0
        [-0.75, 0.2], // u=0.25, v=0.6: 0.4·(0.75·1+0.25·2) + 0.6·(0.75·4+0.25·5) = 3.05
      ].flat(),
      [1, 2, 4, 2],
    );
    const y = gridSample(tinyX(), grid, { alignCorners: true });
    expect(y.shape).toEqual([1, 2, 4, 2]);
    const e = [1, 3.5, 5.5, 6, 1.5, 0.5, 0, 3.05];
    expectClose(
      y,
      e.flatMap((v) => [v, 10 * v]),
      { atol: 1e-5 },
    );
  });

  it('hand-computed values, alignCorners=false (u = ((gx+1)·3−1)/2, v = (gy+1) − ½)', () => {
    const grid = tf.tensor4d(
      [
        [-1, -1], // u=v=−½: only tap (0,0), weight ¼ → 0.25
        [1 / 3, 0.5], // u=1.5, v=1 → 5.5
        [0, 0], // u=1, v=½ → 3.5
        [1, 0], // u=2.5, v=½: ½·(½·3 + ½·6) = 2.25
      ].flat(),
      [1, 1, 4, 2],
    );
    const y = gridSample(tinyX(), grid, { alignCorners: false });
    const e = [0.25, 5.5, 3.5, 2.25];
    expectClose(
      y,
      e.flatMap((v) => [v, 10 * v]),
      { atol: 1e-5 },
    );
  });

  for (const ac of [true, false]) {
    it(`matches PyTorch grid_sample values and both gradients, alignCorners=${ac}`, () => {
      const { x, grid, dy } = torchInputs();
      const ref = TORCH[String(ac) as 'true' | 'false'];
      expectClose(gridSample(x, grid, { alignCorners: ac }), ref.out, { atol: 2e-6, what: 'out' });
      const [dx, dgrid] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(gridSample(a as tf.Tensor4D, b as tf.Tensor4D, { alignCorners: ac }), dy)),
      )([x, grid]);
      expectClose(dx!, ref.dx, { atol: 2e-6, what: 'dx' });
      expectClose(dgrid!, ref.dgrid, { atol: 1e-5, what: 'dgrid' });
    });
  }

  it('the identity grid (alignCorners=true) returns x', () => {
    const x = seededTensor([2, 5, 7, 3], 3) as tf.Tensor4D;
    expectClose(gridSample(x, identityGrid(2, 5, 7), { alignCorners: true }), x, { atol: 1e-5 });
  });

  it('a zero-flow 81×81 grid on a 41×41 input equals resizeBilinear(alignCorners=true) (spec §4.3)', () => {
    const x = seededTensor([2, 41, 41, 3], 5) as tf.Tensor4D;
    const warped = gridSample(x, identityGrid(2, 81, 81), { alignCorners: true });
    expectClose(warped, resizeBilinear(x, [81, 81], { alignCorners: true }), { atol: 1e-5 });
  });

  for (const ac of [true, false]) {
    it(`finite-difference gradients in x and grid at odd sizes, alignCorners=${ac}`, () => {
      const x = seededTensor([2, 5, 6, 3], 11);
      const grid = offPixelGrid(2, 3, 5, 5, 6, 12, ac);
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        gridSample(a as tf.Tensor4D, b as tf.Tensor4D, { alignCorners: ac });
      gradCheck(f, [x, grid], { eps: 1e-3, atol: 2e-3, rtol: 1e-2 });
    });
  }

  it('the composite fallback agrees with the kernel (values; gradients where tf.gather has one)', () => {
    const x = seededTensor([2, 4, 5, 3], 21) as tf.Tensor4D;
    const grid = seededTensor([2, 3, 6, 2], 22, 1.3) as tf.Tensor4D;
    for (const ac of [true, false]) {
      expectClose(gridSampleComposite(x, grid, ac), gridSample(x, grid, { alignCorners: ac }), {
        atol: 1e-5,
      });
      // wasm has no UnsortedSegmentSum yet (the gradient of tf.gather), so the composite's gradient is checked on cpu.
      if (backend === 'cpu') {
        const g1 = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          lossOf(gridSampleComposite(a as tf.Tensor4D, b as tf.Tensor4D, ac)),
        )([x, grid]);
        const g2 = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          lossOf(gridSample(a as tf.Tensor4D, b as tf.Tensor4D, { alignCorners: ac })),
        )([x, grid]);
        expectClose(g1[0]!, g2[0]!, { atol: 1e-5, what: 'dx' });
        expectClose(g1[1]!, g2[1]!, { atol: 1e-4, what: 'dgrid' });
      }
    }
  });

  it('casts int32 inputs, checks shapes and options', () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1], 'int32');
    expectClose(gridSample(x, tf.zeros([1, 1, 1, 2]) as tf.Tensor4D, { alignCorners: true }), [2.5]);
    const g = tf.zeros([1, 1, 1, 2]) as tf.Tensor4D;
    expect(() => gridSample(tf.zeros([2, 2, 1]) as any, g, { alignCorners: true })).toThrow(
      /x must be rank 4, got rank 3/,
    );
    expect(() => gridSample(x, tf.zeros([1, 1, 1, 3]) as tf.Tensor4D, { alignCorners: true })).toThrow(
      /grid must have shape \(N,Ho,Wo,2\), got \[1,1,1,3\]/,
    );
    expect(() => gridSample(x, tf.zeros([2, 1, 1, 2]) as tf.Tensor4D, { alignCorners: true })).toThrow(
      /grid batch 2 must equal x batch 1/,
    );
    expect(() => gridSample(x, g, {} as any)).toThrow(/alignCorners must be a boolean/);
    expect(() => gridSample(x, g, { alignCorners: true, padding: 'border' as any })).toThrow(
      /padding must be 'zeros'/,
    );
    expect(() => gridSample(x, g, { alignCorners: true, mode: 'nearest' } as any)).toThrow(
      /unknown option 'mode'/,
    );
  });

  it('leaves no tensors behind over repeated gradient steps', async () => {
    const x = seededTensor([1, 4, 5, 2], 31);
    const grid = seededTensor([1, 3, 3, 2], 32);
    await expectNoTensorGrowth(() => {
      const [dx, dg] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        lossOf(gridSample(a as tf.Tensor4D, b as tf.Tensor4D, { alignCorners: true })),
      )([x, grid]);
      dx!.dispose();
      dg!.dispose();
      gridSample(x.arraySync() as number[][][][], grid as tf.Tensor4D, { alignCorners: false }).dispose();
    });
  });
});

describe('gridSample: cpu and wasm agree', () => {
  it('on a random problem with points inside and outside, values and gradients', async () => {
    const results: Record<string, Float32Array[]> = {};
    for (const b of TEST_BACKENDS) {
      await useBackend(b);
      // Tensors out of tidy, typed arrays after it (tidy must not return typed arrays).
      const outs = tf.tidy(() => {
        const x = seededTensor([2, 9, 11, 5], 41);
        const grid = seededTensor([2, 7, 8, 2], 42, 1.2);
        const f = (a: tf.Tensor, g: tf.Tensor) =>
          lossOf(gridSample(a as tf.Tensor4D, g as tf.Tensor4D, { alignCorners: false }));
        const [dx, dg] = tf.grads(f)([x, grid]);
        const y = gridSample(x as tf.Tensor4D, grid as tf.Tensor4D, { alignCorners: true });
        return [y, dx!, dg!];
      });
      results[b] = outs.map((t) => t.dataSync() as Float32Array);
      tf.dispose(outs);
    }
    for (let i = 0; i < 3; i++)
      expectClose(results.wasm![i]!, results.cpu![i]!, { atol: 1e-5, what: `output ${i}` });
  });
});
