/**
 * The filter gradient's layout copies (conv2dBackpropFilter.ts) as WebAssembly SIMD on tfjs's heap (source:
 * wasm/layout.wat; regenerate with `node wasm/embed.mjs` in packages/core): x to channel-major with blocks of 4
 * pixels × 4 channels transposed in registers, and the transposed im2col's runs in one call (a JS loop paid a
 * `copyWithin` call per output row). Copies, so the results are the JS loops' to the bit.
 * @internal
 */
import { onHeap } from '../heapWasm.js';
import type { BackendWasm } from './heap.js';

const LAYOUT_WASM =
  'AGFzbQEAAAABIAJgDH9/f39/f39/f39/fwBgDX9/f39/f39/f39/f38AAg8BA2VudgZtZW1vcnkCAAEDAwIAAQcfAg50b0NoYW5uZWxNYWpvcgAACmltMmNvbFJ1bnMAAQq4BgKyBAIKfwh7IAIgBmxBAnQhDCAFQQJ0IRUCQANAIA0gAk8NAUEAIQ4CQANAIA4gCk8NASAAIA0gA2wgDmogBGwgBWxBAnRqIREgASANIAZsIA4gCGogB2xqIAlqQQJ0aiESQQAhDwJAA0AgD0EEaiALSw0BQQAhECARIA8gFWxqIRMgEiAPQQJ0aiEUA0AgE/0ABAAhFiATIBVq/QAEACEXIBMgFUEBdGr9AAQAIRggEyAVQQNsav0ABAAhGSAWIBf9DQABAgMQERITBAUGBxQVFhchGiAWIBf9DQgJCgsYGRobDA0ODxwdHh8hGyAYIBn9DQABAgMQERITBAUGBxQVFhchHCAYIBn9DQgJCgsYGRobDA0ODxwdHh8hHSAUIBogHP0NAAECAwQFBgcQERITFBUWF/0LBAAgFCAMaiAaIBz9DQgJCgsMDQ4PGBkaGxwdHh/9CwQAIBQgDEEBdGogGyAd/Q0AAQIDBAUGBxAREhMUFRYX/QsEACAUIAxBA2xqIBsgHf0NCAkKCwwNDg8YGRobHB0eH/0LBAAgE0EQaiETIBQgDEECdGohFCAQQQRqIRAgECAFSQ0ACyAPQQRqIQ8MAAsLAkADQCAPIAtPDQEgESAPIBVsaiETIBIgD0ECdGohFEEAIRADQCAUIBMoAgA2AgAgE0EEaiETIBQgDGohFCAQQQFqIRAgECAFSQ0ACyAPQQFqIQ8MAAsLIA5BAWohDgwACwsgDUEBaiENDAALCwuBAgEKfyABIRYgC0ECdCEVAkADQCANIAJPDQFBACEOAkADQCAOIANPDQEgDSAIbCAHbCAOIAlsakECdCERQQAhDwJAA0AgDyAEIAVsTw0BIAAgDyAGbEECdCARamohEkEAIRACQANAIBAgCk8NASASIRMgEiAVaiEUAkADQCATQRBqIBRLDQEgFiAT/QAEAP0LBAAgE0EQaiETIBZBEGohFgwACwsCQANAIBMgFE8NASAWIBMoAgA2AgAgE0EEaiETIBZBBGohFgwACwsgEiAMQQJ0aiESIBBBAWohEAwACwsgD0EBaiEPDAALCyAOQQFqIQ4MAAsLIA1BAWohDQwACwsL';
