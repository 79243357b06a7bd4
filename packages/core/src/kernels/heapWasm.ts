/**
 * Small WebAssembly modules that run in place on the wasm backend's heap: they import tfjs's own memory — the one
 * the single-threaded binary exports, or the shared `wasmMemory` the multithreaded binary creates in JS — so
 * tensors are read and written where they are. Each module comes in two builds of the same text (a plain and a
 * shared memory import; `node wasm/embed.mjs` in packages/core makes both).
 * @internal
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const instances = new WeakMap<WebAssembly.Memory, Map<string, WebAssembly.Exports | null>>();

/** The memory behind `backend`'s heap, or null where it cannot be reached. @internal */
export function heapMemory(backend: BackendWasm): WebAssembly.Memory | null {
  const wasm = backend.wasm as unknown as { wasmMemory?: unknown; asm?: { memory?: unknown } };
  const memory = wasm.wasmMemory ?? wasm.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

/**
 * The exports of module `id` (base64 `plain` / `shared` builds) instantiated on `backend`'s heap, once per heap;
 * null where WebAssembly SIMD is missing or the heap cannot be reached (the caller's JS loops run then). @internal
 */
export function onHeap<T>(backend: BackendWasm, id: string, plain: string, shared: string): T | null {
  const memory = heapMemory(backend);
  if (!memory) return null;
  let byId = instances.get(memory);
  if (!byId) {
    byId = new Map();
    instances.set(memory, byId);
  }
  if (!byId.has(id)) {
    let ex: WebAssembly.Exports | null = null;
    try {
      const isShared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const bin = atob(isShared ? shared : plain);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
    } catch {
      ex = null; // no SIMD, or a memory the module cannot import
    }
    byId.set(id, ex);
  }
  return (byId.get(id) as T | null) ?? null;
}
