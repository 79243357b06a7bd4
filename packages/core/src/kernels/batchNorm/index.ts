/**
 * Fused BatchNorm kernels for `cpu` and `wasm` with registered gradients: training mode (batch statistics) and
 * inference mode (stored statistics; the frozen backbone BNs, FCA's frozen-statistics BNs, every BN at inference).
 * tfjs's own path (moments + FusedBatchNorm) differentiates through broadcasts (Tile, full-size ones, several
 * element-wise passes): on the WS-FCN demo it was the second largest cost of a training step after the
 * convolutions. wasm's FusedBatchNorm forward also ran ~4× slower than one JS pass with channel-group loops
 * (22.6 ms against ~6 ms over the demo backbone's 15 BNs).
 */
import * as tf from '@tensorflow/tfjs-core';
import { onTypedArrays } from '../typedArrays.js';
import {
  batchNormInferBackward,
  batchNormInferForward,
  batchNormTrainBackward,
  batchNormTrainForward,
} from './core.js';

export const BATCH_NORM_TRAIN = 'WsssBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'WsssBatchNormTrainGrad';
export const BATCH_NORM_INFER = 'WsssBatchNormInfer';
export const BATCH_NORM_INFER_GRAD = 'WsssBatchNormInferGrad';
const BACKENDS = ['cpu', 'wasm'] as const;

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
        const { x, gamma, beta } = inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
        const c = x.shape[x.shape.length - 1]!;
        const eps = (attrs as { epsilon: number }).epsilon;
        return onTypedArrays(
          backendName,
          backend,
          BATCH_NORM_TRAIN,
          [x, gamma, beta],
          [x.shape, [c], [c]],
          (i, o) => batchNormTrainForward(i[0]!, i[1]!, i[2]!, eps, c, o[0]!, o[1]!, o[2]!),
        );
      },
    });
    tf.registerKernel({
      kernelName: BATCH_NORM_TRAIN_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { dy, x, gamma, mean, variance } = inputs as Record<string, tf.TensorInfo>;
        const c = x!.shape[x!.shape.length - 1]!;
        const eps = (attrs as { epsilon: number }).epsilon;
        return onTypedArrays(
          backendName,
          backend,
          BATCH_NORM_TRAIN_GRAD,
          [dy!, x!, gamma!, mean!, variance!],
          [x!.shape, [c], [c]],
          (i, o) => batchNormTrainBackward(i[0]!, i[1]!, i[2]!, i[3]!, i[4]!, eps, c, o[0]!, o[1]!, o[2]!),
        );
      },
    });
    tf.registerKernel({
      kernelName: BATCH_NORM_INFER,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, mean, variance, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
        const c = x!.shape[x!.shape.length - 1]!;
        const eps = (attrs as { epsilon: number }).epsilon;
        return onTypedArrays(
          backendName,
          backend,
          BATCH_NORM_INFER,
          [x!, mean!, variance!, gamma!, beta!],
          [x!.shape],
          (i, o) => batchNormInferForward(i[0]!, i[1]!, i[2]!, i[3]!, i[4]!, eps, c, o[0]!),
        )[0]!;
      },
    });
    tf.registerKernel({
      kernelName: BATCH_NORM_INFER_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { dy, x, mean, variance, gamma } = inputs as Record<string, tf.TensorInfo>;
        const c = x!.shape[x!.shape.length - 1]!;
        const eps = (attrs as { epsilon: number }).epsilon;
        return onTypedArrays(
          backendName,
          backend,
          BATCH_NORM_INFER_GRAD,
          [dy!, x!, mean!, variance!, gamma!],
          [x!.shape, [c], [c]],
          (i, o) => batchNormInferBackward(i[0]!, i[1]!, i[2]!, i[3]!, i[4]!, eps, c, o[0]!, o[1]!, o[2]!),
        );
      },
    });
  }
  tf.registerGradient({
    kernelName: BATCH_NORM_INFER,
    inputsToSave: ['x', 'mean', 'variance', 'gamma'],
    gradFunc: (dys, saved, attrs) => {
      const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
      const [x, mean, variance, gamma] = saved as tf.Tensor[];
      const [dx, dgamma, dbeta] = tf
        .engine()
        .runKernel(
          BATCH_NORM_INFER_GRAD,
          { dy, x: x!, mean: mean!, variance: variance!, gamma: gamma! },
          attrs as tf.NamedAttrMap,
        ) as tf.Tensor[];
      // the stored statistics are constants of this mode (never trained through)
      return {
        x: () => dx!,
        gamma: () => dgamma!,
        beta: () => dbeta!,
        mean: () => tf.zerosLike(mean!),
        variance: () => tf.zerosLike(variance!),
      };
    },
  });
  tf.registerGradient({
    kernelName: BATCH_NORM_TRAIN,
    inputsToSave: ['x', 'gamma'],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved, attrs) => {
      const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
      const [x, gamma, mean, variance] = saved as tf.Tensor[];
      const [dx, dgamma, dbeta] = tf
        .engine()
        .runKernel(
          BATCH_NORM_TRAIN_GRAD,
          { dy, x: x!, gamma: gamma!, mean: mean!, variance: variance! },
          attrs as tf.NamedAttrMap,
        ) as tf.Tensor[];
      return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
    },
  });
}

/** Whether the active backend has the fused kernels. */
export function hasBatchNormKernels(): boolean {
  return (BACKENDS as readonly string[]).includes(tf.getBackend());
}
