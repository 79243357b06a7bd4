import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  expectClose,
  expectNoTensorGrowth,
  gradCheck,
  seededTensor,
  TEST_BACKENDS,
  useBackend,
} from '../testing/index.js';
import { checkpointed } from '../training/recompute.js';
import { conv2d } from './conv2d.js';

/** x[r][c] = 1 + r·w + c, one image, one channel. */
function ramp(h: number, w: number): tf.Tensor4D {
  return tf.reshape(tf.add(tf.range(0, h * w), 1), [1, h, w, 1]);
}
const ones3 = () => tf.ones([3, 3, 1, 1]) as tf.Tensor4D;

/** Reference: tfjs' own conv2d after an explicit pad, strided subsampling of the stride-1 result. */
function reference(x: tf.Tensor4D, w: tf.Tensor4D, s: number, p: number, d: number): tf.Tensor4D {
  return tf.tidy(() => {
    const xp = tf.pad(x, [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ]);
    const y = tf.conv2d(xp, w, 1, 'valid', 'NHWC', d);
    if (s === 1) return y;
    return tf.stridedSlice(y, [0, 0, 0, 0], y.shape, [1, s, s, 1]) as tf.Tensor4D;
  });
}

// 7×9 input, 3×3 kernel; every (dilation, stride, padding) whose dilated kernel fits the padded input.
const CASES: { d: number; s: number; p: number }[] = [];
for (const d of [1, 2, 3]) for (const s of [1, 2]) for (const p of [0, 1, 2, 5]) CASES.push({ d, s, p });

