/**
 * The BatchNorm loops of core.ts as a WebAssembly module with 128-bit SIMD that runs on the wasm backend's own heap
 * (source: wasm/batchnorm.wat; the module imports tfjs's memory, so tensors are read and written in place). Its
 * arithmetic is the JS loops', operation for operation (float64 sums per channel over the rows in order, float32
 * stores), so the bits are the same; it takes rows of a multiple of 4 channels, the JS loops the rest. Two builds
 * of the same text: for tfjs's single-threaded binary and, with a shared memory, for its multithreaded one
 * (../heapWasm.ts).
 * Regenerate with `node wasm/embed.mjs` in packages/core.
 * @internal
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapMemory, onHeap } from '../heapWasm.js';

const BN_WASM =
  'AGFzbQEAAAABIgNgBX9/f39/AGAJf39/f39/f39/AGAKf39/f39/f39/fwACDwEDZW52Bm1lbW9yeQIAAQMEAwABAgcfAwdtb21lbnRzAAAGYWZmaW5lAAEIZ3JhZFN1bXMAAgqCBQO9AQIFfwF7IAJBA3QhCCADQQAgCPwLACAEQQAgCPwLACAAIQUgACABIAJsQQRsaiEGAkADQCAFIAZPDQFBACEIA0AgBSAIQQJ0aiEHIAhBA3QhCSAH/V0DAP1fIAAgCEECdGr9XQMA/V/98QEhCiADIAlqIAMgCWr9AAQAIAr98AH9CwQAIAQgCWogBCAJav0ABAAgCiAK/fIB/fAB/QsEACAIQQJqIQggCCACSQ0ACyAFIAJBAnRqIQUMAAsLC80BAgR/AXsgAiADbEECdCEKAkADQCAJIApPDQFBACELA0AgCSALaiEMIAAgDGr9XQMA/V8gBSALav1dAwD9X/3yASENIAhBAkYEQCANIAEgDGr9XQMA/V8gBiALav1dAwD9X/3yAf3wASENCyANIAcgC2r9XQMA/V/98AEhDSAIQQFGBEAgDSAN/ewB/fABRAAAAAAAAOA//RT98gEhDQsgBCAMaiAN/V79WwMAACALQQhqIQsgCyADQQJ0SQ0ACyAJIANBAnRqIQkMAAsLC/EBAgV/AXsgBkEDdCEMIAhBACAM/AsAIAlBACAM/AsAIAUgBmxBAnQhCwJAA0AgCiALTw0BQQAhDANAIAogDGohDSAMQQF0IQ4gACANav1dAwD9XyEPIAIEQCAPIAEgDWr9XQMAQwAAAAD9E/1E/aEB/f4B/fIBIQ8gByANaiAP/V79WwMAAAsgCCAOaiAIIA5q/QAEACAP/fAB/QsEACAJIA5qIAkgDmr9AAQAIA8gAyANav1dAwD9XyAEIAxq/V0DAP1f/fEB/fIB/fAB/QsEACAMQQhqIQwgDCAGQQJ0SQ0ACyAKIAZBAnRqIQoMAAsLCw==';
const BN_WASM_SHARED =
  'AGFzbQEAAAABIgNgBX9/f39/AGAJf39/f39/f39/AGAKf39/f39/f39/fwACEgEDZW52Bm1lbW9yeQIDAYCABAMEAwABAgcfAwdtb21lbnRzAAAGYWZmaW5lAAEIZ3JhZFN1bXMAAgqCBQO9AQIFfwF7IAJBA3QhCCADQQAgCPwLACAEQQAgCPwLACAAIQUgACABIAJsQQRsaiEGAkADQCAFIAZPDQFBACEIA0AgBSAIQQJ0aiEHIAhBA3QhCSAH/V0DAP1fIAAgCEECdGr9XQMA/V/98QEhCiADIAlqIAMgCWr9AAQAIAr98AH9CwQAIAQgCWogBCAJav0ABAAgCiAK/fIB/fAB/QsEACAIQQJqIQggCCACSQ0ACyAFIAJBAnRqIQUMAAsLC80BAgR/AXsgAiADbEECdCEKAkADQCAJIApPDQFBACELA0AgCSALaiEMIAAgDGr9XQMA/V8gBSALav1dAwD9X/3yASENIAhBAkYEQCANIAEgDGr9XQMA/V8gBiALav1dAwD9X/3yAf3wASENCyANIAcgC2r9XQMA/V/98AEhDSAIQQFGBEAgDSAN/ewB/fABRAAAAAAAAOA//RT98gEhDQsgBCAMaiAN/V79WwMAACALQQhqIQsgCyADQQJ0SQ0ACyAJIANBAnRqIQkMAAsLC/EBAgV/AXsgBkEDdCEMIAhBACAM/AsAIAlBACAM/AsAIAUgBmxBAnQhCwJAA0AgCiALTw0BQQAhDANAIAogDGohDSAMQQF0IQ4gACANav1dAwD9XyEPIAIEQCAPIAEgDWr9XQMAQwAAAAD9E/1E/aEB/f4B/fIBIQ8gByANaiAP/V79WwMAAAsgCCAOaiAIIA5q/QAEACAP/fAB/QsEACAJIA5qIAkgDmr9AAQAIA8gAyANav1dAwD9XyAEIAxq/V0DAP1f/fEB/fIB/fAB/QsEACAMQQhqIQwgDCAGQQJ0SQ0ACyAKIAZBAnRqIQoMAAsLCw==';

interface Exports {
  moments(x: number, n: number, c: number, s: number, q: number): void;
  affine(
    u: number,
    v: number,
    n: number,
    c: number,
    out: number,
    a: number,
    b: number,
    d: number,
    mode: number,
  ): void;
  gradSums(
    dy: number,
    y: number,
    masked: number,
    x: number,
    mu: number,
    n: number,
    c: number,
    g: number,
    sdy: number,
    sdyx: number,
  ): void;
}

/**
 * The SIMD loops bound to one backend's heap, with a scratch block there for the per-channel sums and
 * coefficients. Every array passed in must be a view of that heap. @internal
 */
