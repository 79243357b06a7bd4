/** Each registered wasm kernel against the cpu backend's kernel of the same name, on odd shapes. */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { type Conv2dGeometry, conv2d } from '../../ops/conv2d.js';
import { expectClose, gradCheck, seededTensor, useBackend } from '../../testing/index.js';
import { conv2dFilterGradWasm } from './conv2dBackpropFilter.js';
import type { BackendWasm } from './heap.js';
import { registerWasmTrainingKernels } from './index.js';
import { splitVConfig } from './splitV.js';

/** Runs `f` on cpu and on wasm with the same inputs; returns both results as [shape, values]. */
async function onBoth(f: () => tf.Tensor): Promise<{ cpu: tf.Tensor; wasm: tf.Tensor }> {
  const out: tf.Tensor[] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const r = tf.tidy(f);
    out.push(tf.tensor(r.dataSync(), r.shape, r.dtype));
    r.dispose();
  }
  return { cpu: out[0]!, wasm: out[1]! };
}

async function expectSame(f: () => tf.Tensor, what: string, atol = 1e-4): Promise<void> {
  const { cpu, wasm } = await onBoth(f);
  expectClose(wasm, cpu, { atol, rtol: 1e-4, what });
  expect(Math.max(...(cpu.dataSync() as Float32Array).map(Math.abs))).toBeGreaterThan(0);
}

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];

const CONV_CASES: { x: number[]; f: number[]; s: number | [number, number]; pad: Pad }[] = [
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], s: 2, pad: 'same' },
  { x: [1, 8, 6, 2], f: [3, 3, 2, 5], s: 2, pad: 'same' }, // even sizes: TF pads 0 before, 1 after
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], s: 2, pad: 'valid' },
  { x: [1, 7, 9, 3], f: [5, 3, 3, 2], s: [2, 1], pad: 1 },
  {
    x: [1, 6, 7, 2],
    f: [3, 3, 2, 3],
    s: 1,
    pad: [
      [0, 0],
      [0, 2],
      [3, 1],
      [0, 0],
    ],
  },
  { x: [3, 5, 5, 4], f: [1, 1, 4, 3], s: 1, pad: 'valid' },
  { x: [1, 9, 7, 3], f: [1, 1, 3, 2], s: 2, pad: 'valid' },
  // stride > kernel: inputs read by no tap (their gradient is zero) in both directions
  { x: [2, 8, 10, 2], f: [2, 2, 2, 3], s: 3, pad: 'valid' },
];

