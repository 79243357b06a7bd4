/**
 * The `WsssPamr` kernel for the `cpu` and `wasm` backends: runs {@link pamrForward} directly on the backend's
 * storage (cpu: its Float32Arrays; wasm: views of the wasm heap, no copies). Other backends (webgpu, webgl,
 * tensorflow) use the composite in ../composite.ts.
 */
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { pamrForward } from './pamrCore.js';

export const PAMR_KERNEL = 'WsssPamr';

/** The backends that have the kernel. */
export const PAMR_KERNEL_BACKENDS = ['cpu', 'wasm'] as const;

/** Attributes of the kernel (inputs: `image` (N,H,W,K), `masks` (N,H,W,C), same N, H, W, float32). */
export interface PamrKernelAttrs {
  iterations: number;
  dilations: number[];
}

function kernelFunc(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { image, masks } = inputs as { image: tf.TensorInfo; masks: tf.TensorInfo };
    const { iterations, dilations } = attrs as unknown as PamrKernelAttrs;
    for (const [name, t] of [
      ['image', image],
      ['masks', masks],
    ] as const) {
      if (t.dtype !== 'float32') throw new Error(`${PAMR_KERNEL}: ${name} must be float32, got ${t.dtype}`);
    }
    const [n, h, w, k] = image.shape as [number, number, number, number];
    const c = masks.shape[3]!;
    const dims = { n, h, w, k, c };
    const outShape = [n, h, w, c];
    if (backendName === 'wasm') {
      const b = backend as unknown as BackendWasm;
      const out = b.makeOutput(outShape, 'float32');
      // Views are taken after the allocation (it may grow, and so detach, the heap); the core allocates only
      // plain JS arrays, so they stay valid.
      const img = b.typedArrayFromHeap(image) as Float32Array;
      const m = b.typedArrayFromHeap(masks) as Float32Array;
      const o = b.typedArrayFromHeap(out) as Float32Array;
      pamrForward(img, m, o, dims, iterations, dilations);
      return out;
    }
    const b = backend as unknown as MathBackendCPU;
    const img = b.data.get(image.dataId)!.values as Float32Array;
    const m = b.data.get(masks.dataId)!.values as Float32Array;
    const o = new Float32Array(tf.util.sizeFromShape(outShape));
    pamrForward(img, m, o, dims, iterations, dilations);
    return b.makeTensorInfo(outShape, 'float32', o);
  };
}

let registered = false;

/** Registers the kernel for `cpu` and `wasm` (idempotent; the op calls it on first use). */
export function registerPamrKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of PAMR_KERNEL_BACKENDS) {
    if (!tf.getKernel(PAMR_KERNEL, backendName)) {
      tf.registerKernel({ kernelName: PAMR_KERNEL, backendName, kernelFunc: kernelFunc(backendName) });
    }
  }
}

/** Whether the active backend has the kernel (else the op uses the composite). */
export function hasPamrKernel(): boolean {
  registerPamrKernels();
  return tf.getKernel(PAMR_KERNEL, tf.getBackend()) !== undefined;
}
