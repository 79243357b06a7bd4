/**
 * BatchNorm in the three modes WS-FCN needs (spec §1.5):
 * - `frozen`: always inference mode with the stored statistics; γ/β not trained (backbone BNs).
 * - `frozenStats`: always inference mode, statistics never updated, γ/β trained (FCA/ASPP BNs; with the init
 *   statistics 0/1 this is the affine map γ·x/√(1+ε) + β).
 * - `batch`: ordinary BN — batch statistics over N×H×W while training (biased variance for normalising,
 *   unbiased folded into the running variance with momentum 0.1), stored statistics in inference.
 * PyTorch's ε is 1e-5 (Keras/tfjs default 1e-3 would break parity).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  BATCH_NORM_INFER,
  BATCH_NORM_TRAIN,
  hasBatchNormKernels,
  registerBatchNormKernels,
} from '../kernels/batchNorm/index.js';
import { stopGradient } from './stopGradient.js';

/**
 * How a BatchNorm normalises and trains: `frozen` = stored statistics, γ/β fixed (backbone BNs);
 * `frozenStats` = stored statistics never updated, γ/β trained (FCA/ASPP BNs); `batch` = ordinary BatchNorm
 * (batch statistics and running-statistics updates while training, stored statistics in inference).
 */
export type BatchNormMode = 'frozen' | 'frozenStats' | 'batch';
/** Every {@link BatchNormMode}, for validating options. */
export const BATCH_NORM_MODES: readonly BatchNormMode[] = ['frozen', 'frozenStats', 'batch'];

/** PyTorch's defaults (spec §1.5). */
export const BN_EPSILON = 1e-5;
/**
 * Weight of the batch statistics in a running-statistics update: running ← 0.9·running + 0.1·batch (PyTorch's
 * default).
 */
export const BN_MOMENTUM = 0.1;

/**
 * A BatchNorm's tensors, each of shape [C] (C = x's last axis): γ and β (absent: 1 and 0, no affine
 * transform) and the running mean and variance.
 */
export interface BatchNormParams {
  gamma?: tf.Tensor1D;
  beta?: tf.Tensor1D;
  movingMean: tf.Tensor1D;
  movingVariance: tf.Tensor1D;
}

/**
 * Options of {@link batchNorm}: the mode, training or inference, ε (default {@link BN_EPSILON}), momentum
 * (default {@link BN_MOMENTUM}) and a fused ReLU.
 */
export interface BatchNormOptions {
  mode: BatchNormMode;
  training: boolean;
  epsilon?: number;
  momentum?: number;
  /**
   * Apply ReLU to the output: max(0, BN(x)), the conv → BN → ReLU blocks of the reference. On cpu/wasm it is fused
   * into the BatchNorm kernels (one pass forward, the mask folded into the BN gradient); elsewhere a `tf.relu`.
   */
  relu?: boolean;
}

/**
 * What {@link batchNorm} returns: y, of x's shape, and in `batch` mode while training the updated running
 * statistics, for the caller to assign.
 */
export interface BatchNormResult {
  y: tf.Tensor;
  /** In `batch` mode while training: the updated running statistics (the caller assigns them). */
  newMovingMean?: tf.Tensor1D;
  newMovingVariance?: tf.Tensor1D;
}

/** Validates that BN parameters match the channel count of x (last axis). */
function checkParams(x: tf.Tensor, p: BatchNormParams): void {
  const c = x.shape[x.rank - 1]!;
  for (const [name, t] of Object.entries(p) as [string, tf.Tensor | undefined][]) {
    if (t && (t.rank !== 1 || t.shape[0] !== c)) {
      throw new Error(
        `batchNorm: ${name} must have shape [${c}] to match x's ${c} channels, got [${t.shape}]`,
      );
    }
  }
}

/**
 * Functional BatchNorm over the last (channel) axis of an NHWC (or N…C) tensor.
 * In `batch` mode while training it returns the updated running statistics instead of assigning them,
 * so it stays pure; `WsssLayer.applyBatchNorm` assigns them to the layer's variables.
 */
export function batchNorm(x: tf.Tensor, params: BatchNormParams, opts: BatchNormOptions): BatchNormResult {
  const { mode, training, epsilon = BN_EPSILON, momentum = BN_MOMENTUM, relu = false } = opts;
  if (!BATCH_NORM_MODES.includes(mode)) {
    throw new Error(`batchNorm: mode must be one of ${BATCH_NORM_MODES.join(', ')}, got '${String(mode)}'`);
  }
  checkParams(x, params);
  const { movingMean, movingVariance } = params;
  const c = x.shape[x.rank - 1]!;
  if (mode !== 'batch' || !training) {
    return {
      y: tf.tidy(() => {
        const [offset, scale] = affine(params, c);
        if (hasBatchNormKernels() && x.dtype === 'float32') {
          // one pass and a fused gradient on cpu/wasm (kernels/batchNorm)
          registerBatchNormKernels();
          return tf
            .engine()
            .runKernel(
              BATCH_NORM_INFER,
              { x, mean: movingMean, variance: movingVariance, gamma: scale, beta: offset },
              { epsilon, relu },
            ) as tf.Tensor;
        }
        const y = tf.batchNorm(x, movingMean, movingVariance, offset, scale, epsilon);
        return relu ? tf.relu(y) : y;
      }),
    };
  }
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const count = x.size / c;
  return tf.tidy(() => {
    if (hasBatchNormKernels() && x.dtype === 'float32') {
      // one fused kernel (statistics, normalisation, optional ReLU, running-statistics update) and a fused
      // gradient on cpu/wasm (kernels/batchNorm)
      registerBatchNormKernels();
      const [offset, scale] = affine(params, c);
      const [y, , , newMovingMean, newMovingVariance] = tf
        .engine()
        .runKernel(
          BATCH_NORM_TRAIN,
          { x, gamma: scale, beta: offset, movingMean, movingVariance },
          { epsilon, momentum, relu },
        ) as tf.Tensor[];
      return {
        y: y!,
        newMovingMean: newMovingMean as tf.Tensor1D,
        newMovingVariance: newMovingVariance as tf.Tensor1D,
      };
    }
    const { mean, variance } = tf.moments(x, axes) as { mean: tf.Tensor1D; variance: tf.Tensor1D };
    const yLin = tf.batchNorm(x, mean, variance, ...affine(params, c), epsilon);
    const y = relu ? tf.relu(yLin) : yLin;
    const m = stopGradient(mean) as tf.Tensor1D;
    const unbiased = tf.mul(stopGradient(variance), count / Math.max(count - 1, 1)) as tf.Tensor1D;
    const newMovingMean = tf.add(tf.mul(movingMean, 1 - momentum), tf.mul(m, momentum)) as tf.Tensor1D;
    const newMovingVariance = tf.add(
      tf.mul(movingVariance, 1 - momentum),
      tf.mul(unbiased, momentum),
    ) as tf.Tensor1D;
    return { y, newMovingMean, newMovingVariance };
  });
}

/**
 * [offset, scale] for tf.batchNorm. Affine-free BNs (e.g. GCI's skip path, spec §1.7) pass explicit 0/1: tfjs's
 * batchNorm crashes under a gradient tape when scale or offset is undefined.
 */
function affine(p: BatchNormParams, c: number): [tf.Tensor1D, tf.Tensor1D] {
  return [p.beta ?? (tf.zeros([c]) as tf.Tensor1D), p.gamma ?? (tf.ones([c]) as tf.Tensor1D)];
}
