/**
 * Typed-array cores of bilinear grid sampling with zero padding (PyTorch `grid_sample(mode='bilinear',
 * padding_mode='zeros')`, spec §1.3 and §4.3), shared by the `cpu` and `wasm` kernels. NHWC float32.
 *
 * Per output pixel the four taps are read as C contiguous channels, so the inner loops are unit-stride.
 * Coordinates are computed the way PyTorch's CPU kernel does (float32 arithmetic, `(g + 1)·s − shift`), so
 * that floor() picks the same taps as PyTorch even where a grid point lands exactly on a pixel.
 */

const f32 = Math.fround;

/** Shapes of one grid-sample problem: x (n,h,w,c) sampled at grid (n,ho,wo,2). */
export interface GridSampleDims {
  n: number;
  h: number;
  w: number;
  c: number;
  ho: number;
  wo: number;
}

/**
 * Scale and shift that map a normalised coordinate g ∈ [−1, 1] to a pixel coordinate:
 * u = (g + 1)·scale − shift. alignCorners: scale (size−1)/2, shift 0 (u = (g+1)/2·(size−1));
 * otherwise scale size/2, shift ½ (u = ((g+1)·size − 1)/2). `scale` is also du/dg for the grid gradient.
 */
export function unnormalizeParams(size: number, alignCorners: boolean): { scale: number; shift: number } {
  return alignCorners ? { scale: f32((size - 1) / 2), shift: 0 } : { scale: f32(size / 2), shift: 0.5 };
}

/** Forward: out (n,ho,wo,c) = bilinear samples of x at grid; out-of-range taps contribute 0. */
export function gridSampleForward(
  x: Float32Array,
  grid: Float32Array,
  out: Float32Array,
  d: GridSampleDims,
  alignCorners: boolean,
): void {
  const { n, h, w, c, ho, wo } = d;
  const { scale: sx, shift } = unnormalizeParams(w, alignCorners);
  const { scale: sy } = unnormalizeParams(h, alignCorners);
  const row = w * c;
  const plane = h * row;
  const pixels = ho * wo;
  for (let b = 0; b < n; b++) {
    const base = b * plane;
    for (let p = b * pixels, pEnd = p + pixels; p < pEnd; p++) {
      const ix = f32(f32(f32(grid[2 * p]! + 1) * sx) - shift);
      const iy = f32(f32(f32(grid[2 * p + 1]! + 1) * sy) - shift);
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const fw = f32(ix - x0); // distance to the west tap
      const fe = f32(x0 + 1 - ix);
      const fn = f32(iy - y0);
      const fs = f32(y0 + 1 - iy);
      const wnw = f32(fs * fe);
      const wne = f32(fs * fw);
      const wsw = f32(fn * fe);
      const wse = f32(fn * fw);
      const o = p * c;
      if (x0 >= 0 && x0 + 1 < w && y0 >= 0 && y0 + 1 < h) {
        const pnw = base + y0 * row + x0 * c;
        const pne = pnw + c;
        const psw = pnw + row;
        const pse = psw + c;
        for (let k = 0; k < c; k++) {
          out[o + k] = wnw * x[pnw + k]! + wne * x[pne + k]! + wsw * x[psw + k]! + wse * x[pse + k]!;
        }
      } else {
        // Border or outside: only in-range taps contribute (never multiply a zero weight by x, so that an
        // Inf/NaN elsewhere in x cannot leak in, as in PyTorch's masked gather).
        out.fill(0, o, o + c);
        const xIn0 = x0 >= 0 && x0 < w;
        const xIn1 = x0 + 1 >= 0 && x0 + 1 < w;
        if (y0 >= 0 && y0 < h) {
          const r = base + y0 * row;
          if (xIn0) addTap(out, o, x, r + x0 * c, wnw, c);
          if (xIn1) addTap(out, o, x, r + (x0 + 1) * c, wne, c);
        }
        if (y0 + 1 >= 0 && y0 + 1 < h) {
          const r = base + (y0 + 1) * row;
          if (xIn0) addTap(out, o, x, r + x0 * c, wsw, c);
          if (xIn1) addTap(out, o, x, r + (x0 + 1) * c, wse, c);
        }
      }
    }
  }
}

