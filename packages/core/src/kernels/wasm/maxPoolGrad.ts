/**
 * MaxPoolGrad for the wasm backend. tfjs-backend-wasm 4.22 registers one, but it returns wrong values (zeros
 * where the finite-difference gradient is not, even for 'valid' 2×2 pooling; see maxPoolGrad.test.ts), so
 * this replaces it. Each dy element goes to the first maximum of its window in row-major order (padding
 * never wins), as in TensorFlow. Pure data movement: one scan per window, no arithmetic to hand to XNNPACK.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, f32 } from './heap.js';

function maxPoolGrad({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}) {
  const b = backend as BackendWasm;
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo } = info;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const dx = b.makeOutput(input.shape, 'float32');
  const xv = f32(b, input);
  const dv = f32(b, dy);
  const out = f32(b, dx);
  out.fill(0);
  for (let bb = 0; bb < n; bb++) {
    for (let oy = 0; oy < ho; oy++) {
      const y0 = oy * sh - info.padInfo.top;
      const ya = Math.max(0, y0);
      const yb = Math.min(h, y0 + fh);
      for (let ox = 0; ox < wo; ox++) {
        const x0 = ox * sw - info.padInfo.left;
        const xa = Math.max(0, x0);
        const xb = Math.min(w, x0 + fw);
        const dyBase = ((bb * ho + oy) * wo + ox) * c;
        for (let ch = 0; ch < c; ch++) {
          let best = -1;
          let bestVal = Number.NEGATIVE_INFINITY;
          for (let y = ya; y < yb; y++) {
            for (let x = xa; x < xb; x++) {
              const idx = ((bb * h + y) * w + x) * c + ch;
              const v = xv[idx]!;
              // `best < 0`: a window of only -Infinity/NaN still routes its gradient somewhere, like TF.
              if (v > bestVal || best < 0) {
                bestVal = v;
                best = idx;
              }
            }
          }
          if (best >= 0) out[best]! += dv[dyBase + ch]!;
        }
      }
    }
  }
  return dx;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