const LAYOUT_WASM_SHARED =
  'AGFzbQEAAAABIAJgDH9/f39/f39/f39/fwBgDX9/f39/f39/f39/f38AAhIBA2VudgZtZW1vcnkCAwGAgAQDAwIAAQcfAg50b0NoYW5uZWxNYWpvcgAACmltMmNvbFJ1bnMAAQq4BgKyBAIKfwh7IAIgBmxBAnQhDCAFQQJ0IRUCQANAIA0gAk8NAUEAIQ4CQANAIA4gCk8NASAAIA0gA2wgDmogBGwgBWxBAnRqIREgASANIAZsIA4gCGogB2xqIAlqQQJ0aiESQQAhDwJAA0AgD0EEaiALSw0BQQAhECARIA8gFWxqIRMgEiAPQQJ0aiEUA0AgE/0ABAAhFiATIBVq/QAEACEXIBMgFUEBdGr9AAQAIRggEyAVQQNsav0ABAAhGSAWIBf9DQABAgMQERITBAUGBxQVFhchGiAWIBf9DQgJCgsYGRobDA0ODxwdHh8hGyAYIBn9DQABAgMQERITBAUGBxQVFhchHCAYIBn9DQgJCgsYGRobDA0ODxwdHh8hHSAUIBogHP0NAAECAwQFBgcQERITFBUWF/0LBAAgFCAMaiAaIBz9DQgJCgsMDQ4PGBkaGxwdHh/9CwQAIBQgDEEBdGogGyAd/Q0AAQIDBAUGBxAREhMUFRYX/QsEACAUIAxBA2xqIBsgHf0NCAkKCwwNDg8YGRobHB0eH/0LBAAgE0EQaiETIBQgDEECdGohFCAQQQRqIRAgECAFSQ0ACyAPQQRqIQ8MAAsLAkADQCAPIAtPDQEgESAPIBVsaiETIBIgD0ECdGohFEEAIRADQCAUIBMoAgA2AgAgE0EEaiETIBQgDGohFCAQQQFqIRAgECAFSQ0ACyAPQQFqIQ8MAAsLIA5BAWohDgwACwsgDUEBaiENDAALCwuBAgEKfyABIRYgC0ECdCEVAkADQCANIAJPDQFBACEOAkADQCAOIANPDQEgDSAIbCAHbCAOIAlsakECdCERQQAhDwJAA0AgDyAEIAVsTw0BIAAgDyAGbEECdCARamohEkEAIRACQANAIBAgCk8NASASIRMgEiAVaiEUAkADQCATQRBqIBRLDQEgFiAT/QAEAP0LBAAgE0EQaiETIBZBEGohFgwACwsCQANAIBMgFE8NASAWIBMoAgA2AgAgE0EEaiETIBZBBGohFgwACwsgEiAMQQJ0aiESIBBBAWohEAwACwsgD0EBaiEPDAALCyAOQQFqIQ4MAAsLIA1BAWohDQwACwsL';

interface Exports {
  /** Byte addresses x, xt, then n, h, w, ci, plane, wp, pt, pl, yEnd, xEnd (see below). */
  toChannelMajor(x: number, xt: number, ...geometry: number[]): void;
  /** Byte addresses xt, cols, then kh, kw, ci, n, plane, wp, dh, dw, runs, len, stride (see below). */
  im2colRuns(xt: number, cols: number, ...geometry: number[]): void;
}

/**
 * xt[c][b][y + pt][x + pl] = x[b][y][x][c] for y < yEnd, x < xEnd (xt: ci planes of n images of plane = hp·wp
 * floats; its padding is left as it is), both views of `backend`'s heap; false (nothing written) where ci is not
 * a multiple of 4 or the SIMD module is unavailable. @internal
 */
export function simdToChannelMajor(
  backend: BackendWasm,
  xv: Float32Array,
  tv: Float32Array,
  shape: readonly [number, number, number, number],
  plane: number,
  wp: number,
  pt: number,
  pl: number,
  yEnd: number,
  xEnd: number,
): boolean {
  const [n, h, w, ci] = shape;
  if (ci % 4 !== 0 || ci === 0) return false;
  const ex = onHeap<Exports>(backend, 'layout', LAYOUT_WASM, LAYOUT_WASM_SHARED);
  if (!ex) return false;
  ex.toChannelMajor(xv.byteOffset, tv.byteOffset, n, h, w, ci, plane, wp, pt, pl, yEnd, xEnd);
  return true;
}

/**
 * The transposed im2col from channel-major, padded x (`tv`: ci planes of n images of `plane` floats, rows of wp)
 * into `cv`: for each tap (i, j), channel and image in that order, `runs` runs of `len` floats from
 * tv[c][b][i·dh·wp + j·dw], `stride` floats apart, one after another; both views of `backend`'s heap. False
 * (nothing written) where the SIMD module is unavailable. @internal
 */
export function simdIm2colRuns(
  backend: BackendWasm,
  tv: Float32Array,
  cv: Float32Array,
  taps: readonly [kh: number, kw: number, dh: number, dw: number],
  ci: number,
  n: number,
  plane: number,
  wp: number,
  runs: number,
  len: number,
  stride: number,
): boolean {
  const ex = onHeap<Exports>(backend, 'layout', LAYOUT_WASM, LAYOUT_WASM_SHARED);
  if (!ex) return false;
  const [kh, kw, dh, dw] = taps;
  ex.im2colRuns(tv.byteOffset, cv.byteOffset, kh, kw, ci, n, plane, wp, dh, dw, runs, len, stride);
  return true;
}