function addTap(out: Float32Array, o: number, x: Float32Array, p: number, wt: number, c: number): void {
  for (let k = 0; k < c; k++) out[o + k] = out[o + k]! + wt * x[p + k]!;
}

/**
 * Backward: given dy (n,ho,wo,c), accumulates dx (n,h,w,c) — which the caller must zero — and writes dgrid
 * (n,ho,wo,2). dgrid is the derivative of the bilinear weights (PyTorch's convention: the taps are those of
 * floor(u), so on an integer coordinate it is the one-sided derivative towards +u; taps outside count as 0).
 */
export function gridSampleBackward(
  dy: Float32Array,
  x: Float32Array,
  grid: Float32Array,
  dx: Float32Array,
  dgrid: Float32Array,
  d: GridSampleDims,
  alignCorners: boolean,
): void {
  const { n, h, w, c, ho, wo } = d;
  const { scale: sx, shift } = unnormalizeParams(w, alignCorners);
  const { scale: sy } = unnormalizeParams(h, alignCorners);
  const row = w * c;
  const plane = h * row;
  const pixels = ho * wo;
  for (let b = 0; b < n; b++) {
    const base = b * plane;
    for (let p = b * pixels, pEnd = p + pixels; p < pEnd; p++) {
      const ix = f32(f32(f32(grid[2 * p]! + 1) * sx) - shift);
      const iy = f32(f32(f32(grid[2 * p + 1]! + 1) * sy) - shift);
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const fw = f32(ix - x0);
      const fe = f32(x0 + 1 - ix);
      const fn = f32(iy - y0);
      const fs = f32(y0 + 1 - iy);
      const wnw = f32(fs * fe);
      const wne = f32(fs * fw);
      const wsw = f32(fn * fe);
      const wse = f32(fn * fw);
      const o = p * c;
      // s.. = Σ_k dy_k · x_tap,k: the sensitivity of the loss to each tap's weight.
      let snw = 0;
      let sne = 0;
      let ssw = 0;
      let sse = 0;
      if (x0 >= 0 && x0 + 1 < w && y0 >= 0 && y0 + 1 < h) {
        const pnw = base + y0 * row + x0 * c;
        const pne = pnw + c;
        const psw = pnw + row;
        const pse = psw + c;
        for (let k = 0; k < c; k++) {
          const g = dy[o + k]!;
          snw += g * x[pnw + k]!;
          sne += g * x[pne + k]!;
          ssw += g * x[psw + k]!;
          sse += g * x[pse + k]!;
          dx[pnw + k] = dx[pnw + k]! + wnw * g;
          dx[pne + k] = dx[pne + k]! + wne * g;
          dx[psw + k] = dx[psw + k]! + wsw * g;
          dx[pse + k] = dx[pse + k]! + wse * g;
        }
      } else {
        const xIn0 = x0 >= 0 && x0 < w;
        const xIn1 = x0 + 1 >= 0 && x0 + 1 < w;
        if (y0 >= 0 && y0 < h) {
          const r = base + y0 * row;
          if (xIn0) snw = tapBackward(dy, o, x, dx, r + x0 * c, wnw, c);
          if (xIn1) sne = tapBackward(dy, o, x, dx, r + (x0 + 1) * c, wne, c);
        }
        if (y0 + 1 >= 0 && y0 + 1 < h) {
          const r = base + (y0 + 1) * row;
          if (xIn0) ssw = tapBackward(dy, o, x, dx, r + x0 * c, wsw, c);
          if (xIn1) sse = tapBackward(dy, o, x, dx, r + (x0 + 1) * c, wse, c);
        }
      }
      // ∂out/∂u = fs·(ne − nw) + fn·(se − sw); ∂out/∂v = fe·(sw − nw) + fw·(se − ne); times du/dg.
      dgrid[2 * p] = (fs * (sne - snw) + fn * (sse - ssw)) * sx;
      dgrid[2 * p + 1] = (fe * (ssw - snw) + fw * (sse - sne)) * sy;
    }
  }
}

function tapBackward(
  dy: Float32Array,
  o: number,
  x: Float32Array,
  dx: Float32Array,
  p: number,
  wt: number,
  c: number,
): number {
  let s = 0;
  for (let k = 0; k < c; k++) {
    const g = dy[o + k]!;
    s += g * x[p + k]!;
    dx[p + k] = dx[p + k]! + wt * g;
  }
  return s;
}
