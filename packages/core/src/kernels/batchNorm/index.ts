/**
 * Fused BatchNorm kernels for `cpu` and `wasm` with registered gradients: training mode (batch statistics) and
 * inference mode (stored statistics; the frozen backbone BNs, FCA's frozen-statistics BNs, every BN at inference).
 * tfjs's own path (moments + FusedBatchNorm) differentiates through broadcasts (Tile, full-size ones, several
 * element-wise passes): on the WS-FCN demo it was the second largest cost of a training step after the
 * convolutions. wasm's FusedBatchNorm forward also ran ~4× slower than one JS pass with channel-group loops
 * (22.6 ms against ~6 ms over the demo backbone's 15 BNs).
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { onTypedArrays } from '../typedArrays.js';
import {
  batchNormInferBackward,
  batchNormInferForward,
  batchNormTrainBackward,
  batchNormTrainForward,
} from './core.js';
import { type BnSimd, bnSimdFor } from './simd.js';

/** The SIMD loops for rows of `c` channels on the wasm backend (before any view of its heap is taken), else null. */
function simdFor(backendName: string, backend: unknown, c: number): BnSimd | null {
  return backendName === 'wasm' ? bnSimdFor(backend as BackendWasm, c) : null;
}

export const BATCH_NORM_TRAIN = 'WsssBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'WsssBatchNormTrainGrad';
export const BATCH_NORM_INFER = 'WsssBatchNormInfer';
export const BATCH_NORM_INFER_GRAD = 'WsssBatchNormInferGrad';
const BACKENDS = ['cpu', 'wasm'] as const;

/**
 * Training-mode kernel: inputs x, gamma, beta, movingMean, movingVariance; outputs y, batch mean, biased batch
 * variance and the updated running mean and variance (momentum `momentum`, spec §1.5). `relu` fuses max(0, ·).
 */
export interface BatchNormTrainAttrs {
  epsilon: number;
  momentum: number;
  relu: boolean;
}

/** Inference-mode kernel: inputs x, mean, variance, gamma, beta; output y (max(0, ·) with `relu`). */
export interface BatchNormInferAttrs {
  epsilon: number;
  relu: boolean;
}

let registered = false;

/** Registers the kernels and the gradient (idempotent). */
export function registerBatchNormKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of BACKENDS) {
    tf.registerKernel({
      kernelName: BATCH_NORM_TRAIN,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, gamma, beta, movingMean, movingVariance } = inputs as Record<string, tf.TensorInfo>;
        const c = x!.shape[x!.shape.length - 1]!;
        const { epsilon, momentum, relu } = attrs as unknown as BatchNormTrainAttrs;
        const simd = simdFor(backendName, backend, c);
        return onTypedArrays(
          backendName,
          backend,
          BATCH_NORM_TRAIN,
          [x!, gamma!, beta!, movingMean!, movingVariance!],
          [x!.shape, [c], [c], [c], [c]],
          (i, o) =>
            batchNormTrainForward(
              i[0]!,
              i[1]!,
              i[2]!,
              epsilon,
              c,
              o[0]!,
              o[1]!,
              o[2]!,
              relu,
              {
                mean: i[3]!,
                variance: i[4]!,
                momentum,
                newMean: o[3]!,
                newVariance: o[4]!,
              },
              simd,
            ),
        );
      },
    });
    registerGradKernel(
      BATCH_NORM_TRAIN_GRAD,
      backendName,
      ['x', 'gamma', 'mean', 'variance'],
      batchNormTrainBackward,
    );
    tf.registerKernel({
      kernelName: BATCH_NORM_INFER,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, mean, variance, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
        const c = x!.shape[x!.shape.length - 1]!;
        const { epsilon, relu } = attrs as unknown as BatchNormInferAttrs;
        const simd = simdFor(backendName, backend, c);
        return onTypedArrays(
          backendName,
          backend,
          BATCH_NORM_INFER,
          [x!, mean!, variance!, gamma!, beta!],
          [x!.shape],
          (i, o) => batchNormInferForward(i[0]!, i[1]!, i[2]!, i[3]!, i[4]!, epsilon, c, o[0]!, relu, simd),
        )[0]!;
      },
    });
    registerGradKernel(
      BATCH_NORM_INFER_GRAD,
      backendName,
      ['x', 'mean', 'variance', 'gamma'],
      batchNormInferBackward,
    );
  }
  tf.registerGradient({
    kernelName: BATCH_NORM_INFER,
    inputsToSave: ['x', 'mean', 'variance', 'gamma'],
    outputsToSave: [true],
    gradFunc: (dys, saved, attrs) => {
      const [x, mean, variance, gamma, y] = saved as tf.Tensor[];
      // the stored statistics are constants of this mode (never trained through)
      return bnGradients(
        BATCH_NORM_INFER_GRAD,
        dys,
        { x: x!, mean: mean!, variance: variance!, gamma: gamma! },
        y!,
        attrs,
        {
          mean: mean!,
          variance: variance!,
        },
      );
    },
  });
  tf.registerGradient({
    kernelName: BATCH_NORM_TRAIN,
    inputsToSave: ['x', 'gamma', 'movingMean', 'movingVariance'],
    outputsToSave: [true, true, true, false, false],
    gradFunc: (dys, saved, attrs) => {
      const [x, gamma, movingMean, movingVariance, y, mean, variance] = saved as tf.Tensor[];
      // the running statistics only feed the (non-differentiated) updated statistics
      return bnGradients(
        BATCH_NORM_TRAIN_GRAD,
        dys,
        { x: x!, gamma: gamma!, mean: mean!, variance: variance! },
        y!,
        attrs,
        {
          movingMean: movingMean!,
          movingVariance: movingVariance!,
        },
      );
    },
  });
}