describe('wasm training kernels against cpu', () => {
  it('registerWasmTrainingKernels is idempotent and registers every kernel', async () => {
    await useBackend('wasm');
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    for (const name of [
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'UnsortedSegmentSum',
      'MaxPoolGrad',
      'WsssConv2DBackpropFilter',
      'WsssConv2DBackpropInput',
      'SplitV',
    ]) {
      expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
    }
    // the replaced kernels are ours
    expect(tf.getKernel('SplitV', 'wasm')!.kernelFunc).toBe(splitVConfig.kernelFunc);
  });

  for (const { x, f, s, pad } of CONV_CASES) {
    const label = `x [${x}], filter [${f}], strides ${JSON.stringify(s)}, pad ${JSON.stringify(pad)}`;
    it(`Conv2DBackpropFilter and Conv2DBackpropInput: ${label}`, async () => {
      const info = tf.backend_util.computeConv2DInfo(x as never, f as never, s, 1, pad as never);
      const dyShape = [x[0]!, info.outHeight, info.outWidth, f[3]!];
      const common = { strides: s, pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
      await expectSame(
        () =>
          tf
            .engine()
            .runKernel('Conv2DBackpropFilter', { x: seededTensor(x, 1), dy: seededTensor(dyShape, 2) }, {
              ...common,
              filterShape: f,
            } as never) as tf.Tensor,
        `dW ${label}`,
      );
      await expectSame(
        () =>
          tf
            .engine()
            .runKernel('Conv2DBackpropInput', { dy: seededTensor(dyShape, 2), filter: seededTensor(f, 3) }, {
              ...common,
              inputShape: x,
            } as never) as tf.Tensor,
        `dX ${label}`,
      );
    });
  }

  it('gradients of plain tf.conv2d (stride 2, same, odd size) pass finite differences on wasm', async () => {
    await useBackend('wasm');
    gradCheck(
      (a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'),
      [seededTensor([1, 7, 6, 2], 4), seededTensor([3, 3, 2, 3], 5)],
    );
  });

  const DW_CASES: { x: number[]; f: number[]; s: number; d: number; pad: Pad }[] = [
    { x: [2, 7, 9, 3], f: [3, 3, 3, 1], s: 1, d: 1, pad: 'same' },
    { x: [2, 7, 9, 3], f: [3, 3, 3, 2], s: 2, d: 1, pad: 'same' },
    { x: [1, 8, 9, 2], f: [3, 3, 2, 1], s: 1, d: 2, pad: 'valid' },
    { x: [1, 7, 9, 4], f: [3, 2, 4, 3], s: 2, d: 1, pad: 1 },
  ];
  /** dW of a depthwise conv (multiplier 1) by definition: per tap, Σ over positions of window(x) · dy. */
  function depthwiseFilterGradReference(
    x: tf.Tensor4D,
    dy: tf.Tensor4D,
    k: number,
    s: number,
    d: number,
  ): tf.Tensor {
    const [n, ho, wo, c] = dy.shape;
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const win = tf.stridedSlice(
          x,
          [0, i * d, j * d, 0],
          [n, i * d + (ho - 1) * s + 1, j * d + (wo - 1) * s + 1, c],
          [1, s, s, 1],
        );
        taps.push(tf.sum(tf.mul(win, dy), [0, 1, 2]));
      }
    }
    return tf.reshape(tf.stack(taps), [k, k, c, 1]);
  }

  for (const { x, f, s, d, pad } of DW_CASES) {
    const label = `x [${x}], filter [${f}], stride ${s}, dilation ${d}, pad ${JSON.stringify(pad)}`;
    it(`DepthwiseConv2dNativeBackpropFilter and …Input: ${label}`, async () => {
      const info = tf.backend_util.computeConv2DInfo(
        x as never,
        f as never,
        s,
        d,
        pad as never,
        undefined,
        true,
      );
      const dyShape = [x[0]!, info.outHeight, info.outWidth, f[2]! * f[3]!];
      const common = { strides: s, dilations: d, pad, dimRoundingMode: undefined };
      const dW = () =>
        tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropFilter',
            { x: seededTensor(x, 1), dy: seededTensor(dyShape, 2) },
            { ...common, filterShape: f } as never,
          ) as tf.Tensor;
      if (d === 1) await expectSame(dW, `dW ${label}`);
      else {
        // tfjs-backend-cpu ignores the dilation in this kernel; compare with the definition instead.
        await useBackend('wasm');
        const ref = depthwiseFilterGradReference(
          seededTensor(x, 1) as tf.Tensor4D,
          seededTensor(dyShape, 2) as tf.Tensor4D,
          f[0]!,
          s,
          d,
        );
        expectClose(dW(), ref, { atol: 1e-4, what: `dW ${label}` });
      }
      const dX = () =>
        tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropInput',
            { dy: seededTensor(dyShape, 2), filter: seededTensor(f, 3) },
            { ...common, inputShape: x } as never,
          ) as tf.Tensor;
      if (d === 1) await expectSame(dX, `dX ${label}`);
      else {
        // cpu ignores the dilation here too; the reference is the gradient of per-channel wsss conv2d (valid).
        await useBackend('wasm');
        const dy = seededTensor(dyShape, 2);
        const filt = seededTensor(f, 3);
        const ref = tf.grad((xx: tf.Tensor) => {
          const outs = [];
          for (let c = 0; c < f[2]!; c++) {
            const xc = tf.slice(xx, [0, 0, 0, c], [-1, -1, -1, 1]) as tf.Tensor4D;
            const fc = tf.slice(filt, [0, 0, c, 0], [-1, -1, 1, 1]) as tf.Tensor4D;
            outs.push(conv2d(xc, fc, { dilation: d, stride: s }));
          }
          return tf.sum(tf.mul(tf.concat(outs, 3), dy));
        })(seededTensor(x, 1));
        expectClose(dX(), ref, { atol: 1e-4, what: `dX ${label}` });
      }
    });
  }

  it('SplitV: channel, middle and leading axes, sizes with -1, int32, runs above and below the block-copy size', async () => {
    const cases: [number[], number | number[], number, 'float32' | 'int32'][] = [
      [[2, 3, 4, 10], [3, 5, 2], 3, 'float32'],
      [[2, 3, 4, 10], 5, -1, 'float32'],
      [[2, 7, 4, 3], [2, -1, 4], 1, 'int32'],
      [[6, 3, 5], [1, 5], 0, 'float32'],
      [[2, 40, 3], [30, 10], 1, 'float32'], // runs of 90 (block copy) and 30 values
    ];
    for (const [shape, splits, axis, dtype] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const make = () =>
        tf.tensor(
          Array.from({ length: n }, (_, i) => i - 7),
          shape,
          dtype,
        );
      const parts: tf.Tensor[][] = [];
      for (const backend of ['cpu', 'wasm'] as const) {
        await useBackend(backend);
        const x = make();
        parts.push(tf.split(x, splits, axis).map((t) => tf.tensor(t.dataSync(), t.shape, t.dtype)));
      }
      const [cpu, wasm] = parts as [tf.Tensor[], tf.Tensor[]];
      expect(wasm.length).toBe(cpu.length);
      wasm.forEach((t, i) => {
        expect(t.shape, `${JSON.stringify(shape)} part ${i}`).toEqual(cpu[i]!.shape);
        expect(t.dtype).toBe(dtype);
        expect(Array.from(t.dataSync())).toEqual(Array.from(cpu[i]!.dataSync()));
      });
    }
  });

  it('UnsortedSegmentSum: float32 and int32, repeated ids, rank-3 rows', async () => {
    const ids = [3, 0, 3, 1, 5, 0, 3];
    await expectSame(
      () => tf.unsortedSegmentSum(seededTensor([7, 3, 5], 1), tf.tensor1d(ids, 'int32'), 6),
      'float32',
    );
    await expectSame(
      () =>
        tf.unsortedSegmentSum(
          tf.tensor2d([1, 2, 3, 4, 5, 6, 7], [7, 1], 'int32'),
          tf.tensor1d(ids, 'int32'),
          6,
        ),
      'int32',
    );
  });

  it("OneHot: the output dtype's values (wasm's own writes int32 bits into float32), out-of-range ids off", async () => {
    await useBackend('wasm');
    const ids = tf.tensor2d([0, 2, -1, 5, 1, 2], [2, 3], 'int32');
    const f = tf.oneHot(ids, 3, 1, 0, 'float32');
    expect([f.dtype, f.shape]).toEqual(['float32', [2, 3, 3]]);
    expect(Array.from(f.dataSync())).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(Array.from(tf.oneHot(tf.tensor1d([1, 0], 'int32'), 2, 2.5, -1, 'float32').dataSync())).toEqual([
      -1, 2.5, 2.5, -1,
    ]);
    await expectSame(() => tf.oneHot(tf.tensor1d([3, 0, 2, 7], 'int32'), 4), 'int32');
    tf.dispose([ids, f]);
  });

  it('UnsortedSegmentSum: hand-computed, ids outside [0, numSegments) dropped', async () => {
    await useBackend('wasm');
    const y = tf.unsortedSegmentSum(
      tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]),
      tf.tensor1d([2, -1, 0, 2], 'int32'),
      3,
    );
    expect(y.shape).toEqual([3, 2]);
    expectClose(y, [5, 6, 0, 0, 8, 10]);
  });

  it('gradient of tf.gather (odd shapes, repeated indices) on wasm equals cpu', async () => {
    await expectSame(
      () =>
        tf.grad((p: tf.Tensor) =>
          tf.sum(tf.mul(tf.gather(p, tf.tensor1d([4, 1, 1, 0, 4, 4], 'int32'), 0), seededTensor([6, 3], 2))),
        )(seededTensor([5, 3], 1)),
      'gather axis 0',
    );
    await expectSame(
      () =>
        tf.grad((p: tf.Tensor) =>
          tf.sum(tf.mul(tf.gather(p, tf.tensor1d([2, 0, 2], 'int32'), 1), seededTensor([4, 3, 5], 2))),
        )(seededTensor([4, 3, 5], 1)),
      'gather axis 1',
    );
  });

  for (const [filterSize, strides, pad] of [
    [2, 2, 'valid'],
    [3, 2, 'same'],
    [3, 1, 'same'],
    [2, 1, 'valid'],
  ] as const) {
    it(`MaxPoolGrad: filter ${filterSize}, stride ${strides}, ${pad} (wasm's own returns wrong values)`, async () => {
      const x = [2, 7, 9, 3];
      await expectSame(
        () =>
          tf.grad((a: tf.Tensor) =>
            tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, filterSize, strides, pad), 2.5)),
          )(seededTensor(x, 1)),
        `maxPool ${filterSize}/${strides}/${pad}`,
      );
    });
  }

  it('MaxPoolGrad: finite differences on wasm (valid pooling, no ties)', async () => {
    await useBackend('wasm');
    gradCheck((a) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), [seededTensor([2, 5, 7, 3], 3)], {
      eps: 1e-3,
      maxElements: 210,
    });
  });
});

