/**
 * Typed-array cores of replicate (edge) padding, NHWC float32 (spec §3.6: PAMR pads image and masks this
 * way for each of its six dilations, every refinement iteration, so it must be cheap). Each output pixel
 * reads the input pixel at the clamped coordinates; the gradient sums the output pixels that read it.
 */

/** x (n,h,w,c) padded by top/bottom/left/right → (n, h+top+bottom, w+left+right, c). */
export interface PadDims {
  n: number;
  h: number;
  w: number;
  c: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** Source index along one axis for each output index: clamp(o − before, 0, size − 1). */
function clampTable(size: number, before: number, after: number): Int32Array {
  const t = new Int32Array(size + before + after);
  for (let o = 0; o < t.length; o++) t[o] = Math.min(Math.max(o - before, 0), size - 1);
  return t;
}

/** Forward: writes every element of out. */
export function padReplicateForward(x: Float32Array, out: Float32Array, d: PadDims): void {
  const { n, h, w, c, top, bottom, left, right } = d;
  const ho = h + top + bottom;
  const wo = w + left + right;
  const rows = clampTable(h, top, bottom);
  const rowOut = wo * c;
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < ho; r++) {
      const o = (b * ho + r) * rowOut;
      const sr = rows[r]!;
      if (r > 0 && sr === rows[r - 1]) {
        // A replicated top/bottom row equals the output row above it: one block copy.
        out.copyWithin(o, o - rowOut, o);
        continue;
      }
      const src = (b * h + sr) * w * c;
      // Interior: one contiguous copy of the source row, then the edge pixels repeated left and right.
      out.set(x.subarray(src, src + w * c), o + left * c);
      for (let q = 0; q < left; q++) out.copyWithin(o + q * c, o + left * c, o + (left + 1) * c);
      const last = o + (left + w - 1) * c;
      for (let q = left + w; q < wo; q++) out.copyWithin(o + q * c, last, last + c);
    }
  }
}

/** Backward: dx (n,h,w,c) = Σ of dy over the output pixels that copy each input pixel. Overwrites dx. */
export function padReplicateBackward(dy: Float32Array, dx: Float32Array, d: PadDims): void {
  const { n, h, w, c, top, bottom, left, right } = d;
  const ho = h + top + bottom;
  const wo = w + left + right;
  const rows = clampTable(h, top, bottom);
  const cols = clampTable(w, left, right);
  dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < ho; r++) {
      const srcRow = (b * h + rows[r]!) * w * c;
      let o = (b * ho + r) * wo * c;
      for (let q = 0; q < wo; q++, o += c) {
        const p = srcRow + cols[q]! * c;
        for (let k = 0; k < c; k++) dx[p + k] = dx[p + k]! + dy[o + k]!;
      }
    }
  }
}
