/**
 * Gradients of `tf.depthwiseConv2d` on the wasm backend, which ships neither
 * (DepthwiseConv2dNativeBackpropInput / …Filter). Filter [kh, kw, c, m], dy [n, ho, wo, c·m].
 *
 * - dX: the depthwise conv (XNNPACK) of dy, laid out as for the dense input gradient, with the spatially
 *   flipped filter seen as [kh, kw, c·m, 1], then the m multiplier channels of each input channel summed.
 * - dW: depthwise has no GEMM structure (each channel is its own 1×1 "matmul"), so per tap the window of x
 *   is cut out by a JS copy, multiplied with dy by the wasm Multiply kernel and reduced over positions by a
 *   ones · P GEMM (wasm's Sum over a leading axis would transpose first).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Conv2dGeometry } from '../../ops/conv2d.js';
import { gradInputLayout } from './conv2dBackpropInput.js';
import { type BackendWasm, callWasm, f32, view } from './heap.js';

function geometry(
  xShape: number[],
  filterShape: number[],
  attrs: tf.DepthwiseConv2dNativeBackpropInputAttrs | tf.DepthwiseConv2dNativeBackpropFilterAttrs,
): Conv2dGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  return {
    strides: [info.strideHeight, info.strideWidth],
    dilations: [info.dilationHeight, info.dilationWidth],
    pad: [info.padInfo.top, info.padInfo.bottom, info.padInfo.left, info.padInfo.right],
  };
}

function backpropInput({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}) {
  const b = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const inputShape = a.inputShape;
  const [kh, kw, c, m] = filter.shape as [number, number, number, number];
  const g = geometry(inputShape, filter.shape, a);
  // Flipped filter, one output channel per dy channel: [kh, kw, c·m, 1].
  const wf = b.makeOutput([kh, kw, c * m, 1], 'float32');
  {
    const src = f32(b, filter);
    const dst = f32(b, wf);
    const cm = c * m;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const s0 = ((kh - 1 - i) * kw + (kw - 1 - j)) * cm;
        dst.set(src.subarray(s0, s0 + cm), (i * kw + j) * cm);
      }
    }
  }
  const { input, pad, owned } = gradInputLayout(b, dy, kh, kw, inputShape, g);
  const full = callWasm(
    'DepthwiseConv2dNative',
    b,
    { x: input, filter: wf },
    {
      strides: [1, 1],
      dilations: g.dilations,
      pad,
      dimRoundingMode: undefined,
    },
  );
  if (owned) b.disposeData(input.dataId);
  b.disposeData(wf.dataId);
  if (m === 1) return full;
  const dx = b.makeOutput(inputShape, 'float32');
  const fv = f32(b, full);
  const xv = f32(b, dx);
  const size = xv.length;
  for (let p = 0; p < size; p++) {
    let acc = 0;
    for (let q = 0, s = p * m; q < m; q++) acc += fv[s + q]!;
    xv[p] = acc;
  }
  b.disposeData(full.dataId);
  return dx;
}

function backpropFilter({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}) {
  const b = backend as BackendWasm;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const filterShape = a.filterShape;
  const [kh, kw, c, m] = filterShape as [number, number, number, number];
  const g = geometry(x.shape, filterShape, a);
  const [n, h, w] = x.shape as [number, number, number, number];
  const [, ho, wo] = dy.shape as [number, number, number, number];
  const positions = n * ho * wo;
  const cm = c * m;
  const win = b.makeOutput([positions, c, 1], 'float32');
  const ones = b.makeOutput([1, positions], 'float32');
  f32(b, ones).fill(1);
  const out = new Float32Array(kh * kw * cm);
  const dy3 = view(dy, [positions, c, m]);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const wv = f32(b, win);
      const xv = f32(b, x);
      for (let bb = 0; bb < n; bb++) {
        for (let oy = 0; oy < ho; oy++) {
          const iy = oy * g.strides[0] + i * g.dilations[0] - g.pad[0];
          for (let ox = 0; ox < wo; ox++) {
            const ix = ox * g.strides[1] + j * g.dilations[1] - g.pad[2];
            const dst = ((bb * ho + oy) * wo + ox) * c;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) wv.fill(0, dst, dst + c);
            else {
              const src = ((bb * h + iy) * w + ix) * c;
              wv.set(xv.subarray(src, src + c), dst);
            }
          }
        }
      }
      const prod = callWasm('Multiply', b, { a: win, b: dy3 }, {});
      const red = callWasm(
        'BatchMatMul',
        b,
        { a: ones, b: view(prod, [positions, cm]) },
        {
          transposeA: false,
          transposeB: false,
        },
      );
      out.set(f32(b, red), (i * kw + j) * cm);
      b.disposeData(prod.dataId);
      b.disposeData(red.dataId);
    }
  }
  b.disposeData(win.dataId);
  b.disposeData(ones.dataId);
  const dw = b.makeOutput(filterShape, 'float32');
  f32(b, dw).set(out);
  return dw;
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: backpropInput as unknown as tf.KernelFunc,
};

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: backpropFilter as unknown as tf.KernelFunc,
};
