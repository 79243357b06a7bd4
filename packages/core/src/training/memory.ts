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

/** The piece of tfjs-core's `DataStorage` (backend data by data id) the meter wraps. */
interface DataStorageLike {
  get(dataId: object): unknown;
  set(dataId: object, value: unknown): void;
  delete(dataId: object): boolean;
}

/** Bytes of a backend's record of one buffer: wasm keeps shape and dtype, cpu the values. */
function recordBytes(value: unknown): number {
  const v = value as { shape?: number[]; dtype?: string; values?: ArrayLike<unknown> | null };
  if (v.dtype === 'string' || v.dtype === 'complex64') return 0;
  if (v.shape) return tf.util.sizeFromShape(v.shape) * tf.util.bytesPerElement(v.dtype as tf.DataType);
  const vals = v.values as { byteLength?: number } | null | undefined;
  return vals?.byteLength ?? 0;
}

/**
 * Runs `fn` and reports the most bytes of tensor buffers alive at any one time while it ran: the bytes at the start
 * (tfjs's count) plus the most allocated on top of them net of what was freed, counting each buffer once.
 * (`tf.memory().numBytes` and `tf.profile`'s `peakBytes` count every tensor that shares a buffer — reshapes, clones,
 * the copies tfjs keeps for gradients — and so can report several times the memory really held.) The backend's buffer table is watched while
 * `fn` runs: cpu and wasm; null on other backends.
 */
export async function measurePeakTensorBytes<T>(
  fn: () => T | Promise<T>,
): Promise<{ result: T; peakBytes: number | null }> {
  const backend = tf.getBackend();
  const b = tf.backend() as unknown as { dataIdMap?: DataStorageLike; data?: DataStorageLike };
  const table = backend === 'wasm' ? b.dataIdMap : backend === 'cpu' ? b.data : undefined;
  if (!table) return { result: await fn(), peakBytes: null };
  const start = tf.memory().numBytes;
  const sizes = new Map<object, number>();
  let current = 0;
  let peak = 0;
  const { set, delete: del } = table;
  table.set = function (this: DataStorageLike, dataId: object, value: unknown) {
    const bytes = recordBytes(value);
    current += bytes - (sizes.get(dataId) ?? 0);
    sizes.set(dataId, bytes);
    if (current > peak) peak = current;
    return set.call(this, dataId, value);
  };
  table.delete = function (this: DataStorageLike, dataId: object) {
    // a buffer from before the measurement counts too when it goes (an optimiser replacing a weight frees the old)
    const known = sizes.get(dataId);
    const record = known === undefined ? this.get(dataId) : undefined;
    current -= known ?? (record ? recordBytes(record) : 0);
    sizes.delete(dataId);
    return del.call(this, dataId);
  };
  try {
    const result = await fn();
    return { result, peakBytes: start + peak };
  } finally {
    table.set = set;
    table.delete = del;
  }
}
