/**
 * Balanced self-supervised mask cross-entropy (`balanced_mask_loss_ce`, spec §3.8), NHWC.
 */
import * as tf from '@tensorflow/tfjs-core';
import { resizeBilinear } from '../ops/resize.js';

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
    const y =
      logits.shape[1] === hh && logits.shape[2] === ww
        ? logits
        : resizeBilinear(logits, [hh, ww], { alignCorners: true });
    const counts = tf.sum(pseudoGt, [1, 2]); // n_c (N, C)
    const total = tf.sum(counts, 1, true); // n (N, 1)
    const classWeights = tf.div(tf.sub(total, counts), tf.add(total, 1)); // w_c (N, C)
    const present = tf.sum(tf.cast(tf.greater(counts, 0), 'float32'), 1);
    let gate = tf.cast(tf.equal(tf.add(tf.sum(labels, 1), 1), present), 'float32') as tf.Tensor1D;
    if (opts.trusted) gate = tf.maximum(gate, opts.trusted);
    const pixelClassWeights = tf.mul(pseudoGt, tf.reshape(classWeights, [n, 1, 1, c]));
    const nll = tf.neg(tf.logSoftmax(y, -1));
    const perSample = tf.mul(
      tf.div(tf.sum(tf.mul(pixelClassWeights, nll), [1, 2, 3]), hh * ww),
      gate,
    ) as tf.Tensor1D;
    return { loss: tf.mean(perSample) as tf.Scalar, perSample, gate };
  });
}
