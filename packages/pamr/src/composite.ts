/**
 * PAMR from tfjs ops only (spec §3.6), for backends without the typed-array kernel (webgpu, webgl,
 * tensorflow). Same semantics as the kernel: replicate padding through gathers at clamped flat indices (built
 * once on the host), taps gathered one dilation (8 taps) at a time so the largest temporary is 8× the masks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tapSources } from './kernels/pamrCore.js';

/**
 * @param image (N,H,W,K) float32.
 * @param masks (N,H,W,C) float32, already at the image's size.
 * @returns (N,H,W,C).
 * @internal exported for tests (the op picks it on backends without the kernel)
 */
export function pamrComposite(
  image: tf.Tensor4D,
  masks: tf.Tensor4D,
  iterations: number,
  dilations: readonly number[],
): tf.Tensor4D {
  const [n, h, w, k] = image.shape;
  const c = masks.shape[3];
  const pixels = h * w;
  const dCount = dilations.length;
  const taps = 8 * dCount;
  const samples = 9 * dCount;
  return tf.tidy(() => {
    const idxHost = tapSources(h, w, dilations, false); // idx[t·P + p]
    const img = tf.reshape(image, [n, 1, pixels, k]);
    const neighbours = tf.reshape(
      tf.gather(tf.reshape(image, [n, pixels, k]), tf.tensor1d(idxHost, 'int32'), 1),
      [n, taps, pixels, k],
    );
    // σ over the 9·D samples: the centre once per dilation plus the taps; unbiased (spec §3.6 step 1).
    const mean = tf.div(tf.add(tf.mul(img, dCount), tf.sum(neighbours, 1, true)), samples);
    const dev = tf.add(
      tf.mul(tf.square(tf.sub(img, mean)), dCount),
      tf.sum(tf.square(tf.sub(neighbours, mean)), 1, true),
    );
    const sigma = tf.sqrt(tf.div(dev, samples - 1));
    const scaled = tf.div(tf.abs(tf.sub(img, neighbours)), tf.add(tf.mul(sigma, 0.1), 1e-8));
    const a = tf.neg(tf.mean(scaled, 3)); // (N,T,P)
    // Softmax over the taps (axis 1; tf.softmax works on the last axis only).
    const e = tf.exp(tf.sub(a, tf.max(a, 1, true)));
    const alpha = tf.div(e, tf.sum(e, 1, true));
    const alphas = tf.split(tf.reshape(alpha, [n, taps, pixels, 1]), dCount, 1);
    const idx = tf.split(tf.tensor1d(idxHost, 'int32'), dCount);
    let m = tf.reshape(masks, [n, pixels, c]);
    for (let it = 0; it < iterations; it++) {
      const prev = m;
      m = tf.tidy(() => {
        const parts = idx.map((ix, d) =>
          tf.sum(tf.mul(tf.reshape(tf.gather(prev, ix, 1), [n, 8, pixels, c]), alphas[d]!), 1),
        );
        return parts.length === 1 ? parts[0]! : tf.addN(parts);
      });
      if (it > 0) prev.dispose();
    }
    return tf.reshape(m, [n, h, w, c]);
  });
}
