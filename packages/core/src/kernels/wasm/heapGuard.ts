/**
 * The wasm heap is at most 4 GB (32-bit addresses) and `_malloc` returns 0 when it cannot grow further. tfjs then
 * records offset 0 and kernels write over the allocator's own data — a silent corruption that surfaces later as
 * "memory access out of bounds". The guard turns it into an immediate, explained error.
 *
 * In Node, `WSSS_WASM_HEAP_LIMIT_MB` lowers the ceiling: an allocation that takes the heap past that many MiB fails
 * the same way (the heap never shrinks, so this bounds its high-water mark). `wsss bench --find-batch --heap-limit`
 * uses it to find what fits a smaller device, e.g. a browser tab.
 */
import { wasmHeapLimitBytes } from '../../training/memory.js';
import type { BackendWasm } from './heap.js';

const guarded = new WeakSet<object>();

export function guardWasmHeap(backend: BackendWasm): void {
  if (guarded.has(backend)) return;
  guarded.add(backend);
  const b = backend as unknown as {
    write(values: unknown, shape: number[], dtype: string): object;
    dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
    wasm: { HEAPU8: Uint8Array };
  };
  const limit = wasmHeapLimitBytes();
  const write = b.write.bind(backend);
  b.write = (values, shape, dtype) => {
    const dataId = write(values, shape, dtype);
    const size = shape.reduce((a, c) => a * c, 1);
    if (size > 0 && dtype !== 'string' && b.dataIdMap.get(dataId)?.memoryOffset === 0) {
      throw new Error(
        `wasm backend out of memory: could not allocate a [${shape}] ${dtype} tensor (the heap is ` +
          `${(b.wasm.HEAPU8.length / 2 ** 20).toFixed(0)} MB; wasm memory stops at 4 GB). ` +
          'Use a smaller batch or input size, or dispose tensors that are no longer needed.',
      );
    }
    if (limit !== null && size > 0 && b.wasm.HEAPU8.length > limit) {
      throw new Error(
        `wasm backend out of memory: a [${shape}] ${dtype} tensor took the heap to ` +
          `${(b.wasm.HEAPU8.length / 2 ** 20).toFixed(0)} MB, past the ${(limit / 2 ** 20).toFixed(0)} MB that ` +
          'WSSS_WASM_HEAP_LIMIT_MB allows. Use a smaller batch or input size.',
      );
    }
    return dataId;
  };
}
