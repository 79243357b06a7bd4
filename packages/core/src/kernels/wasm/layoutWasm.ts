/**
 * The filter gradient's channel-major copy of x (conv2dBackpropFilter.ts) as WebAssembly SIMD on tfjs's heap
 * (source: wasm/layout.wat; regenerate with `node wasm/embed.mjs` in packages/core): blocks of 4 pixels × 4 channels
 * transposed in registers. A copy, so the result is the JS loop's to the bit.
 * @internal
 */
import { onHeap } from '../heapWasm.js';
import type { BackendWasm } from './heap.js';

const LAYOUT_WASM =
  'AGFzbQEAAAABEAFgDH9/f39/f39/f39/fwACDwEDZW52Bm1lbW9yeQIAAQMCAQAHEgEOdG9DaGFubmVsTWFqb3IAAAq1BAGyBAIKfwh7IAIgBmxBAnQhDCAFQQJ0IRUCQANAIA0gAk8NAUEAIQ4CQANAIA4gCk8NASAAIA0gA2wgDmogBGwgBWxBAnRqIREgASANIAZsIA4gCGogB2xqIAlqQQJ0aiESQQAhDwJAA0AgD0EEaiALSw0BQQAhECARIA8gFWxqIRMgEiAPQQJ0aiEUA0AgE/0ABAAhFiATIBVq/QAEACEXIBMgFUEBdGr9AAQAIRggEyAVQQNsav0ABAAhGSAWIBf9DQABAgMQERITBAUGBxQVFhchGiAWIBf9DQgJCgsYGRobDA0ODxwdHh8hGyAYIBn9DQABAgMQERITBAUGBxQVFhchHCAYIBn9DQgJCgsYGRobDA0ODxwdHh8hHSAUIBogHP0NAAECAwQFBgcQERITFBUWF/0LBAAgFCAMaiAaIBz9DQgJCgsMDQ4PGBkaGxwdHh/9CwQAIBQgDEEBdGogGyAd/Q0AAQIDBAUGBxAREhMUFRYX/QsEACAUIAxBA2xqIBsgHf0NCAkKCwwNDg8YGRobHB0eH/0LBAAgE0EQaiETIBQgDEECdGohFCAQQQRqIRAgECAFSQ0ACyAPQQRqIQ8MAAsLAkADQCAPIAtPDQEgESAPIBVsaiETIBIgD0ECdGohFEEAIRADQCAUIBMoAgA2AgAgE0EEaiETIBQgDGohFCAQQQFqIRAgECAFSQ0ACyAPQQFqIQ8MAAsLIA5BAWohDgwACwsgDUEBaiENDAALCws=';
const LAYOUT_WASM_SHARED =
  'AGFzbQEAAAABEAFgDH9/f39/f39/f39/fwACEgEDZW52Bm1lbW9yeQIDAYCABAMCAQAHEgEOdG9DaGFubmVsTWFqb3IAAAq1BAGyBAIKfwh7IAIgBmxBAnQhDCAFQQJ0IRUCQANAIA0gAk8NAUEAIQ4CQANAIA4gCk8NASAAIA0gA2wgDmogBGwgBWxBAnRqIREgASANIAZsIA4gCGogB2xqIAlqQQJ0aiESQQAhDwJAA0AgD0EEaiALSw0BQQAhECARIA8gFWxqIRMgEiAPQQJ0aiEUA0AgE/0ABAAhFiATIBVq/QAEACEXIBMgFUEBdGr9AAQAIRggEyAVQQNsav0ABAAhGSAWIBf9DQABAgMQERITBAUGBxQVFhchGiAWIBf9DQgJCgsYGRobDA0ODxwdHh8hGyAYIBn9DQABAgMQERITBAUGBxQVFhchHCAYIBn9DQgJCgsYGRobDA0ODxwdHh8hHSAUIBogHP0NAAECAwQFBgcQERITFBUWF/0LBAAgFCAMaiAaIBz9DQgJCgsMDQ4PGBkaGxwdHh/9CwQAIBQgDEEBdGogGyAd/Q0AAQIDBAUGBxAREhMUFRYX/QsEACAUIAxBA2xqIBsgHf0NCAkKCwwNDg8YGRobHB0eH/0LBAAgE0EQaiETIBQgDEECdGohFCAQQQRqIRAgECAFSQ0ACyAPQQRqIQ8MAAsLAkADQCAPIAtPDQEgESAPIBVsaiETIBIgD0ECdGohFEEAIRADQCAUIBMoAgA2AgAgE0EEaiETIBQgDGohFCAQQQFqIRAgECAFSQ0ACyAPQQFqIQ8MAAsLIA5BAWohDgwACwsgDUEBaiENDAALCws=';

interface Exports {
  /** Byte addresses x, xt, then n, h, w, ci, plane, wp, pt, pl, yEnd, xEnd (see below). */
  toChannelMajor(x: number, xt: number, ...geometry: number[]): void;
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
