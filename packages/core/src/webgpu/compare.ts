/**
 * Helpers for tests that run the same computation on webgpu and on a reference backend (cpu or wasm).
 * The webgpu backend cannot read tensors synchronously in Node (its `readSync` needs an OffscreenCanvas), so
 * results are read with `data()` and compared as typed arrays; `gradCheck`, which reads synchronously, is for
 * cpu and wasm only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError, setBackend } from '../backend/setBackend.js';

export type CompareBackend = 'cpu' | 'wasm' | 'webgpu';

/**
 * Starts the webgpu backend (software adapters allowed) and returns null, or returns why it cannot start:
 * the `webgpu` package is not installed, or Dawn finds no adapter (no Vulkan driver). Leaves webgpu active.
 */
export async function webgpuUnavailableReason(): Promise<string | null> {
  try {
    await setBackend('webgpu', { allowSoftwareAdapter: true });
    return null;
  } catch (e) {
    if (!(e instanceof BackendUnavailableError)) throw e;
    const m = e.message;
    if (/cannot load the 'webgpu' package/.test(m)) return "the 'webgpu' npm package is not installed";
    if (/no WebGPU adapter/.test(m))
      return 'no WebGPU adapter (no Vulkan driver; scripts/install-lavapipe.sh)';
    return m.replace(/^backend 'webgpu' is unavailable: /, '');
  }
}

/**
 * Switches to `backend`, runs `fn` inside a tidy (create its inputs inside it, from plain arrays, so they live
 * on that backend), reads every returned tensor asynchronously and disposes them.
 */
export async function runOn(backend: CompareBackend, fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await setBackend(backend);
  const outs = tf.tidy(fn);
  try {
    return await Promise.all(outs.map(async (t) => Float32Array.from(await t.data())));
  } finally {
    tf.dispose(outs);
  }
}

/** Largest |x| of an array (0 for an empty one). */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Largest |a − b| over two arrays of the same length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
