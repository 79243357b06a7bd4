/**
 * Helpers for JS kernels that work in place on the wasm backend's heap: typed views of tensors, calling the
 * backend's registered (XNNPACK) kernels from inside ours, and freeing intermediates.
 */

import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

export type { BackendWasm };

/** Float32 view of a tensor's heap memory. Take it again after any allocation: the heap may have grown. */
export function f32(backend: BackendWasm, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Int32 view of an int32 tensor's heap memory (same caveat as {@link f32}). */
export function i32(backend: BackendWasm, t: tf.TensorInfo): Int32Array {
  return backend.typedArrayFromHeap(t) as Int32Array;
}

/** Runs a kernel registered for `wasm` (e.g. Conv2D, BatchMatMul) and returns its output TensorInfo. */
export function callWasm(
  kernelName: string,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: Record<string, unknown>,
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`wasm kernel '${kernelName}' is not registered`);
  return kernel.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
}

/** The same data under another shape (no copy, no reference taken: do not dispose both). */
export function view(t: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}
