/**
 * The filter gradient's layout copies (conv2dBackpropFilter.ts) as WebAssembly SIMD on tfjs's heap (source:
 * wasm/layout.wat; regenerate with `node wasm/embed.mjs` in packages/core): x to channel-major with blocks of 4
 * pixels × 4 channels transposed in registers, the transposed im2col's runs in one call (a JS loop paid a
 * `copyWithin` call per output row), and the strided input gradient's per-pixel copies (conv2dBackpropInput.ts).
 * Copies, so the results are the JS loops' to the bit.
 * @internal
 */
import { onHeap } from '../heapWasm.js';
import type { BackendWasm } from './heap.js';

const LAYOUT_WASM =
  'AGFzbQEAAAABLANgDH9/f39/f39/f39/fwBgDX9/f39/f39/f39/f38AYAl/f39/f39/f38AAg8BA2VudgZtZW1vcnkCAAEDBAMAAQIHLAMOdG9DaGFubmVsTWFqb3IAAAppbTJjb2xSdW5zAAEKY29weUJsb2NrcwACCoUIA7IEAgp/CHsgAiAGbEECdCEMIAVBAnQhFQJAA0AgDSACTw0BQQAhDgJAA0AgDiAKTw0BIAAgDSADbCAOaiAEbCAFbEECdGohESABIA0gBmwgDiAIaiAHbGogCWpBAnRqIRJBACEPAkADQCAPQQRqIAtLDQFBACEQIBEgDyAVbGohEyASIA9BAnRqIRQDQCAT/QAEACEWIBMgFWr9AAQAIRcgEyAVQQF0av0ABAAhGCATIBVBA2xq/QAEACEZIBYgF/0NAAECAxAREhMEBQYHFBUWFyEaIBYgF/0NCAkKCxgZGhsMDQ4PHB0eHyEbIBggGf0NAAECAxAREhMEBQYHFBUWFyEcIBggGf0NCAkKCxgZGhsMDQ4PHB0eHyEdIBQgGiAc/Q0AAQIDBAUGBxAREhMUFRYX/QsEACAUIAxqIBogHP0NCAkKCwwNDg8YGRobHB0eH/0LBAAgFCAMQQF0aiAbIB39DQABAgMEBQYHEBESExQVFhf9CwQAIBQgDEEDbGogGyAd/Q0ICQoLDA0ODxgZGhscHR4f/QsEACATQRBqIRMgFCAMQQJ0aiEUIBBBBGohECAQIAVJDQALIA9BBGohDwwACwsCQANAIA8gC08NASARIA8gFWxqIRMgEiAPQQJ0aiEUQQAhEANAIBQgEygCADYCACATQQRqIRMgFCAMaiEUIBBBAWohECAQIAVJDQALIA9BAWohDwwACwsgDkEBaiEODAALCyANQQFqIQ0MAAsLC4ECAQp/IAEhFiALQQJ0IRUCQANAIA0gAk8NAUEAIQ4CQANAIA4gA08NASANIAhsIAdsIA4gCWxqQQJ0IRFBACEPAkADQCAPIAQgBWxPDQEgACAPIAZsQQJ0IBFqaiESQQAhEAJAA0AgECAKTw0BIBIhEyASIBVqIRQCQANAIBNBEGogFEsNASAWIBP9AAQA/QsEACATQRBqIRMgFkEQaiEWDAALCwJAA0AgEyAUTw0BIBYgEygCADYCACATQQRqIRMgFkEEaiEWDAALCyASIAxBAnRqIRIgEEEBaiEQDAALCyAPQQFqIQ8MAAsLIA5BAWohDgwACwsgDUEBaiENDAALCwvLAQEIfyAIQQJ0IRACQANAIAkgAk8NASAAIAkgA2xBAnRqIQsgASAJIARsQQJ0aiEMQQAhCgJAA0AgCiAFTw0BIAshDSAMIQ4gCyAQaiEPAkADQCANQRBqIA9LDQEgDiAN/QAEAP0LBAAgDUEQaiENIA5BEGohDgwACwsCQANAIA0gD08NASAOIA0oAgA2AgAgDUEEaiENIA5BBGohDgwACwsgCyAGQQJ0aiELIAwgB0ECdGohDCAKQQFqIQoMAAsLIAlBAWohCQwACwsL';
