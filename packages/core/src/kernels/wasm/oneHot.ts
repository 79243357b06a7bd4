/**
 * OneHot on the wasm backend. tfjs-backend-wasm 4.22's own kernel writes int32 values whatever `dtype` asks for,
 * so `tf.oneHot(indices, depth, 1, 0, 'float32')` there holds the bit patterns of the integers 1 and 0 read as
 * floats (1.4e-45 for "on"): a mask built from it is all but zero. This one writes `onValue` / `offValue` in the
 * output's dtype. Indices outside [0, depth) give an all-`offValue` row, as in TensorFlow.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, i32 } from './heap.js';

function oneHot({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}) {
  const b = backend as BackendWasm;
  const { indices } = inputs as { indices: tf.TensorInfo };
  const { depth, onValue, offValue, dtype } = attrs as unknown as tf.OneHotAttrs;
  if (indices.dtype !== 'int32')
    throw new Error(`OneHot (wasm): indices must be int32, got ${indices.dtype}`);
  const out = b.makeOutput([...indices.shape, depth], dtype);
  const ov = b.typedArrayFromHeap(out);
  const ids = i32(b, indices);
  ov.fill(offValue);
  for (let i = 0; i < ids.length; i++) {
    const c = ids[i]!;
    if (c >= 0 && c < depth) ov[i * depth + c] = onValue;
  }
  return out;
}

export const oneHotConfig: tf.KernelConfig = {
  kernelName: tf.OneHot,
  backendName: 'wasm',
  kernelFunc: oneHot as unknown as tf.KernelFunc,
};
