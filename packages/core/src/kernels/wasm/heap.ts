/**
 * Helpers for JS kernels that work in place on the wasm backend's heap: typed views of tensors, calling the
 * backend's registered (XNNPACK) kernels from inside ours, and freeing intermediates.
 */

import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import type { Conv2dGeometry } from '../../ops/conv2d.js';

export type { BackendWasm };

/** Float32 view of a tensor's heap memory. Take it again after any allocation: the heap may have grown. */
export function f32(backend: BackendWasm, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/**
 * Entries [start, start + count) along the first axis of a float32 tensor (all of it by default), copied into a
 * buffer of their own (e.g. some images of a batch, or a filter that must not share its buffer).
 */
export function copyRows(
  backend: BackendWasm,
  t: tf.TensorInfo,
  start = 0,
  count = t.shape[0]! - start,
): tf.TensorInfo {
  const out = backend.makeOutput([count, ...t.shape.slice(1)], 'float32');
  const per = tf.util.sizeFromShape(t.shape.slice(1));
  // views after the allocation: it may have grown (and so detached) the heap
  f32(backend, out).set(f32(backend, t).subarray(start * per, (start + count) * per));
  return out;
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

/**
 * The geometry of a tfjs conv gradient kernel's attributes (dilation 1; padding 'same' | 'valid' | number |
 * explicit), after checking the data format.
 */
export function tfjsConvGeometry(
  kernel: string,
  inShape: number[],
  filterShape: number[],
  attrs: { strides: number | [number, number]; pad: unknown; dataFormat: string; dimRoundingMode?: unknown },
): Conv2dGeometry {
  if (attrs.dataFormat !== 'NHWC')
    throw new Error(`${kernel} (wasm): dataFormat must be 'NHWC', got '${attrs.dataFormat}'`);
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
    false,
    'channelsLast',
  );
  return {
    strides: [info.strideHeight, info.strideWidth],
    dilations: [1, 1],
    pad: [info.padInfo.top, info.padInfo.bottom, info.padInfo.left, info.padInfo.right],
  };
}
