/**
 * Example: PAMR refining the masks of any segmentation model's output.
 *
 * A synthetic two-region image (a disc on a background, slightly noisy colours) and noisy soft masks standing in
 * for a model's softmax output. `pamr(image, masks)` propagates each pixel's mask to neighbours of similar colour,
 * so the refined masks follow the regions: the pixel accuracy against the true regions goes up.
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '@wsss/core';
import { pamr } from '@wsss/pamr';

export interface PamrRefineOptions {
  /** Image side. Default 24. */
  size?: number;
  /** Standard deviation of the logit noise of the masks (larger: noisier masks). Default 1.5. */
  maskNoise?: number;
  /** PAMR iterations. Default 10 (the reference). */
  iterations?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface PamrRefineResult {
  /** Pixel accuracy of argmax(masks) against the true regions, before and after PAMR. */
  accuracyBefore: number;
  accuracyAfter: number;
}

/** Builds the synthetic image, its true regions and noisy masks; refines the masks with PAMR; scores both. */
export async function run(opts: PamrRefineOptions = {}): Promise<PamrRefineResult> {
  const size = opts.size ?? 24;
  const noise = opts.maskNoise ?? 1.5;
  const iterations = opts.iterations ?? 10;
  const seed = opts.seed ?? 3;
  const log = opts.log ?? console.log;

  // True regions: 1 inside a disc, 0 outside.
  const truth = new Int32Array(size * size);
  const c = (size - 1) / 2;
  for (let i = 0; i < size; i++)
    for (let j = 0; j < size; j++)
      truth[i * size + j] = (i - c) ** 2 + (j - c) ** 2 < (size / 3) ** 2 ? 1 : 0;

  const [image, masks, gt] = tf.tidy(() => {
    const region = tf.tensor4d(truth, [1, size, size, 1], 'int32');
    const inside = tf.cast(region, 'float32');
    const colour = tf.add(
      tf.add(
        tf.mul(inside, tf.tensor1d([0.8, 0.6, 0.2])),
        tf.mul(tf.sub(1, inside), tf.tensor1d([0.2, 0.3, 0.7])),
      ),
      tf.randomNormal([1, size, size, 3], 0, 0.03, 'float32', seed),
    );
    // "Model output": softmax of the true one-hot plus strong per-pixel logit noise.
    const logits = tf.add(
      tf.mul(tf.oneHot(tf.reshape(region, [1, size, size]), 2), 2),
      tf.randomNormal([1, size, size, 2], 0, noise, 'float32', seed + 1),
    );
    return [
      tf.clipByValue(colour, 0, 1) as tf.Tensor4D,
      tf.softmax(logits) as tf.Tensor4D,
      tf.reshape(region, [1, size, size]),
    ];
  });
  const accuracy = async (m: tf.Tensor4D): Promise<number> => {
    const acc = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(m, 3), gt), 'float32')));
    const v = (await acc.data())[0]!;
    acc.dispose();
    return v;
  };
  try {
    const refined = pamr(image, masks, { iterations }); // image: raw RGB in [0,1]; masks: probabilities
    const accuracyBefore = await accuracy(masks);
    const accuracyAfter = await accuracy(refined);
    refined.dispose();
    log(
      `PAMR: pixel accuracy ${(100 * accuracyBefore).toFixed(1)}% (noisy masks) → ${(100 * accuracyAfter).toFixed(1)}% (refined)`,
    );
    return { accuracyBefore, accuracyAfter };
  } finally {
    tf.dispose([image, masks, gt]);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await setBackend('wasm');
  await run();
}