for (const backend of TEST_BACKENDS) {
  describe(`conv2d on ${backend}`, () => {
    it('stride 2, padding 1 on an even input pads 1/1 like PyTorch (TF same would pad 0/1)', async () => {
      await useBackend(backend);
      const y = conv2d(ramp(4, 4), ones3(), { stride: 2, padding: 1 });
      // Windows rows/cols {-1..1, 1..3} of x = 1..16: 1+2+5+6, 2+3+4+6+7+8, 5+6+9+10+13+14, 6+…+16.
      expect(y.shape).toEqual([1, 2, 2, 1]);
      expectClose(y, [14, 30, 57, 99]);
    });

    it('dilation 2 with padding 2 and a bias, hand-computed', async () => {
      await useBackend(backend);
      const y = conv2d(ramp(5, 5), ones3(), { dilation: 2, padding: 2, bias: tf.tensor1d([0.5]) });
      expect(y.shape).toEqual([1, 5, 5, 1]);
      const v = y.dataSync();
      // Centre: x at rows/cols {0,2,4} = 1+3+5+11+13+15+21+23+25; corner: rows/cols {0,2} = 1+3+11+13.
      expect(v[12]).toBeCloseTo(117.5, 4);
      expect(v[0]).toBeCloseTo(28.5, 4);
      // (0, 1): rows {0, 2}, cols {-1, 1, 3} → 2+4+12+14.
      expect(v[1]).toBeCloseTo(32.5, 4);
    });

    it('hand-computed gradients of sum(y) for stride 2, padding 1', async () => {
      await useBackend(backend);
      const x = ramp(4, 4);
      const w = ones3();
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, { stride: 2, padding: 1 })),
      )([x, w]);
      // Windows cover rows {-1..1} and {1..3}: row 1 twice, rows 0, 2, 3 once; the same for columns.
      const cover = [1, 2, 1, 1];
      expectClose(
        dx!,
        cover.flatMap((r) => cover.map((c) => r * c)),
      );
      // dW[i][j] = Σ over the 4 outputs of x[2·oy + i − 1][2·ox + j − 1]: rows {1}, {0,2}, {1,3} for i = 0, 1, 2.
      expectClose(dw!, [6, 12, 14, 12, 24, 28, 20, 40, 44]);
    });

    it('matches tfjs conv2d (explicit pad + valid) for every dilation, stride and padding', async () => {
      await useBackend(backend);
      for (const { d, s, p } of CASES) {
        if (2 * d + 1 > 7 + 2 * p) continue;
        tf.tidy(() => {
          const x = seededTensor([2, 7, 9, 3], 1) as tf.Tensor4D;
          const w = seededTensor([3, 3, 3, 4], 2) as tf.Tensor4D;
          expectClose(conv2d(x, w, { stride: s, padding: p, dilation: d }), reference(x, w, s, p, d), {
            what: `d${d} s${s} p${p}`,
          });
        });
      }
    });

    it('rectangular kernel with per-axis stride, padding and dilation', async () => {
      await useBackend(backend);
      const x = seededTensor([1, 8, 7, 2], 3) as tf.Tensor4D;
      const w = seededTensor([2, 3, 2, 3], 4) as tf.Tensor4D;
      const y = conv2d(x, w, { stride: [2, 1], padding: [1, 2], dilation: [3, 2] });
      // Height: floor((8 + 2 − 3 − 1)/2) + 1 = 4; width: floor((7 + 4 − 4 − 1)/1) + 1 = 7.
      expect(y.shape).toEqual([1, 4, 7, 3]);
      const ref = tf.stridedSlice(
        tf.conv2d(
          tf.pad(x, [
            [0, 0],
            [1, 1],
            [2, 2],
            [0, 0],
          ]),
          w,
          1,
          'valid',
          'NHWC',
          [3, 2],
        ),
        [0, 0, 0, 0],
        [1, 7, 7, 3],
        [1, 2, 1, 1],
      );
      expectClose(y, ref);
      gradCheck(
        (a, b) =>
          conv2d(a as tf.Tensor4D, b as tf.Tensor4D, { stride: [2, 1], padding: [1, 2], dilation: [3, 2] }),
        [x, w],
        {
          maxElements: 24,
        },
      );
    });

    for (const { d, s, p } of CASES) {
      if (2 * d + 1 > 7 + 2 * p) continue;
      it(`finite-difference gradients of x, w, bias: 7×9, 3×3, dilation ${d}, stride ${s}, padding ${p}`, async () => {
        await useBackend(backend);
        const x = seededTensor([2, 7, 9, 2], 10 + d, 1);
        const w = seededTensor([3, 3, 2, 3], 20 + s, 0.5);
        const b = seededTensor([3], 30 + p);
        gradCheck(
          (xx, ww, bb) =>
            conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, {
              stride: s,
              padding: p,
              dilation: d,
              bias: bb as tf.Tensor1D,
            }),
          [x, w, b],
          { maxElements: 20 },
        );
        tf.dispose([x, w, b]);
      });
    }

    it('1×1 conv (stride 1, 2; padding 0, 1): values and gradients', async () => {
      await useBackend(backend);
      const x = seededTensor([2, 5, 7, 3], 5) as tf.Tensor4D;
      const w = seededTensor([1, 1, 3, 4], 6) as tf.Tensor4D;
      expectClose(conv2d(x, w, { stride: 2 }), tf.conv2d(x, w, 2, 'valid'));
      expectClose(conv2d(x, w, { padding: 1 }), reference(x, w, 1, 1, 1));
      for (const opts of [{ stride: 2 }, { stride: 1 }, { padding: 1 }]) {
        gradCheck((a, c) => conv2d(a as tf.Tensor4D, c as tf.Tensor4D, opts), [x, w], { maxElements: 30 });
      }
    });

    it('does not grow the tensor count over repeated gradient steps', async () => {
      await useBackend(backend);
      const x = seededTensor([1, 7, 9, 2], 1) as tf.Tensor4D;
      const w = tf.variable(seededTensor([3, 3, 2, 3], 2));
      const b = tf.variable(seededTensor([3], 3));
      for (const opts of [
        { dilation: 2, padding: 2 },
        { stride: 2, padding: 1 },
        { stride: 2, dilation: 2, padding: 4 },
      ]) {
        await expectNoTensorGrowth(() => {
          const { grads, value } = tf.variableGrads(() =>
            tf.sum(conv2d(x, w as unknown as tf.Tensor4D, { ...opts, bias: b as unknown as tf.Tensor1D })),
          );
          value.dispose();
          tf.dispose(Object.values(grads));
        });
      }
      tf.dispose([x, w, b]);
    });

    it('rejects bad arguments with messages naming them', async () => {
      await useBackend(backend);
      const x = tf.zeros([1, 5, 5, 2]) as tf.Tensor4D;
      const w = tf.zeros([3, 3, 2, 4]) as tf.Tensor4D;
      expect(() => conv2d(tf.zeros([5, 5, 2]) as unknown as tf.Tensor4D, w)).toThrow(
        /x must be rank 4.*got rank 3/,
      );
      expect(() => conv2d(x, tf.zeros([3, 3, 2]) as unknown as tf.Tensor4D)).toThrow(/w must be rank 4/);
      expect(() => conv2d(x, tf.zeros([3, 3, 3, 4]) as tf.Tensor4D)).toThrow(
        /w.shape\[2\] = 3.*x.shape\[3\] = 2/,
      );
      expect(() => conv2d(x, w, { dilation: 3 })).toThrow(
        /dilated kernel \(7×7\) is larger than the padded input \(5×5/,
      );
      expect(() => conv2d(x, w, { stride: 0 })).toThrow(/stride must be an integer ≥ 1.*got 0/);
      expect(() => conv2d(x, w, { padding: -1 })).toThrow(/padding must be an integer ≥ 0/);
      expect(() => conv2d(x, w, { bias: tf.zeros([3]) as tf.Tensor1D })).toThrow(
        /bias must be .* of 4.*\[3\]/,
      );
      expect(() => conv2d(x, w, { pad: 1 } as never)).toThrow(/unknown option 'pad'/);
    });
  });
}

