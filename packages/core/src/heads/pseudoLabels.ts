/**
 * Mask cleaning and pseudo ground truth (spec §3.7), NHWC with channel 0 = background.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Zeroes the foreground channels of classes absent from the image labels; background untouched (spec §3.7.1). */
export function cleanMasks(masks: tf.Tensor4D, labels: tf.Tensor2D): tf.Tensor4D {
  const [n, , , c] = masks.shape;
  if (labels.rank !== 2 || labels.shape[0] !== n || labels.shape[1] !== c - 1) {
    throw new Error(
      `cleanMasks: labels must have shape [${n}, ${c - 1}] for masks [${masks.shape}], got [${labels.shape}]`,
    );
  }
  return tf.tidy(() => {
    const gate = tf.reshape(tf.concat([tf.ones([n, 1]), labels], 1), [n, 1, 1, c]);
    return tf.mul(masks, gate) as tf.Tensor4D;
  });
}

/**
 * Threshold factors and floor of {@link pseudoGtMask}: t_0 = max(bgFactor·μ_0, floor) for the background,
 * t_c = max(fgFactor·μ_c, floor) for the classes.
 */
export interface PseudoGtOptions {
  /** Background threshold factor on the per-image background maximum. Default 0.7 (hard-coded in the reference). */
  bgFactor?: number;
  /** Foreground threshold factor (`cutoff_top`). Default 0.6. */
  fgFactor?: number;
  /** Threshold floor (`cutoff_low`). Default 0.2. */
  floor?: number;
}

/**
 * Pseudo ground truth from cleaned, refined masks (N,H,W,C) (spec §3.7.2–5): per image and class, μ_c = max over
 * pixels; t_0 = max(bgFactor·μ_0, floor), t_c = max(fgFactor·μ_c, floor); G_c = 1 where M_c > t_c (strict);
 * pixels with zero or several active classes become all-zero (ignored). Returns G in {0,1}, no gradient.
 */
export function pseudoGtMask(masks: tf.Tensor4D, opts: PseudoGtOptions = {}): tf.Tensor4D {
  const { bgFactor = 0.7, fgFactor = 0.6, floor = 0.2 } = opts;
  if (masks.rank !== 4)
    throw new Error(`pseudoGtMask: masks must be rank 4 (N,H,W,C), got rank ${masks.rank}`);
  return tf.tidy(() => {
    const [n, , , c] = masks.shape;
    const mu = tf.max(masks, [1, 2]); // (N, C)
    const factors = tf.tensor1d([bgFactor, ...new Array(c - 1).fill(fgFactor)]);
    const thr = tf.reshape(tf.maximum(tf.mul(mu, factors), floor), [n, 1, 1, c]);
    // Arithmetic instead of comparisons: wasm's broadcasting comparisons are slow (~0.2 s a call at
    // (16,128,128,6)). step(M − t) is exactly the strict M > t (step(0) = 0); for an integer count k,
    // relu(1 − |k − 1|) is 1 exactly when k = 1.
    const active = tf.step(tf.sub(masks, thr));
    const single = tf.relu(tf.sub(1, tf.abs(tf.sub(tf.sum(active, -1, true), 1))));
    return tf.mul(active, single) as tf.Tensor4D;
  });
}
