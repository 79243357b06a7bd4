/**
 * The propagation step of PAMR (spec §3.6 step 5) as a small WebAssembly module with 128-bit SIMD (source:
 * wasm/propagate.wat; regenerate with `npx -y -p wabt@1.0.39 wat2wasm wasm/propagate.wat -o p.wasm` and
 * base64 it here). It runs in its own memory: the masks are copied in once per image (channels padded to a
 * multiple of 4), iterated there, and copied out. Used by both the cpu and the wasm kernel when the runtime
 * has WebAssembly SIMD (Node ≥ 16.4, current browsers); otherwise the scalar JS loop in pamrCore.ts runs, with
 * the same float32 operation order, so both give identical bits.
 */

const PROPAGATE_WASM =
  'AGFzbQEAAAABCwFgB39/f39/f38AAg8BA2VudgZtZW1vcnkCAAEDAgEABw0BCXByb3BhZ2F0ZQAACukCAeYCBAJ/AnsGfwF7IAVBAnQhDwJAA0AgByAETw0BIAIgD2ohDUEAIQgCQANAIAhBAmogBksNAf0MAAAAAAAAAAAAAAAAAAAAACEJ/QwAAAAAAAAAAAAAAAAAAAAAIQogACAIQQR0aiEOIAIhCyADIQwDQCAM/QkCACERIA4gCygCAGohECAJIBEgEP0ABAD95gH95AEhCSAKIBEgEP0ABBD95gH95AEhCiALQQRqIQsgDEEEaiEMIAsgDUkNAAsgASAJ/QsEACABIAr9CwQQIAFBIGohASAIQQJqIQgMAAsLIAggBkkEQP0MAAAAAAAAAAAAAAAAAAAAACEJIAAgCEEEdGohDiACIQsgAyEMA0AgCSAM/QkCACAOIAsoAgBq/QAEAP3mAf3kASEJIAtBBGohCyAMQQRqIQwgCyANSQ0ACyABIAn9CwQAIAFBEGohAQsgDSECIAMgD2ohAyAHQQFqIQcMAAsLCw==';

type PropagateFn = (
  from: number,
  dst: number,
  src: number,
  wts: number,
  pixels: number,
  taps: number,
  chunks: number,
) => void;

interface SimdModule {
  memory: WebAssembly.Memory;
  propagate: PropagateFn;
}

let simd: SimdModule | null | undefined;
/** The source table (and channel padding) the module's memory holds, to skip rewriting it for the same size. */
let tableFor: { src: Int32Array; cp: number } | undefined;
let disabled = false;

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The SIMD module, or null where WebAssembly SIMD is unavailable (or disabled for tests). */
function simdModule(): SimdModule | null {
  if (disabled) return null;
  if (simd !== undefined) return simd;
  simd = null;
  try {
    if (typeof WebAssembly === 'object') {
      const bytes = decodeBase64(PROPAGATE_WASM);
      if (WebAssembly.validate(bytes)) {
        const memory = new WebAssembly.Memory({ initial: 1 });
        // Synchronous compile is allowed for modules this small, also on a browser's main thread.
        const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
        simd = { memory, propagate: instance.exports['propagate'] as unknown as PropagateFn };
      }
    }
  } catch {
    simd = null;
  }
  return simd;
}

/**
 * Turns the SIMD path off (true) or back on, so tests can compare it with the scalar fallback.
 * @internal
 */
export function disableSimdPropagation(off: boolean): void {
  disabled = off;
}

/** Whether propagation runs in the SIMD module. */
export function hasSimdPropagation(): boolean {
  return simdModule() !== null;
}

/** Runs all iterations of one problem size in the SIMD module's memory. */
export interface SimdPropagation {
  /**
   * Where to write the affinity of the next image (P·T floats, pixel-major): a view of the module's memory,
   * valid until the next {@link simdPropagation} call.
   */
  weights: Float32Array;
  /**
   * Propagates one image: reads masks[inOff …] (P·C floats), writes out[outOff …] after `iterations` steps
   * with the affinity in `weights`.
   */
  run(masks: Float32Array, inOff: number, out: Float32Array, outOff: number, iterations: number): void;
}

/**
 * Prepares the SIMD module's memory for images of `pixels` pixels, `taps` taps (sources `src`, pixel-major
 * flat pixel indices) and `c` channels. Null without SIMD, or when the memory cannot grow that far (the
 * caller then uses the scalar loop). The memory is kept, at its largest size so far, for later calls.
 */
export function simdPropagation(
  src: Int32Array,
  pixels: number,
  taps: number,
  c: number,
): SimdPropagation | null {
  const m = simdModule();
  if (!m) return null;
  const chunks = Math.ceil(c / 4);
  const cp = chunks * 4;
  const planeBytes = pixels * cp * 4;
  const tableBytes = pixels * taps * 4;
  const a = 0;
  const b = planeBytes;
  const w = 2 * planeBytes;
  const s = w + tableBytes;
  const need = s + tableBytes;
  const have = m.memory.buffer.byteLength;
  const grown = need > have;
  if (grown) {
    try {
      m.memory.grow(Math.ceil((need - have) / 65536));
    } catch {
      return null; // past the engine's wasm memory limit
    }
  }
  if (tableFor?.src !== src || tableFor.cp !== cp || grown) {
    // Source byte offsets of the whole row of cp channels; the padding lanes are zeroed and stay finite.
    const srcBytes = new Int32Array(m.memory.buffer, s, pixels * taps);
    for (let i = 0; i < srcBytes.length; i++) srcBytes[i] = src[i]! * cp * 4;
    new Float32Array(m.memory.buffer, a, 2 * pixels * cp).fill(0);
    tableFor = { src, cp };
  }
  const heap = new Float32Array(m.memory.buffer);
  return {
    weights: heap.subarray(w / 4, w / 4 + pixels * taps),
    run(masks, inOff, out, outOff, iterations) {
      for (let p = 0; p < pixels; p++) {
        const from = inOff + p * c;
        const to = p * cp;
        for (let ch = 0; ch < c; ch++) heap[to + ch] = masks[from + ch]!;
      }
      let from = a;
      let dst = b;
      for (let it = 0; it < iterations; it++) {
        m.propagate(from, dst, s, w, pixels, taps, chunks);
        [from, dst] = [dst, from];
      }
      const res = from / 4;
      for (let p = 0; p < pixels; p++) {
        const o = outOff + p * c;
        const q = res + p * cp;
        for (let ch = 0; ch < c; ch++) out[o + ch] = heap[q + ch]!;
      }
    },
  };
}
