/** Turning tensors read from a `.pth` file into tf tensors. */
import * as tf from '@tensorflow/tfjs-core';
import type { PthFile, TorchTensor } from './pth.js';

/**
 * Turns a `.pth` state dict into tf tensors, like `safetensorsToTensors`: float dtypes become float32, integer and
 * BOOL dtypes int32. The caller owns (and must dispose) the returned tensors.
 */
export function pthToTensors(file: PthFile | Map<string, TorchTensor>): Record<string, tf.Tensor> {
  const map = file instanceof Map ? file : file.tensors;
  const out: Record<string, tf.Tensor> = {};
  for (const [name, t] of map) {
    out[name] =
      t.data instanceof Float32Array || t.data instanceof Int32Array
        ? tf.tensor(t.data, t.shape)
        : tf.tensor(Int32Array.from(t.data), t.shape, 'int32');
  }
  return out;
}
