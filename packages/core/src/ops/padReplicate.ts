/**
 * `padReplicate(x, p)`: edge (replicate) padding of an NHWC tensor, PyTorch `F.pad(mode='replicate')`.
 * PAMR pads the image and the masks this way for every dilation (spec §3.6, §1.4); tf.mirrorPad only
 * reflects. On cpu and wasm a typed-array kernel does it (the slice/broadcast/concat composite took ~15 ms
 * per PAMR-sized pad on wasm); elsewhere the composite, whose autodiff accumulates the gradient of every
 * copy into the edge row/column it came from.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasSamplingKernels, PAD_REPLICATE, PAD_REPLICATE_GRAD } from '../kernels/sampling/index.js';

/** Padding sizes in pixels. */
export interface ReplicatePadding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

function checkPadding(p: number | ReplicatePadding): ReplicatePadding {
  const all: ReplicatePadding =
    typeof p === 'number' ? { top: p, bottom: p, left: p, right: p } : (p as ReplicatePadding);
  if (all == null || typeof all !== 'object') {
    throw new Error(`padReplicate: p must be a number or {top,bottom,left,right}, got ${String(p)}`);
  }
  for (const k of Object.keys(all)) {
    if (!['top', 'bottom', 'left', 'right'].includes(k)) {
      throw new Error(`padReplicate: unknown key '${k}' in p; expected top, bottom, left, right`);
    }
  }
  for (const k of ['top', 'bottom', 'left', 'right'] as const) {
    const v = all[k];
    if (!Number.isInteger(v) || v < 0) {
      throw new Error(`padReplicate: p.${k} must be a non-negative integer, got ${String(v)}`);
    }
  }
  return all;
}

/** Concatenates `before` copies of the first slice, x, and `after` copies of the last slice along `axis`. */
function replicateAxis(x: tf.Tensor4D, axis: 1 | 2, before: number, after: number): tf.Tensor4D {
  if (before === 0 && after === 0) return x;
  const shape = x.shape;
  const len = shape[axis];
  const edge = (at: number, count: number): tf.Tensor4D => {
    const begin: [number, number, number, number] = [0, 0, 0, 0];
    begin[axis] = at;
    const sz: [number, number, number, number] = [...shape];
    sz[axis] = 1;
    const target: [number, number, number, number] = [...shape];
    target[axis] = count;
    return tf.broadcastTo(tf.slice(x, begin, sz), target) as tf.Tensor4D;
  };
  const parts: tf.Tensor4D[] = [];
  if (before > 0) parts.push(edge(0, before));
  parts.push(x);
  if (after > 0) parts.push(edge(len - 1, after));
  return tf.concat(parts, axis);
}

/**
 * Pads x (N,H,W,C) by replicating its edge pixels: `p` pixels on every side, or `{top, bottom, left, right}`.
 * Corners take the corner pixel. Differentiable: the gradient of each padded pixel flows to its edge pixel.
 * @returns (N, H+top+bottom, W+left+right, C)
 */
export function padReplicate(x: tf.Tensor4D | tf.TensorLike, p: number | ReplicatePadding): tf.Tensor4D {
  const pad = checkPadding(p);
  const $x = x instanceof tf.Tensor ? x : tf.tensor(x as any);
  if ($x.rank !== 4) {
    if ($x !== x) $x.dispose();
    throw new Error(`padReplicate: x must be rank 4 (N,H,W,C), got rank ${$x.rank} (shape [${$x.shape}])`);
  }
  if (($x.shape[1] === 0 && pad.top + pad.bottom > 0) || ($x.shape[2] === 0 && pad.left + pad.right > 0)) {
    if ($x !== x) $x.dispose();
    throw new Error(`padReplicate: cannot replicate the edge of an empty dimension (x shape [${$x.shape}])`);
  }
  const x4 = $x as tf.Tensor4D;
  if (pad.top + pad.bottom + pad.left + pad.right === 0) {
    return $x === x ? tf.clone(x4) : x4;
  }
  const result = hasSamplingKernels() ? padKernel(x4, pad) : padReplicateComposite(x4, pad);
  if ($x !== x) $x.dispose();
  return result;
}

function padKernel(x: tf.Tensor4D, pad: ReplicatePadding): tf.Tensor4D {
  const [, h, w] = x.shape;
  const attrs = { ...pad } as unknown as tf.NamedAttrMap;
  const gradAttrs = { ...pad, inputHeight: h, inputWidth: w } as unknown as tf.NamedAttrMap;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.engine().runKernel(PAD_REPLICATE, { x: args[0] as tf.Tensor }, attrs) as tf.Tensor4D,
    gradFunc: (dy: tf.Tensor) => tf.engine().runKernel(PAD_REPLICATE_GRAD, { dy }, gradAttrs) as tf.Tensor,
  }));
  return op(x) as tf.Tensor4D;
}

/**
 * slice + broadcastTo + concat, for backends without the kernels.
 * @internal exported for tests
 */
export function padReplicateComposite(x: tf.Tensor4D, pad: ReplicatePadding): tf.Tensor4D {
  return tf.tidy(() => {
    const rows = replicateAxis(x, 1, pad.top, pad.bottom);
    return replicateAxis(rows, 2, pad.left, pad.right);
  });
}
