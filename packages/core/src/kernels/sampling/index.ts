/**
 * Sampling kernels for the `cpu` and `wasm` backends: grid sampling (forward, and one backward pass that
 * gives the gradients of both x and grid), the gradient of bilinear resizing, and replicate padding
 * (forward and gradient). They run the typed-array
 * cores directly on the backend's storage (on wasm: views of the wasm heap, no copies). Other backends use
 * the composite ops in ops/gridSample.ts and ops/resize.ts.
 */

import * as tf from '@tensorflow/tfjs-core';
import { onTypedArrays } from '../typedArrays.js';
import { type GridSampleDims, gridSampleBackward, gridSampleForward } from './gridSampleCore.js';
import { type PadDims, padReplicateBackward, padReplicateForward } from './padReplicateCore.js';
import { resizeBilinearBackward } from './resizeBilinearCore.js';

export const GRID_SAMPLE = 'WsssGridSample';
export const GRID_SAMPLE_GRAD = 'WsssGridSampleGrad';
export const RESIZE_BILINEAR_GRAD = 'WsssResizeBilinearGrad';
export const PAD_REPLICATE = 'WsssPadReplicate';
export const PAD_REPLICATE_GRAD = 'WsssPadReplicateGrad';

/** Attributes of the pad kernels: the padding, and (for the gradient) the unpadded height and width. */
interface PadAttrs {
  top: number;
  bottom: number;
  left: number;
  right: number;
  inputHeight?: number;
  inputWidth?: number;
}

/** The backends that have the kernels above. */
export const SAMPLING_KERNEL_BACKENDS = ['cpu', 'wasm'] as const;

function dims(x: tf.TensorInfo, grid: tf.TensorInfo): GridSampleDims {
  const [n, h, w, c] = x.shape as number[];
  const [, ho, wo] = grid.shape as number[];
  return { n: n!, h: h!, w: w!, c: c!, ho: ho!, wo: wo! };
}

function register(config: tf.KernelConfig): void {
  if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
}

let registered = false;

/** Registers the sampling kernels for `cpu` and `wasm` (idempotent; the ops call it on first use). */
export function registerSamplingKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of SAMPLING_KERNEL_BACKENDS) {
    register({
      kernelName: GRID_SAMPLE,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, grid } = inputs as { x: tf.TensorInfo; grid: tf.TensorInfo };
        const d = dims(x, grid);
        const alignCorners = !!(attrs as { alignCorners?: boolean }).alignCorners;
        const [out] = onTypedArrays(
          backendName,
          backend,
          GRID_SAMPLE,
          [x, grid],
          [[d.n, d.ho, d.wo, d.c]],
          (i, o) => gridSampleForward(i[0]!, i[1]!, o[0]!, d, alignCorners),
        );
        return out!;
      },
    });
    register({
      kernelName: GRID_SAMPLE_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { dy, x, grid } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; grid: tf.TensorInfo };
        const d = dims(x, grid);
        const alignCorners = !!(attrs as { alignCorners?: boolean }).alignCorners;
        return onTypedArrays(
          backendName,
          backend,
          GRID_SAMPLE_GRAD,
          [dy, x, grid],
          [x.shape, grid.shape],
          (i, o) => {
            o[0]!.fill(0); // dx is accumulated
            gridSampleBackward(i[0]!, i[1]!, i[2]!, o[0]!, o[1]!, d, alignCorners);
          },
        );
      },
    });
    register({
      kernelName: RESIZE_BILINEAR_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { dy } = inputs as { dy: tf.TensorInfo };
        const { alignCorners, inputHeight, inputWidth } = attrs as unknown as {
          alignCorners: boolean;
          inputHeight: number;
          inputWidth: number;
        };
        const [n, ho, wo, c] = dy.shape as number[];
        const d = { n: n!, h: inputHeight, w: inputWidth, c: c!, ho: ho!, wo: wo! };
        const [dx] = onTypedArrays(
          backendName,
          backend,
          RESIZE_BILINEAR_GRAD,
          [dy],
          [[d.n, d.h, d.w, d.c]],
          (i, o) => resizeBilinearBackward(i[0]!, o[0]!, d, !!alignCorners),
        );
        return dx!;
      },
    });
    register({
      kernelName: PAD_REPLICATE,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x } = inputs as { x: tf.TensorInfo };
        const a = attrs as unknown as PadAttrs;
        const [n, h, w, c] = x.shape as number[];
        const d: PadDims = {
          n: n!,
          h: h!,
          w: w!,
          c: c!,
          top: a.top,
          bottom: a.bottom,
          left: a.left,
          right: a.right,
        };
        const outShape = [d.n, d.h + d.top + d.bottom, d.w + d.left + d.right, d.c];
        const [out] = onTypedArrays(backendName, backend, PAD_REPLICATE, [x], [outShape], (i, o) =>
          padReplicateForward(i[0]!, o[0]!, d),
        );
        return out!;
      },
    });
    register({
      kernelName: PAD_REPLICATE_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { dy } = inputs as { dy: tf.TensorInfo };
        const a = attrs as unknown as PadAttrs;
        const [n, , , c] = dy.shape as number[];
        const d: PadDims = {
          n: n!,
          h: a.inputHeight!,
          w: a.inputWidth!,
          c: c!,
          top: a.top,
          bottom: a.bottom,
          left: a.left,
          right: a.right,
        };
        const [dx] = onTypedArrays(
          backendName,
          backend,
          PAD_REPLICATE_GRAD,
          [dy],
          [[d.n, d.h, d.w, d.c]],
          (i, o) => padReplicateBackward(i[0]!, o[0]!, d),
        );
        return dx!;
      },
    });
  }
}

/** Whether the active backend has the sampling kernels (else the ops fall back to composites). */
export function hasSamplingKernels(): boolean {
  registerSamplingKernels();
  return (SAMPLING_KERNEL_BACKENDS as readonly string[]).includes(tf.getBackend());
}
