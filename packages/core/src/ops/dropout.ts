/**
 * Dropout as the reference uses it (spec §7): element-wise (`nn.Dropout`) and channel-wise (`nn.Dropout2d`,
 * one draw per image and channel, broadcast over H×W). Kept units are scaled by 1/(1−rate). Identity unless
 * `training`. A mask can be injected for parity tests (spec §7: PyTorch's RNG cannot be reproduced).
 */
import * as tf from '@tensorflow/tfjs-core';
import { uniformDraw } from './random.js';

/**
 * Options of {@link dropout} and {@link channelDropout}: training mode (otherwise x passes through unchanged,
 * as a copy), and a seed or a fixed keep-mask for the draw.
 */
export interface DropoutOptions {
  training: boolean;
  /** Seed for the Bernoulli draw; default: the next seed of `seedRandom`'s stream, or unseeded. */
  seed?: number;
  /** A {0,1} keep-mask broadcastable to the noise shape; replaces the random draw. */
  mask?: tf.Tensor;
}

function checkRate(rate: number, fn: string): void {
  if (!(rate >= 0 && rate < 1)) throw new Error(`${fn}: rate must be in [0, 1), got ${rate}`);
}

function applyMask(x: tf.Tensor, rate: number, noiseShape: number[], opts: DropoutOptions): tf.Tensor {
  return tf.tidy(() => {
    const keep = opts.mask ?? tf.cast(tf.greaterEqual(uniformDraw(noiseShape, opts.seed), rate), 'float32');
    return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
  });
}

/** Element-wise dropout (PyTorch `nn.Dropout`). */
export function dropout(x: tf.Tensor, rate: number, opts: DropoutOptions): tf.Tensor {
  checkRate(rate, 'dropout');
  if (!opts.training || rate === 0) return x.clone();
  return applyMask(x, rate, x.shape, opts);
}

/** Channel-wise dropout of an NHWC tensor (PyTorch `nn.Dropout2d`): mask shape (N,1,1,C). */
export function channelDropout(x: tf.Tensor4D, rate: number, opts: DropoutOptions): tf.Tensor4D {
  checkRate(rate, 'channelDropout');
  if (x.rank !== 4) throw new Error(`channelDropout: x must be rank 4 (NHWC), got rank ${x.rank}`);
  if (!opts.training || rate === 0) return x.clone();
  return applyMask(x, rate, [x.shape[0], 1, 1, x.shape[3]], opts) as tf.Tensor4D;
}
