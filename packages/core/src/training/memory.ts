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

/**
 * The ceiling the wasm heap guard enforces below wasm's 4 GiB: `WSSS_WASM_HEAP_LIMIT_MB` in bytes (Node; e.g. to size
 * a run for a browser tab), or null when unset. A value that is not a positive number is an error naming it.
 */
export function wasmHeapLimitBytes(): number | null {
  const raw = typeof process !== 'undefined' ? process.env?.['WSSS_WASM_HEAP_LIMIT_MB'] : undefined;
  if (raw === undefined || raw === '') return null;
  const mb = Number(raw);
  if (!Number.isFinite(mb) || mb <= 0)
    throw new Error(`WSSS_WASM_HEAP_LIMIT_MB=${JSON.stringify(raw)}: expected a positive number of MiB`);
  return mb * 2 ** 20;
}
