/**
 * WebAssembly (128-bit SIMD) kernels for the lattice's splat, blur and slice and mean-field's row softmax (source:
 * wasm/lattice.wat, 1134 bytes,
 * embedded as base64). Channels are processed four at a time, so rows are padded to a multiple of 4 floats.
 * Compiled synchronously on first use (allowed for modules this small on browsers' main threads too); where
 * WebAssembly or its SIMD proposal is missing, {@link wasmKernels} returns null and the JS loops run instead.
 * @internal
 */
const LATTICE_WASM =
  'AGFzbQEAAAABFAJgCH9/f39/f39/AGAFf39/f38AAg8BA2VudgZtZW1vcnkCAAEDBQQAAQABByIEBXNwbGF0AAAEYmx1cgABBXNsaWNlAAIHc29mdG1heAADCpEIBLQBBAR/AX0BewN/IAdBBHQhCwJAA0AgCCAFTw0BIAIqAgAhDEEAIQkDQCABKgIAIAyU/RMhDSAEIAAoAgAgC2xqIQ4gAyEPQQAhEANAIA4gEGogDiAQav0ABAAgDSAPIBBq/QAEAP3mAf3kAf0LBAAgEEEQaiEQIBAgC0kNAAsgAUEEaiEBIABBBGohACAJQQFqIQkgCSAGSQ0ACyADIAtqIQMgAkEEaiECIAhBAWohCAwACwsLowECBn8BeyAEQQR0IQZDAAAAP/0TIQsgACEHAkADQCAFIANPDQEgACACKAIAIAZsaiEIIAAgAigCBCAGbGohCUEAIQoDQCABIApqIAcgCmr9AAQAIAsgCCAKav0ABAAgCSAKav0ABAD95AH95gH95AH9CwQAIApBEGohCiAKIAZJDQALIAJBCGohAiAHIAZqIQcgASAGaiEBIAVBAWohBQwACwsLsAEEA38BfQF7An8gB0EEdCEKAkADQCAIIAVPDQEgAioCACELQQAhCQNAIAEqAgAgC5T9EyEMIAMgACgCACAKbGohDUEAIQ4DQCAEIA5qIAQgDmr9AAQAIAwgDSAOav0ABAD95gH95AH9CwQAIA5BEGohDiAOIApJDQALIAFBBGohASAAQQRqIQAgCUEBaiEJIAkgBkkNAAsgBCAKaiEEIAJBBGohAiAIQQFqIQgMAAsLC4EEAwR/CHsCfSADQQR0IQYgBkEQayEIIAT9AAQAIRACQANAIAUgAk8NASAAIAhq/QAEAEMAAID//RMgEP1SIQlBACEHAkADQCAHIAhPDQEgCSAAIAdq/QAEAP3pASEJIAdBEGohBwwACwsgCf0fACAJ/R8BlyAJ/R8CIAn9HwOXlyERIBH9EyEJQwAAAAD9EyEPQQAhBwNAIAAgB2r9AAQAIAn95QFDO6q4P/0T/eYBQwAA/ML9E/3pASELIAv9aiEMIAsgDP3lAUMYcjE//RP95gEhDUOJiAg8/RMgDUNhC7Y6/RP95gH95AEhDkOrqio9/RMgDSAO/eYB/eQBIQ5Dq6oqPv0TIA0gDv3mAf3kASEOQwAAAD/9EyANIA795gH95AEhDkMAAIA//RMgDSAO/eYB/eQBIQ5DAACAP/0TIA0gDv3mAf3kASEOIA4gDP34AUH/AP0R/a4BQRf9qwH95gEhDiAHIAhGBEAgDiAQ/U4hDgsgASAHaiAO/QsEACAPIA795AEhDyAHQRBqIQcgByAGSQ0ACyAP/R8AIA/9HwGSIA/9HwIgD/0fA5KSIRJDAACAPyASlf0TIQ9BACEHA0AgASAHaiABIAdq/QAEACAP/eYB/QsEACAHQRBqIQcgByAGSQ0ACyAAIAZqIQAgASAGaiEBIAVBAWohBQwACwsL';

/** The kernels and the memory they work in (grown on demand, never shrunk). @internal */
export interface WasmKernels {
  memory: WebAssembly.Memory;
  splat(
    vtx: number,
    wts: number,
    scale: number,
    inp: number,
    vals: number,
    nPoints: number,
    d1: number,
    chunks: number,
  ): void;
  blur(src: number, dst: number, nbr: number, nVertices: number, chunks: number): void;
  softmax(x: number, out: number, rows: number, chunks: number, mask: number): void;
  slice(
    vtx: number,
    wts: number,
    scale: number,
    vals: number,
    out: number,
    nPoints: number,
    d1: number,
    chunks: number,
  ): void;
  /** Grows the memory to at least `bytes`; false if that is impossible (then use the JS path). */
  reserve(bytes: number): boolean;
}

let cached: WasmKernels | null | undefined;

/** The WebAssembly kernels, or null where WebAssembly SIMD is unavailable. @internal */
export function wasmKernels(): WasmKernels | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    if (typeof WebAssembly !== 'object' || typeof atob !== 'function') return null;
    const bin = atob(LATTICE_WASM);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 32768 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    const ex = instance.exports as unknown as Pick<WasmKernels, 'splat' | 'blur' | 'slice' | 'softmax'>;
    cached = {
      memory,
      splat: ex.splat,
      blur: ex.blur,
      slice: ex.slice,
      softmax: ex.softmax,
      reserve(bytes: number): boolean {
        const have = memory.buffer.byteLength;
        if (bytes <= have) return true;
        const pages = Math.ceil((bytes - have) / 65536);
        if (have / 65536 + pages > 32768) return false;
        try {
          memory.grow(pages);
          return true;
        } catch {
          return false;
        }
      },
    };
  } catch {
    cached = null;
  }
  return cached;
}
