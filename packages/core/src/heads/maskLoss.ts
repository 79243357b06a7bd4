/**
 * Balanced self-supervised mask cross-entropy (`balanced_mask_loss_ce`, spec §3.8), NHWC.
 */
import * as tf from '@tensorflow/tfjs-core';
import { noGrad } from '../ops/noGrad.js';
import { resizeBilinearBackward } from '../ops/resize.js';

/** What {@link balancedMaskLoss} returns; the caller owns the three tensors. */
export interface BalancedMaskLossResult {
  /** Mean over the batch of the gated per-sample losses. */
  loss: tf.Scalar;
  /** Per-sample losses (N), after the gate. */
  perSample: tf.Tensor1D;
  /** Per-sample gate b ∈ {0,1}: every labelled class and the background appear in the pseudo GT. */
  gate: tf.Tensor1D;
}

/** Options of {@link balancedMaskLoss}. */
export interface BalancedMaskLossOptions {
  /**
   * (N) 1 for each image whose `pseudoGt` is a true mask (semi-supervised training): its gate is 1 whatever
   * classes the mask shows (the gate guards against incomplete pseudo labels, which a true mask is not).
   */
  trusted?: tf.Tensor1D;
}

/**
 * `logits` y (N,h,w,C) including the background channel, `pseudoGt` G (N,H,W,C) in {0,1} (one-hot or all-zero
 * per pixel), `labels` (N,C−1) multi-hot. y is upsampled bilinearly with align-corners to G's size when sizes
 * differ (spec §1.3). Per sample: n_c = Σ_i G_c(i), n = Σ_c n_c, w_c = (n − n_c)/(1 + n),
 * loss = b · (1/(H·W)) Σ_i Σ_c G_c(i)·w_c·(−log softmax(y(i))_c) — the mean runs over all pixels, ignored ones
 * included (spec §8.8). G, the weights and the gate carry no gradient.
 *
 * Memory: at full resolution only the target class and weight of each pixel are kept for the backward pass
 * (2 numbers a pixel); the upsampled logits and their softmax are recomputed there, so none of the (N,H,W,C)
 * tensors of the loss outlives the forward pass.
 */
export function balancedMaskLoss(
  logits: tf.Tensor4D,
  pseudoGt: tf.Tensor4D,
  labels: tf.Tensor2D,
  opts: BalancedMaskLossOptions = {},
): BalancedMaskLossResult {
  const [n, hh, ww, c] = pseudoGt.shape;
  if (logits.shape[0] !== n || logits.shape[3] !== c) {
    throw new Error(
      `balancedMaskLoss: logits [${logits.shape}] must have N=${n} and C=${c} like pseudoGt [${pseudoGt.shape}]`,
    );
  }
  if (labels.shape[0] !== n || labels.shape[1] !== c - 1) {
    throw new Error(`balancedMaskLoss: labels must have shape [${n}, ${c - 1}], got [${labels.shape}]`);
  }
  return tf.tidy(() => {
    // everything that comes from G: no gradient, nothing kept for the backward pass
    const { gate, target, weight } = noGrad(() => {
      const counts = tf.sum(pseudoGt, [1, 2]); // n_c (N, C)
      const total = tf.sum(counts, 1, true); // n (N, 1)
      const classWeights = tf.div(tf.sub(total, counts), tf.add(total, 1)); // w_c (N, C)
      const present = tf.sum(tf.cast(tf.greater(counts, 0), 'float32'), 1);
      let b = tf.cast(tf.equal(tf.add(tf.sum(labels, 1), 1), present), 'float32') as tf.Tensor1D;
      if (opts.trusted) b = tf.maximum(b, opts.trusted);
      return {
        gate: b,
        // G is one-hot or zero per pixel: its class, and its weight Σ_c G_c·w_c (0 on ignored pixels)
        target: tf.argMax(pseudoGt, -1) as tf.Tensor3D,
        weight: tf.sum(tf.mul(pseudoGt, tf.reshape(classWeights, [n, 1, 1, c])), -1) as tf.Tensor3D,
      };
    });
    const sums = weightedCrossEntropySum(logits, target, weight);
    const perSample = tf.mul(tf.div(sums, hh * ww), gate) as tf.Tensor1D;
    return { loss: tf.mean(perSample) as tf.Scalar, perSample, gate };
  });
}

/**
 * Per image, Σ_i weight(i)·(−log softmax(y↑(i))_target(i)) with y↑ the logits upsampled (align-corners) to the
 * targets' size: (N). The gradient with respect to the logits, weight·(softmax(y↑) − onehot(target)) brought back
 * through the upsampling, recomputes y↑ from the logits instead of keeping it.
 */
function weightedCrossEntropySum(logits: tf.Tensor4D, target: tf.Tensor3D, weight: tf.Tensor3D): tf.Tensor1D {
  const [n, h, w, c] = logits.shape;
  const [, hh, ww] = target.shape;
  const up = (y: tf.Tensor4D) =>
    h === hh && w === ww ? y : (tf.image.resizeBilinear(y, [hh, ww], true) as tf.Tensor4D);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const y = args[0] as tf.Tensor4D;
    (args[1] as tf.GradSaveFunc)([y, target, weight]);
    const value = tf.tidy(() => {
      const yUp = up(y);
      const picked = tf.sum(tf.mul(yUp, tf.oneHot(target, c)), -1);
      return tf.sum(tf.mul(weight, tf.sub(tf.logSumExp(yUp, -1), picked)), [1, 2]) as tf.Tensor1D;
    });
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [y0, t0, w0] = saved as [tf.Tensor4D, tf.Tensor3D, tf.Tensor3D];
        const scale = tf.expandDims(tf.mul(w0, tf.reshape(dy, [n, 1, 1])), -1);
        const dUp = tf.mul(tf.sub(tf.softmax(up(y0)), tf.oneHot(t0, c)), scale) as tf.Tensor4D;
        return resizeBilinearBackward(dUp, [h, w], true);
      },
    };
  });
  return op(logits) as tf.Tensor1D;
}