const LAYOUT_WASM_SHARED =
  'AGFzbQEAAAABLANgDH9/f39/f39/f39/fwBgDX9/f39/f39/f39/f38AYAl/f39/f39/f38AAhIBA2VudgZtZW1vcnkCAwGAgAQDBAMAAQIHLAMOdG9DaGFubmVsTWFqb3IAAAppbTJjb2xSdW5zAAEKY29weUJsb2NrcwACCoUIA7IEAgp/CHsgAiAGbEECdCEMIAVBAnQhFQJAA0AgDSACTw0BQQAhDgJAA0AgDiAKTw0BIAAgDSADbCAOaiAEbCAFbEECdGohESABIA0gBmwgDiAIaiAHbGogCWpBAnRqIRJBACEPAkADQCAPQQRqIAtLDQFBACEQIBEgDyAVbGohEyASIA9BAnRqIRQDQCAT/QAEACEWIBMgFWr9AAQAIRcgEyAVQQF0av0ABAAhGCATIBVBA2xq/QAEACEZIBYgF/0NAAECAxAREhMEBQYHFBUWFyEaIBYgF/0NCAkKCxgZGhsMDQ4PHB0eHyEbIBggGf0NAAECAxAREhMEBQYHFBUWFyEcIBggGf0NCAkKCxgZGhsMDQ4PHB0eHyEdIBQgGiAc/Q0AAQIDBAUGBxAREhMUFRYX/QsEACAUIAxqIBogHP0NCAkKCwwNDg8YGRobHB0eH/0LBAAgFCAMQQF0aiAbIB39DQABAgMEBQYHEBESExQVFhf9CwQAIBQgDEEDbGogGyAd/Q0ICQoLDA0ODxgZGhscHR4f/QsEACATQRBqIRMgFCAMQQJ0aiEUIBBBBGohECAQIAVJDQALIA9BBGohDwwACwsCQANAIA8gC08NASARIA8gFWxqIRMgEiAPQQJ0aiEUQQAhEANAIBQgEygCADYCACATQQRqIRMgFCAMaiEUIBBBAWohECAQIAVJDQALIA9BAWohDwwACwsgDkEBaiEODAALCyANQQFqIQ0MAAsLC4ECAQp/IAEhFiALQQJ0IRUCQANAIA0gAk8NAUEAIQ4CQANAIA4gA08NASANIAhsIAdsIA4gCWxqQQJ0IRFBACEPAkADQCAPIAQgBWxPDQEgACAPIAZsQQJ0IBFqaiESQQAhEAJAA0AgECAKTw0BIBIhEyASIBVqIRQCQANAIBNBEGogFEsNASAWIBP9AAQA/QsEACATQRBqIRMgFkEQaiEWDAALCwJAA0AgEyAUTw0BIBYgEygCADYCACATQQRqIRMgFkEEaiEWDAALCyASIAxBAnRqIRIgEEEBaiEQDAALCyAPQQFqIQ8MAAsLIA5BAWohDgwACwsgDUEBaiENDAALCwvLAQEIfyAIQQJ0IRACQANAIAkgAk8NASAAIAkgA2xBAnRqIQsgASAJIARsQQJ0aiEMQQAhCgJAA0AgCiAFTw0BIAshDSAMIQ4gCyAQaiEPAkADQCANQRBqIA9LDQEgDiAN/QAEAP0LBAAgDUEQaiENIA5BEGohDgwACwsCQANAIA0gD08NASAOIA0oAgA2AgAgDUEEaiENIA5BBGohDgwACwsgCyAGQQJ0aiELIAwgB0ECdGohDCAKQQFqIQoMAAsLIAlBAWohCQwACwsL';

interface Exports {
  /** Byte addresses x, xt, then n, h, w, ci, plane, wp, pt, pl, yEnd, xEnd (see below). */
  toChannelMajor(x: number, xt: number, ...geometry: number[]): void;
  /** Byte addresses xt, cols, then kh, kw, ci, n, plane, wp, dh, dw, runs, len, stride (see below). */
  im2colRuns(xt: number, cols: number, ...geometry: number[]): void;
  /** Byte addresses src, dst, then rows, srcRow, dstRow, count, srcStep, dstStep, len (see below). */
  copyBlocks(src: number, dst: number, ...geometry: number[]): void;
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

/**
 * For r < rows and v < count: `len` floats from heap float index src + r·srcRow + v·srcStep to dst + r·dstRow +
 * v·dstStep, on `backend`'s heap (regions that do not overlap). False (nothing written) where the SIMD module is
 * unavailable. @internal
 */
export function simdCopyBlocks(
  backend: BackendWasm,
  src: number,
  dst: number,
  rows: readonly [count: number, srcRow: number, dstRow: number],
  blocks: readonly [count: number, srcStep: number, dstStep: number, len: number],
): boolean {
  const ex = onHeap<Exports>(backend, 'layout', LAYOUT_WASM, LAYOUT_WASM_SHARED);
  if (!ex) return false;
  ex.copyBlocks(src * 4, dst * 4, ...rows, ...blocks);
  return true;
}
