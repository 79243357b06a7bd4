import type { IndexMask, RgbImage } from '../io/types.js';

/** A source rectangle in pixels (crop box): columns x..x+w-1, rows y..y+h-1. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

function cubic(x: number): number {
  // Keys cubic with a = -0.5, the kernel of PIL's BICUBIC filter (spec §3.10/§3.11 resample with PIL bicubic).
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  stride: number;
}

/**
 * Filter taps for resampling `inSize` source pixels (starting at `offset`) to `outSize`, the way PIL does it:
 * the kernel is widened by the downscale factor (antialiasing) and weights are normalised to sum 1; taps are
 * clamped to the source window (crop-then-resize semantics).
 */
function taps(offset: number, inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const fs = Math.max(scale, 1);
  const support = 2 * fs;
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let sum = 0;
    const n = hi - lo;
    for (let k = 0; k < n; k++) {
      const w = cubic((k + lo - center + 0.5) / fs);
      weights[o * stride + k] = w;
      sum += w;
    }
    if (sum !== 0) for (let k = 0; k < n; k++) weights[o * stride + k]! /= sum;
    start[o] = lo + offset;
    count[o] = n;
  }
  return { start, count, weights, stride };
}

const clampByte = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/**
 * Bicubic resize of the `box` region of an RGB image to `outW`×`outH` (PIL BICUBIC semantics: separable,
 * horizontal pass then vertical, antialiased when shrinking, 8-bit rounding between passes).
 */
export function resizeBicubic(src: RgbImage, box: Box, outW: number, outH: number): RgbImage {
  checkBox(src, box);
  const hx = taps(box.x, box.w, outW);
  const hy = taps(box.y, box.h, outH);
  const sw = src.width;
  const s = src.data;
  // Horizontal pass over the rows the box covers.
  const mid = new Uint8Array(box.h * outW * 3);
  const hStart = hx.start;
  const hCount = hx.count;
  const hW = hx.weights;
  const hStride = hx.stride;
  for (let y = 0; y < box.h; y++) {
    const row = (box.y + y) * sw;
    const q0 = y * outW * 3;
    for (let o = 0; o < outW; o++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let p = (row + hStart[o]!) * 3;
      const n = hCount[o]!;
      const wo = o * hStride;
      for (let k = 0; k < n; k++, p += 3) {
        const w = hW[wo + k]!;
        r += s[p]! * w;
        g += s[p + 1]! * w;
        b += s[p + 2]! * w;
      }
      const q = q0 + o * 3;
      mid[q] = clampByte(r);
      mid[q + 1] = clampByte(g);
      mid[q + 2] = clampByte(b);
    }
  }
  const out = new Uint8Array(outW * outH * 3);
  const rowLen = outW * 3;
  const acc = new Float32Array(rowLen);
  for (let o = 0; o < outH; o++) {
    const st = hy.start[o]! - box.y;
    const n = hy.count[o]!;
    const wo = o * hy.stride;
    acc.fill(0);
    for (let k = 0; k < n; k++) {
      const w = hy.weights[wo + k]!;
      const p0 = (st + k) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i]! += mid[p0 + i]! * w;
    }
    const q0 = o * rowLen;
    for (let i = 0; i < rowLen; i++) out[q0 + i] = clampByte(acc[i]!);
  }
  return { width: outW, height: outH, data: out };
}

function checkBox(src: { width: number; height: number }, box: Box): void {
  const { x, y, w, h } = box;
  if (!Number.isInteger(x) || !Number.isInteger(y) || !Number.isInteger(w) || !Number.isInteger(h)) {
    throw new RangeError(`resize: box must be integers, got ${JSON.stringify(box)}`);
  }
  if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > src.width || y + h > src.height) {
    throw new RangeError(
      `resize: box ${JSON.stringify(box)} is outside the ${src.width}x${src.height} image`,
    );
  }
}

/**
 * Nearest-neighbour resize of the `box` region of a mask (PIL NEAREST: source pixel
 * ⌊(o + 0.5)·in/out⌋), so class indices are never blended.
 */
export function resizeNearest(src: IndexMask, box: Box, outW: number, outH: number): IndexMask {
  checkBox(src, box);
  const xs = new Int32Array(outW);
  for (let o = 0; o < outW; o++) xs[o] = box.x + Math.min(box.w - 1, Math.floor(((o + 0.5) * box.w) / outW));
  const out = new Uint8Array(outW * outH);
  for (let o = 0; o < outH; o++) {
    const sy = box.y + Math.min(box.h - 1, Math.floor(((o + 0.5) * box.h) / outH));
    const row = sy * src.width;
    for (let x = 0; x < outW; x++) out[o * outW + x] = src.data[row + xs[x]!]!;
  }
  return { width: outW, height: outH, data: out };
}

/**
 * Bilinear resize of a float HWC map with `align_corners=False` (half-pixel centres, no antialiasing), the
 * mode spec §3.11 uses to bring cut view masks back to the original size. `box` selects the source window.
 */
export function resizeBilinearFloat(
  src: Float32Array,
  srcW: number,
  srcH: number,
  channels: number,
  box: Box,
  outW: number,
  outH: number,
): Float32Array {
  checkBox({ width: srcW, height: srcH }, box);
  const out = new Float32Array(outW * outH * channels);
  const sx = box.w / outW;
  const sy = box.h / outH;
  for (let oy = 0; oy < outH; oy++) {
    let fy = (oy + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    const y0 = Math.min(Math.floor(fy), box.h - 1);
    const y1 = Math.min(y0 + 1, box.h - 1);
    const ty = fy - y0;
    for (let ox = 0; ox < outW; ox++) {
      let fx = (ox + 0.5) * sx - 0.5;
      if (fx < 0) fx = 0;
      const x0 = Math.min(Math.floor(fx), box.w - 1);
      const x1 = Math.min(x0 + 1, box.w - 1);
      const tx = fx - x0;
      const p00 = ((box.y + y0) * srcW + box.x + x0) * channels;
      const p01 = ((box.y + y0) * srcW + box.x + x1) * channels;
      const p10 = ((box.y + y1) * srcW + box.x + x0) * channels;
      const p11 = ((box.y + y1) * srcW + box.x + x1) * channels;
      const q = (oy * outW + ox) * channels;
      for (let c = 0; c < channels; c++) {
        const top = src[p00 + c]! * (1 - tx) + src[p01 + c]! * tx;
        const bot = src[p10 + c]! * (1 - tx) + src[p11 + c]! * tx;
        out[q + c] = top * (1 - ty) + bot * ty;
      }
    }
  }
  return out;
}
