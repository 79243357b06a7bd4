import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './loader.js';

/** The tensors of one batch; the caller owns them and must dispose them (see {@link disposeBatchTensors}). */
export interface BatchTensors {
  /** (N, S, S, 3) normalised images. */
  images: tf.Tensor4D;
  /** (N, S, S, 3) [0,1] images for PAMR. */
  raw: tf.Tensor4D;
  /** (N, C) multi-hot labels. */
  labels: tf.Tensor2D;
  /** (N, S, S) int32 class indices, 255 = ignore. */
  masks?: tf.Tensor3D;
  /** With `masks`: 1 per image whose mask is real, 0 where it is the all-ignore fill (a plain array, not a tensor). */
  hasMask?: Uint8Array;
}

/** Turns a {@link Batch} into NHWC tensors (the only place this package creates tensors). */
export function batchToTensors(batch: Batch): BatchTensors {
  const n = batch.ids.length;
  const s = batch.size;
  const k = batch.labels.length / n;
  const out: BatchTensors = {
    images: tf.tensor4d(batch.images, [n, s, s, 3], 'float32'),
    raw: tf.tensor4d(batch.raw, [n, s, s, 3], 'float32'),
    labels: tf.tensor2d(batch.labels, [n, k], 'float32'),
  };
  if (batch.masks) {
    out.masks = tf.tensor3d(Int32Array.from(batch.masks), [n, s, s], 'int32');
    if (batch.hasMask) out.hasMask = batch.hasMask;
  }
  return out;
}

/** Disposes every tensor of a {@link BatchTensors}. */
export function disposeBatchTensors(t: BatchTensors): void {
  t.images.dispose();
  t.raw.dispose();
  t.labels.dispose();
  t.masks?.dispose();
}
