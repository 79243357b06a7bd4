/**
 * `pamr(image, masks, opts)`: Pixel-Adaptive Mask Refinement (SSSS / WS-FCN, spec §3.6). Refines class masks
 * by repeatedly averaging each pixel's mask over 8·D neighbours at dilations D, weighted by an affinity computed
 * once from the image: neighbours whose colour is close (relative to the local colour spread) get most weight.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pamrComposite } from './composite.js';
import { hasPamrKernel, PAMR_KERNEL } from './kernels/register.js';

/** Options of {@link pamr} and of the {@link Pamr} layer. */
export interface PamrOptions {
  /** Number of refinement steps (`NET.PAMR_ITER`, spec §3.6). Non-negative integer. Default 10. */
  iterations: number;
  /** Neighbourhood dilations (`NET.PAMR_KERNEL`, spec §3.6). Non-empty, positive integers. Default [1,2,4,8,12,24]. */
  dilations: number[];
}

/**
 * Default options of {@link pamr} and the {@link Pamr} layer (spec §3.6): 10 iterations at dilations
 * 1, 2, 4, 8, 12, 24.
 */
export const PAMR_DEFAULTS: Readonly<PamrOptions> = Object.freeze({
  iterations: 10,
  dilations: [1, 2, 4, 8, 12, 24],
});

/**
 * Validates and fills options; unknown keys are an error.
 * @internal shared with the layer
 */
export function resolvePamrOptions(opts: Partial<PamrOptions> | undefined, who = 'pamr'): PamrOptions {
  if (opts != null && typeof opts !== 'object') {
    throw new Error(`${who}: opts must be an object { iterations?, dilations? }, got ${String(opts)}`);
  }
  for (const key of Object.keys(opts ?? {})) {
    if (key !== 'iterations' && key !== 'dilations') {
      throw new Error(`${who}: unknown option '${key}'; accepted options are iterations, dilations`);
    }
  }
  const iterations = opts?.iterations ?? PAMR_DEFAULTS.iterations;
  const dilations = opts?.dilations ?? PAMR_DEFAULTS.dilations;
  if (!Number.isInteger(iterations) || iterations < 0) {
    throw new Error(`${who}: iterations must be a non-negative integer, got ${String(iterations)}`);
  }
  if (
    !Array.isArray(dilations) ||
    dilations.length === 0 ||
    !dilations.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new Error(
      `${who}: dilations must be a non-empty array of positive integers, got ${JSON.stringify(dilations)}`,
    );
  }
  return { iterations, dilations: [...dilations] };
}

function toFloat4D(x: tf.Tensor | tf.TensorLike, name: string, owned: tf.Tensor[]): tf.Tensor4D {
  let t: tf.Tensor;
  if (x instanceof tf.Tensor) t = x;
  else {
    t = tf.tensor(x as any);
    owned.push(t);
  }
  if (t.rank !== 4) {
    throw new Error(`pamr: ${name} must be rank 4 (N,H,W,C), got rank ${t.rank} (shape [${t.shape}])`);
  }
  if (t.shape.some((s) => s === 0)) {
    throw new Error(`pamr: ${name} must not be empty, got shape [${t.shape}]`);
  }
  if (t.dtype !== 'float32') {
    t = tf.cast(t, 'float32');
    owned.push(t);
  }
  return t as tf.Tensor4D;
}

/**
 * The output is constant w.r.t. both inputs by design (the reference detaches its input, spec §3.6/§3.8): a zero
 * gradient for each, so PAMR can sit inside a trained graph without blocking or leaking gradients.
 */
function refine(image: tf.Tensor4D, masks: tf.Tensor4D, opts: PamrOptions): tf.Tensor4D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const img = args[0] as tf.Tensor4D;
    const msk = args[1] as tf.Tensor4D;
    const value = tf.tidy(() => {
      const [, h, w] = img.shape;
      // PAMR first brings the masks to the image's size: bilinear, align_corners=True (spec §3.6, §1.3; tfjs's
      // alignCorners forward equals PyTorch's). No gradient is needed, so tfjs's own resize is enough here.
      const m = msk.shape[1] === h && msk.shape[2] === w ? msk : tf.image.resizeBilinear(msk, [h, w], true);
      if (hasPamrKernel()) {
        return tf.engine().runKernel(PAMR_KERNEL, { image: img, masks: m }, {
          iterations: opts.iterations,
          dilations: opts.dilations,
        } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
      }
      return pamrComposite(img, m, opts.iterations, opts.dilations);
    });
    // From the shapes only: the inputs may have been disposed by the time the gradient runs (tfjs-layers frees
    // intermediates after the forward pass).
    const [imageShape, masksShape] = [img.shape, msk.shape];
    return { value, gradFunc: () => [tf.zeros(imageShape), tf.zeros(masksShape)] };
  });
  return f(image, masks) as tf.Tensor4D;
}

/**
 * Pixel-Adaptive Mask Refinement (spec §3.6).
 *
 * For every pixel i and every dilation d, the neighbours are the 8 pixels at offsets {−d,0,d}² \ {(0,0)}, read
 * with replicate (edge) padding (so 8·D neighbours for D dilations). From the image:
 * σ_k(i) = unbiased std of channel k over the 9·D samples (centre counted once per dilation),
 * a(i,j) = mean_k −|I_k(i) − I_k(j)| / (1e-8 + 0.1·σ_k(i)), α(i,·) = softmax_j a(i,j). Then `iterations` times
 * M_c(i) ← Σ_j α(i,j)·M_c(j). The affinity is invariant to adding a constant to the image and to scaling it;
 * each step is a convex combination, so per-pixel sums over classes (and the range of every class) are kept.
 *
 * Not differentiable by design: the output is treated as a constant; the gradient w.r.t. image and masks is
 * zero (the reference detaches its input). Runs as a dedicated kernel on `cpu` and `wasm` and as a composite of
 * tfjs ops elsewhere (webgpu, webgl, tensorflow).
 *
 * @param image (N,H,W,K) guide image, normally the raw RGB image in [0,1] (K = 3; spec §1.2) at the mask
 *   resolution. Any K ≥ 1 works (the affinity averages over channels).
 * @param masks (N,h,w,C) class masks (softmax probabilities in the method). If (h,w) ≠ (H,W) they are first
 *   resized to (H,W), bilinear with align-corners (spec §3.6).
 * @param opts `iterations` (default 10), `dilations` (default [1,2,4,8,12,24]).
 * @returns (N,H,W,C) refined masks, float32.
 */
export function pamr(
  image: tf.Tensor4D | tf.TensorLike,
  masks: tf.Tensor4D | tf.TensorLike,
  opts: Partial<PamrOptions> = {},
): tf.Tensor4D {
  const o = resolvePamrOptions(opts);
  const owned: tf.Tensor[] = [];
  try {
    const $image = toFloat4D(image, 'image', owned);
    const $masks = toFloat4D(masks, 'masks', owned);
    if ($image.shape[0] !== $masks.shape[0]) {
      throw new Error(
        `pamr: image [${$image.shape}] and masks [${$masks.shape}] must have the same batch size`,
      );
    }
    return refine($image, $masks, o);
  } finally {
    for (const t of owned) t.dispose();
  }
}
