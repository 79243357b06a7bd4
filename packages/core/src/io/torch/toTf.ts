/** Turning tensors read from a `.pth` file into tf tensors. */
import type * as tf from '@tensorflow/tfjs-core';
import { safetensorsToTensors } from '../safetensors.js';
import type { PthFile, TorchTensor } from './pth.js';

/**
 * Turns a `.pth` state dict into tf tensors, as `safetensorsToTensors` does: float dtypes become float32, integer and
 * BOOL dtypes int32. The caller owns (and must dispose) the returned tensors.
 */
export function pthToTensors(file: PthFile | Map<string, TorchTensor>): Record<string, tf.Tensor> {
  return safetensorsToTensors(file instanceof Map ? file : file.tensors);
}