type GradCore = (
  dy: Float32Array,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  d: Float32Array,
  eps: number,
  channels: number,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  y: Float32Array | null,
  simd: BnSimd | null,
) => void;

/**
 * A gradient kernel: inputs dy, the four named `order` (passed to `core` in that order) and, for a fused ReLU, the
 * forward output y; outputs dx, dγ, dβ.
 */
function registerGradKernel(name: string, backendName: string, order: string[], core: GradCore): void {
  tf.registerKernel({
    kernelName: name,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, x, y } = inputs as Record<string, tf.TensorInfo>;
      const c = x!.shape[x!.shape.length - 1]!;
      const eps = (attrs as { epsilon: number }).epsilon;
      const ins = [
        dy!,
        ...order.map((k) => (inputs as Record<string, tf.TensorInfo>)[k]!),
        ...(y ? [y] : []),
      ];
      const simd = simdFor(backendName, backend, c);
      return onTypedArrays(backendName, backend, name, ins, [x!.shape, [c], [c]], (i, o) =>
        core(i[0]!, i[1]!, i[2]!, i[3]!, i[4]!, eps, c, o[0]!, o[1]!, o[2]!, i[5] ?? null, simd),
      );
    },
  });
}

/**
 * Gradients of a BN kernel through its fused gradient kernel: dx, dγ, dβ from dy and the saved tensors (and the
 * output y when the ReLU was fused: the kernel masks dy with it), zeros for the statistics inputs in `constants`.
 */
function bnGradients(
  gradKernel: string,
  dys: tf.Tensor | tf.Tensor[],
  saved: tf.NamedTensorMap,
  y: tf.Tensor,
  attrs: tf.NamedAttrMap,
  constants: Record<string, tf.Tensor>,
): Record<string, () => tf.Tensor> {
  const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
  const relu = (attrs as unknown as { relu: boolean }).relu;
  const [dx, dgamma, dbeta] = tf
    .engine()
    .runKernel(gradKernel, { dy, ...saved, ...(relu ? { y } : {}) }, attrs) as tf.Tensor[];
  const grads: Record<string, () => tf.Tensor> = { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
  for (const [k, t] of Object.entries(constants)) grads[k] = () => tf.zerosLike(t);
  return grads;
}

/** Whether the active backend has the fused kernels. */
export function hasBatchNormKernels(): boolean {
  return (BACKENDS as readonly string[]).includes(tf.getBackend());
}
