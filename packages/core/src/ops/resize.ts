/**
 * `resizeBilinear(x, [h, w], { alignCorners })` with PyTorch `F.interpolate(mode='bilinear')` semantics
 * (spec §1.3): alignCorners true ↔ tf `alignCorners`; false ↔ tf `halfPixelCenters` (PyTorch's default
 * half-pixel mapping, source clamped at 0). The forward is tfjs's kernel; the gradient is our own because
 * tfjs's `ResizeBilinearGrad` ignores `halfPixelCenters` (wrong for align_corners=False) and its cpu version
 * returns H and W swapped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasSamplingKernels, RESIZE_BILINEAR_GRAD } from '../kernels/sampling/index.js';
import { lerpTable } from '../kernels/sampling/resizeBilinearCore.js';

/** Options of {@link resizeBilinear}. */
export interface ResizeBilinearOptions {
  /**
   * PyTorch's `align_corners`. Required: the method uses both conventions at different call sites (spec §1.3).
   */
  alignCorners: boolean;
}

/**
 * Bilinear resizing of x (N,H,W,C) to (N,h,w,C), matching PyTorch `F.interpolate(x, size=(h, w),
 * mode='bilinear', align_corners=alignCorners)` (no antialiasing). A 1×1 input is a pure broadcast (the
 * image-pooling branch, spec §1.3). Differentiable in x.
 */
export function resizeBilinear(
  x: tf.Tensor4D | tf.TensorLike,
  size: [number, number],
  opts: ResizeBilinearOptions,
): tf.Tensor4D {
  if (opts == null || typeof opts !== 'object') {
    throw new Error(`resizeBilinear: opts must be an object { alignCorners: boolean }, got ${String(opts)}`);
  }
  for (const k of Object.keys(opts)) {
    if (k !== 'alignCorners') throw new Error(`resizeBilinear: unknown option '${k}'; expected alignCorners`);
  }
  if (typeof opts.alignCorners !== 'boolean') {
    throw new Error(`resizeBilinear: opts.alignCorners must be a boolean, got ${String(opts.alignCorners)}`);
  }
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isInteger(s) && s > 0)) {
    throw new Error(
      `resizeBilinear: size must be [height, width] of positive integers, got ${JSON.stringify(size)}`,
    );
  }
  const $x = x instanceof tf.Tensor ? x : tf.tensor(x as any);
  if ($x.rank !== 4) {
    if ($x !== x) $x.dispose();
    throw new Error(`resizeBilinear: x must be rank 4 (N,H,W,C), got rank ${$x.rank} (shape [${$x.shape}])`);
  }
  const xf = ($x.dtype === 'float32' ? $x : tf.cast($x, 'float32')) as tf.Tensor4D;
  const [, h, w] = xf.shape;
  const [ho, wo] = size;
  let result: tf.Tensor4D;
  if (h === 1 && w === 1) {
    // Every output pixel reads the single input pixel in both conventions: a broadcast, whose gradient is the
    // spatial sum (given directly: tfjs's Tile gradient slices and adds every one of the ho·wo tiles).
    result = broadcastPixel(xf, ho, wo);
  } else {
    result = resizeWithGrad(xf, ho, wo, opts.alignCorners);
  }
  if (xf !== $x) xf.dispose();
  if ($x !== x) $x.dispose();
  return result;
}

/**
 * x (N,1,1,C) broadcast to (N,ho,wo,C); gradient: the sum of dy over the spatial axes. The broadcast is an add to
 * zeros: tfjs's broadcastTo runs Tile, ~10× slower on wasm (21 ms against 2 ms for 16×1×1×32 → 24×24).
 */
function broadcastPixel(x: tf.Tensor4D, ho: number, wo: number): tf.Tensor4D {
  const [n, , , c] = x.shape;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.tidy(() => tf.add(tf.zeros([n, ho, wo, c]), args[0] as tf.Tensor4D)),
    gradFunc: (dy: tf.Tensor) => tf.sum(dy, [1, 2], true),
  }));
  return op(x) as tf.Tensor4D;
}

function resizeWithGrad(x: tf.Tensor4D, ho: number, wo: number, alignCorners: boolean): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xx = args[0] as tf.Tensor4D;
    const [, h, w] = xx.shape;
    const value = tf.image.resizeBilinear(xx, [ho, wo], alignCorners, !alignCorners);
    return {
      value,
      gradFunc: (dy: tf.Tensor) => resizeBilinearBackward(dy as tf.Tensor4D, [h, w], alignCorners),
    };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * The gradient of {@link resizeBilinear} (the transposed interpolation): `dy` (N,ho,wo,C) of the resized output
 * back to the input's size `[h, w]`. For losses that differentiate by hand (e.g. {@link balancedMaskLoss}).
 * @internal
 */
export function resizeBilinearBackward(
  dy: tf.Tensor4D,
  [h, w]: [number, number],
  alignCorners: boolean,
): tf.Tensor4D {
  if (dy.shape[1] === h && dy.shape[2] === w) return tf.clone(dy);
  if (h === 1 && w === 1) return tf.sum(dy, [1, 2], true);
  return hasSamplingKernels()
    ? (tf.engine().runKernel(RESIZE_BILINEAR_GRAD, { dy }, {
        alignCorners,
        inputHeight: h,
        inputWidth: w,
      } as unknown as tf.NamedAttrMap) as tf.Tensor4D)
    : resizeBilinearGradComposite(dy, h, w, alignCorners);
}

/**
 * The transposed (in × out) interpolation matrix of one axis: column d holds the weights of the two taps of
 * output d. Built transposed on the host because tfjs's Transpose is slow on wasm.
 */
function interpolationMatrixT(inSize: number, outSize: number, alignCorners: boolean): tf.Tensor2D {
  const t = lerpTable(inSize, outSize, alignCorners);
  const m = new Float32Array(inSize * outSize);
  for (let d = 0; d < outSize; d++) {
    // i0 = i1 at the last pixel: the two weights add up there.
    m[t.i0[d]! * outSize + d] = m[t.i0[d]! * outSize + d]! + 1 - t.l1[d]!;
    m[t.i1[d]! * outSize + d] = m[t.i1[d]! * outSize + d]! + t.l1[d]!;
  }
  return tf.tensor2d(m, [inSize, outSize]);
}

/**
 * Gradient of the resize for backends without our kernel: resizing is separable, y = R_h · x · R_wᵀ per
 * channel, so dx = R_hᵀ · dy · R_w — two batched plain GEMMs with the transposed matrices built on the host.
 * @internal exported for tests
 */
export function resizeBilinearGradComposite(
  dy: tf.Tensor4D,
  h: number,
  w: number,
  alignCorners: boolean,
): tf.Tensor4D {
  const [n, ho, wo, c] = dy.shape;
  return tf.tidy(() => {
    const rhT = interpolationMatrixT(h, ho, alignCorners); // (h, ho)
    const rwT = interpolationMatrixT(w, wo, alignCorners); // (w, wo)
    // Rows: (1,h,ho) @ (n,ho,wo·c) → (n,h,wo·c).
    const rows = tf.matMul(tf.reshape(rhT, [1, h, ho]), tf.reshape(dy, [n, ho, wo * c]));
    // Columns: (1,w,wo) @ (n·h,wo,c) → (n·h,w,c).
    const cols = tf.matMul(tf.reshape(rwT, [1, w, wo]), tf.reshape(rows, [n * h, wo, c]));
    return tf.reshape(cols, [n, h, w, c]) as tf.Tensor4D;
  });
}