describe('conv2d: wasm equals cpu', () => {
  // [x shape, w shape, option sets]. 17 wide: stride-1 filter gradients at dilation 1 and 2 take wasm's padded-width
  // im2col path (maps ≤ 32 wide); 20×22 with 8 channels: 'same', 'valid' and dilation 2 on that path with more
  // channels (larger sums, hence the looser tolerance).
  const cases: [number[], number[], Record<string, number>[]][] = [
    [
      [2, 11, 17, 5],
      [3, 3, 5, 6],
      [
        { padding: 1 },
        { dilation: 2, padding: 2 },
        { stride: 2, padding: 1 },
        { dilation: 3, padding: 5 },
        { stride: 2, dilation: 2, padding: 1 },
      ],
    ],
    [
      [2, 20, 22, 8],
      [3, 3, 8, 6],
      [{ padding: 1 }, { padding: 0 }, { dilation: 2, padding: 2 }],
    ],
  ];
  it.each(cases)('forward and all three gradients agree: x %j, w %j', async (xShape, wShape, optionSets) => {
    const results: Record<string, Float32Array[]> = {};
    for (const backend of TEST_BACKENDS) {
      await useBackend(backend);
      results[backend] = tf.tidy(() => {
        const x = seededTensor(xShape, 1);
        const w = seededTensor(wShape, 2);
        const b = seededTensor([wShape[3]!], 3);
        const r = seededTensor([2, 32, 32, wShape[3]!], 4);
        const out: Float32Array[] = [];
        for (const opts of optionSets) {
          const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
            const y = conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, { ...opts, bias: bb as tf.Tensor1D });
            return tf.sum(tf.mul(y, tf.slice(r, [0, 0, 0, 0], y.shape)));
          };
          const { value, grads } = tf.valueAndGrads(f)([x, w, b]);
          out.push(value.dataSync() as Float32Array, ...grads.map((g) => g.dataSync() as Float32Array));
        }
        return out;
      }) as unknown as Float32Array[];
    }
    const [cpu, wasm] = [results.cpu!, results.wasm!];
    for (let i = 0; i < cpu.length; i++) expectClose(wasm[i]!, cpu[i]!, { atol: 1e-3, what: `result ${i}` });
  });
});

describe('conv2d on wasm: no cached operator for a filter while gradients are recorded', () => {
  // wasm's Conv2D caches an XNNPACK operator, holding a packed copy of the filter, per filter buffer. Changing a
  // filter's values in place (never done by the library; here to observe the cache) shows whether one was kept.
  const scaleInPlace = (w: tf.Tensor, k: number) => {
    const b = tf.backend() as unknown as { typedArrayFromHeap(t: tf.Tensor): Float32Array };
    const v = b.typedArrayFromHeap(w);
    for (let i = 0; i < v.length; i++) v[i] = v[i]! * k;
  };

  it('an inference call keeps its operator; a taped call leaves none, and its result and gradient are the same', async () => {
    await useBackend('wasm');
    const x = seededTensor([1, 7, 6, 4], 1) as tf.Tensor4D;
    const cached = tf.variable(seededTensor([3, 3, 4, 5], 2) as tf.Tensor4D);
    const first = conv2d(x, cached, { padding: 1 });
    scaleInPlace(cached, 2);
    // the operator made by the first call still convolves with the old values: the cache is real
    expectClose(conv2d(x, cached, { padding: 1 }), first);

    const w = tf.variable(seededTensor([3, 3, 4, 5], 2) as tf.Tensor4D);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(conv2d(x, w, { padding: 1 }))), [w]);
    const plainGrad = tf.grad((f: tf.Tensor) =>
      tf.sum(tf.square(conv2d(x, f as tf.Tensor4D, { padding: 1 }))),
    )(tf.clone(w));
    expectClose(value, tf.sum(tf.square(first)), { rtol: 1e-6 });
    expectClose(grads[w.name]!, plainGrad, { rtol: 1e-6 });
    scaleInPlace(w, 2);
    // nothing was cached for w in the taped call: this call packs the new values
    expectClose(conv2d(x, w, { padding: 1 }), tf.mul(first, 2), { rtol: 1e-5 });

    // nor in a checkpointed segment, whose first forward runs untaped inside the step's custom gradient
    const v = tf.variable(seededTensor([3, 3, 4, 5], 2) as tf.Tensor4D);
    const segment = (t: tf.Tensor4D) => conv2d(t, v, { padding: 1 });
    tf.dispose(
      tf.variableGrads(() => tf.sum(checkpointed(segment, x, [v])), [v]) as unknown as tf.TensorContainer,
    );
    scaleInPlace(v, 2);
    expectClose(conv2d(x, v, { padding: 1 }), tf.mul(first, 2), { rtol: 1e-5 });
  });
});
