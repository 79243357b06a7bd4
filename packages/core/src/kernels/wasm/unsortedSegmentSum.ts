/**
 * UnsortedSegmentSum on the wasm backend (which ships none); it is the gradient of `tf.gather`. A scatter-add
 * of rows: each input row is read once and added to its segment's row, O(size) work. (A one-hot GEMM would
 * use the fast matmul but costs numSegments times more.) Rows with an id outside [0, numSegments) are
 * dropped, as in TensorFlow.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, f32, i32 } from './heap.js';

function unsortedSegmentSum({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}) {
  const b = backend as BackendWasm;
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm): x must be float32 or int32, got ${x.dtype}`);
  }
  const idShape = segmentIds.shape;
  if (!tf.util.arraysEqual(x.shape.slice(0, idShape.length), idShape)) {
    throw new Error(
      `UnsortedSegmentSum (wasm): segmentIds shape [${idShape}] must be a prefix of x's shape [${x.shape}]`,
    );
  }
  const rows = tf.util.sizeFromShape(idShape);
  const rowSize = rows === 0 ? 0 : tf.util.sizeFromShape(x.shape) / rows;
  const out = b.makeOutput([numSegments, ...x.shape.slice(idShape.length)], x.dtype);
  const ov = x.dtype === 'float32' ? f32(b, out) : i32(b, out);
  const xv = x.dtype === 'float32' ? f32(b, x) : i32(b, x);
  const ids = i32(b, segmentIds);
  ov.fill(0);
  for (let r = 0; r < rows; r++) {
    const s = ids[r]!;
    if (s < 0 || s >= numSegments) continue;
    const src = r * rowSize;
    const dst = s * rowSize;
    for (let k = 0; k < rowSize; k++) ov[dst + k]! += xv[src + k]!;
  }
  return out;
}

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
};
