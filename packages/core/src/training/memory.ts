/**
 * What a computation holds in memory, as the backend sees it: for training-step reports and the bench.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Memory in use, in bytes. */
export interface MemoryUsage {
  backend: string;
  /** Bytes of the live tensors (tfjs's count). */
  tensorBytes: number;
  /**
   * wasm: the size of the backend's heap. It only grows, so it is the high-water mark of the process so far, and it
   * stops at 4 GiB (32-bit wasm). Null on other backends.
   */
  wasmHeapBytes: number | null;
  /** webgpu: bytes of the GPU buffers the backend holds (pooled ones included). Null on other backends. */
  gpuBufferBytes: number | null;
}

/** The current backend's memory use (cheap: no read-back, no profiling). */
export function memoryUsage(): MemoryUsage {
  const backend = tf.getBackend();
  const b = tf.backend() as unknown as {
    wasm?: { HEAPU8?: Uint8Array };
    bufferManager?: { numBytesAllocated?: number };
  };
  return {
    backend,
    tensorBytes: tf.memory().numBytes,
    wasmHeapBytes: backend === 'wasm' ? (b.wasm?.HEAPU8?.length ?? null) : null,
    gpuBufferBytes: backend === 'webgpu' ? (b.bufferManager?.numBytesAllocated ?? null) : null,
  };
}