describe('wasm filter gradient in parts', () => {
  it('a batch whose columns pass the cap is done a few images at a time: the same dW (stride 1 and 2, dilated)', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as unknown as BackendWasm;
    const cases: [number[], number[], Conv2dGeometry][] = [
      [[5, 9, 11, 3], [3, 3, 3, 4], { strides: [1, 1], dilations: [1, 1], pad: [1, 1, 1, 1] }],
      [[5, 9, 11, 3], [3, 3, 3, 4], { strides: [1, 1], dilations: [2, 2], pad: [2, 2, 2, 2] }],
      [[4, 9, 11, 3], [3, 3, 3, 2], { strides: [2, 2], dilations: [1, 1], pad: [1, 1, 1, 1] }],
    ];
    for (const [xShape, fShape, g] of cases) {
      const x = seededTensor(xShape, 3);
      const [n, h, w] = xShape as [number, number, number];
      const ho =
        Math.floor((h + g.pad[0] + g.pad[1] - g.dilations[0] * (fShape[0]! - 1) - 1) / g.strides[0]) + 1;
      const wo =
        Math.floor((w + g.pad[2] + g.pad[3] - g.dilations[1] * (fShape[1]! - 1) - 1) / g.strides[1]) + 1;
      const dy = seededTensor([n, ho, wo, fShape[3]!], 4);
      const info = (t: tf.Tensor) => ({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }) as tf.TensorInfo;
      const perImage = fShape[0]! * fShape[1]! * fShape[2]! * ho * wo * 4;
      const whole = conv2dFilterGradWasm(backend, info(x), info(dy), fShape, g);
      // two images a part: parts of 2, 2 and 1 (or 2 and 2)
      const parts = conv2dFilterGradWasm(backend, info(x), info(dy), fShape, g, 2 * perImage);
      const read = (t: tf.TensorInfo) => Array.from(backend.typedArrayFromHeap(t) as Float32Array);
      expectClose(read(parts), read(whole), { atol: 1e-5, rtol: 1e-5 });
      expect(read(whole).some((v) => v !== 0)).toBe(true);
      backend.disposeData(whole.dataId);
      backend.disposeData(parts.dataId);
      tf.dispose([x, dy]);
    }
  });
});