export interface BnSimd {
  /** Σ(x − K) then Σ(x − K)² per channel (K = the first row), c each, float64. */
  moments(x: Float32Array, c: number): Float64Array;
  /** out = u·a + d, with relu (r + |r|)/2, or with v: u·a + v·b + d, per channel. */
  affine(
    u: Float32Array,
    v: Float32Array | null,
    c: number,
    out: Float32Array,
    a: Float32Array,
    b: Float32Array,
    d: Float32Array,
    relu: boolean,
  ): void;
  /** Σ g then Σ g·(x − μ) per channel, float64; g = dy, or dy·[y > 0] (then also written to `g`). */
  gradSums(
    dy: Float32Array,
    y: Float32Array | null,
    x: Float32Array,
    mu: Float32Array,
    c: number,
    g: Float32Array,
  ): Float64Array;
}

const scratch = new WeakMap<BackendWasm, { ptr: number; bytes: number }>();

/**
 * The SIMD loops on `backend`'s heap for rows of `c` channels, or null (c not a multiple of 4, no WebAssembly SIMD,
 * or no access to the heap's memory). Call it before taking views of the heap: it may allocate there (and so grow
 * and detach the heap). @internal
 */
export function bnSimdFor(backend: BackendWasm, c: number): BnSimd | null {
  if (c % 4 !== 0 || c === 0) return null;
  const wasm = backend.wasm as unknown as {
    _malloc?: (bytes: number) => number;
    _free?: (ptr: number) => void;
  };
  const memory = heapMemory(backend);
  if (!memory || !wasm._malloc || !wasm._free) return null;
  const ex = onHeap<Exports>(backend, 'batchnorm', BN_WASM, BN_WASM_SHARED);
  if (!ex) return null;
  // two float64 sums of c (and μ, c float32, after them), or three float32 coefficients of c
  const need = 20 * c + 16;
  let block = scratch.get(backend);
  if (!block || block.bytes < need) {
    if (block) {
      wasm._free(block.ptr);
      scratch.delete(backend);
    }
    const bytes = Math.max(need, 4096);
    block = { ptr: wasm._malloc(bytes), bytes };
    if (!block.ptr) return null;
    scratch.set(backend, block);
  }
  const base = (block.ptr + 15) & ~15;
  const sums = (cc: number) => new Float64Array(memory.buffer, base, 2 * cc).slice();
  return {
    moments(x, cc) {
      ex.moments(x.byteOffset, x.length / cc, cc, base, base + 8 * cc);
      return sums(cc);
    },
    affine(u, v, cc, out, a, b, d, relu) {
      const f = new Float32Array(memory.buffer, base, 3 * cc);
      f.set(a, 0);
      f.set(b, cc);
      f.set(d, 2 * cc);
      ex.affine(
        u.byteOffset,
        v ? v.byteOffset : 0,
        u.length / cc,
        cc,
        out.byteOffset,
        base,
        base + 4 * cc,
        base + 8 * cc,
        v ? 2 : relu ? 1 : 0,
      );
    },
    gradSums(dy, y, x, mu, cc, g) {
      new Float32Array(memory.buffer, base + 16 * cc, cc).set(mu);
      ex.gradSums(
        dy.byteOffset,
        y ? y.byteOffset : 0,
        y ? 1 : 0,
        x.byteOffset,
        base + 16 * cc,
        x.length / cc,
        cc,
        g.byteOffset,
        base,
        base + 8 * cc,
      );
      return sums(cc);
    },
  };
}
