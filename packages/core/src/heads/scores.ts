/**
 * The segmentation head's image-level path (spec §3.5): a constant background logit, a softmax over classes,
 * and class scores from the masks by normalised Global Weighted Pooling (nGWP) plus a focal mask penalty.
 * NHWC: logits and masks are (N, H, W, C) with channel 0 = background.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The focal mask penalty `(1 − m̄_c)^p · log(λ + m̄_c)` that {@link classScores} adds to the nGWP scores. */
export interface ClassScoreOptions {
  /** Focal penalty power p (FOCAL_P, spec §3.5). Default 3. */
  focalP?: number;
  /** Focal penalty offset λ (FOCAL_LAMBDA). Default 0.01 (0.1 for COCO per the reference config). */
  focalLambda?: number;
}

/**
 * Prepends the constant background logit 1 to foreground logits z (N,H,W,K) and applies a softmax over the
 * K+1 channels. Returns `{ logits: y (N,H,W,K+1), masks: m (N,H,W,K+1) }`.
 */
export function backgroundSoftmax(z: tf.Tensor4D): { logits: tf.Tensor4D; masks: tf.Tensor4D } {
  if (z.rank !== 4) throw new Error(`backgroundSoftmax: z must be rank 4 (N,H,W,K), got rank ${z.rank}`);
  return tf.tidy(() => {
    // the constant channel by padding with 1 (a native pad on wasm; tfjs-wasm's Concat is a JS loop)
    const logits = tf.pad(
      z,
      [
        [0, 0],
        [0, 0],
        [0, 0],
        [1, 0],
      ],
      1,
    ) as tf.Tensor4D;
    return { logits, masks: tf.softmax(logits, -1) as tf.Tensor4D };
  });
}

/**
 * Class scores from logits y and masks m = softmax(y), both (N,H,W,K+1) (spec §3.5):
 * nGWP `s_c = Σ_i y_c,i·m_c,i / (1 + Σ_i m_c,i)` plus the focal penalty `(1 − m̄_c)^p · log(λ + m̄_c)`, returned
 * for the foreground classes only → (N, K). Gradients flow through both y and m, as in the reference.
 */
export function classScores(
  logits: tf.Tensor4D,
  masks: tf.Tensor4D,
  opts: ClassScoreOptions = {},
): tf.Tensor2D {
  const { focalP = 3, focalLambda = 0.01 } = opts;
  if (!tf.util.arraysEqual(logits.shape, masks.shape)) {
    throw new Error(
      `classScores: logits [${logits.shape}] and masks [${masks.shape}] must have the same shape`,
    );
  }
  return tf.tidy(() => {
    const [n, h, w, c] = logits.shape;
    const y = tf.reshape(logits, [n, h * w, c]);
    const m = tf.reshape(masks, [n, h * w, c]);
    const mSum = tf.sum(m, 1);
    const ngwp = tf.div(tf.sum(tf.mul(y, m), 1), tf.add(mSum, 1));
    const mMean = tf.div(mSum, h * w);
    const focal = tf.mul(tf.pow(tf.sub(1, mMean), focalP), tf.log(tf.add(mMean, focalLambda)));
    return tf.slice(tf.add(ngwp, focal), [0, 1], [n, c - 1]) as tf.Tensor2D;
  });
}

/**
 * `MultiLabelSoftMarginLoss` (spec §3.8): per sample −(1/K) Σ_c [y_c·log σ(x_c) + (1 − y_c)·log σ(−x_c)],
 * averaged over the batch. `labels` is a multi-hot (N,K) float tensor.
 */
export function multiLabelSoftMarginLoss(scores: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  if (!tf.util.arraysEqual(scores.shape, labels.shape)) {
    throw new Error(
      `multiLabelSoftMarginLoss: scores [${scores.shape}] and labels [${labels.shape}] must have the same shape`,
    );
  }
  return tf.tidy(() => {
    // log σ(x) = −softplus(−x): stable for large |x|.
    const logSig = tf.neg(tf.softplus(tf.neg(scores)));
    const logSigNeg = tf.neg(tf.softplus(scores));
    const perClass = tf.add(tf.mul(labels, logSig), tf.mul(tf.sub(1, labels), logSigNeg));
    return tf.neg(tf.mean(perClass)) as tf.Scalar;
  });
}
