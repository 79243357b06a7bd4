/**
 * Typed-array core of the gradient of bilinear resizing with PyTorch `F.interpolate(mode='bilinear')`
 * semantics (spec §1.3), NHWC float32. tfjs's own `ResizeBilinearGrad` (cpu and wasm) ignores
 * `halfPixelCenters`, so it is wrong for align_corners=False, and the cpu one swaps H and W of its output
 * shape; this replaces it for both modes.
 */

const f32 = Math.fround;

/** For each output index along one axis: the two source taps and the weight of the second. */
export interface LerpTable {
  i0: Int32Array;
  i1: Int32Array;
  /** weight of i1; the weight of i0 is 1 − l1. */
  l1: Float32Array;
}

/**
 * Source taps along one axis, as PyTorch's `area_pixel_compute_source_index` computes them (float32):
 * alignCorners: src = dst·(in−1)/(out−1) (0 when out = 1); otherwise src = max(0, (dst+½)·in/out − ½).
 * The second tap is clamped to the last pixel, so the edge pixel is replicated.
 */
export function lerpTable(inSize: number, outSize: number, alignCorners: boolean): LerpTable {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l1 = new Float32Array(outSize);
  const scale = alignCorners ? (outSize > 1 ? f32((inSize - 1) / (outSize - 1)) : 0) : f32(inSize / outSize);
  for (let d = 0; d < outSize; d++) {
    let src = alignCorners ? f32(scale * d) : f32(f32(scale * f32(d + 0.5)) - 0.5);
    if (src < 0) src = 0;
    const a = Math.min(Math.floor(src), inSize - 1);
    i0[d] = a;
    i1[d] = a < inSize - 1 ? a + 1 : a;
    l1[d] = Math.min(Math.max(f32(src - a), 0), 1);
  }
  return { i0, i1, l1 };
}

/** Shapes: dy (n,ho,wo,c) → dx (n,h,w,c). */
export interface ResizeDims {
  n: number;
  h: number;
  w: number;
  c: number;
  ho: number;
  wo: number;
}

/** dx = gradient of bilinear resizing x (n,h,w,c) → (n,ho,wo,c), given dy. Overwrites all of dx. */
export function resizeBilinearBackward(
  dy: Float32Array,
  dx: Float32Array,
  d: ResizeDims,
  alignCorners: boolean,
): void {
  const { n, h, w, c, ho, wo } = d;
  const ty = lerpTable(h, ho, alignCorners);
  const tx = lerpTable(w, wo, alignCorners);
  dx.fill(0);
  const row = w * c;
  for (let b = 0; b < n; b++) {
    const base = b * h * row;
    for (let r = 0; r < ho; r++) {
      const ly1 = ty.l1[r]!;
      const ly0 = 1 - ly1;
      const top = base + ty.i0[r]! * row;
      const bottom = base + ty.i1[r]! * row;
      for (let q = 0; q < wo; q++) {
        const lx1 = tx.l1[q]!;
        const lx0 = 1 - lx1;
        const left = tx.i0[q]! * c;
        const right = tx.i1[q]! * c;
        const w00 = ly0 * lx0;
        const w01 = ly0 * lx1;
        const w10 = ly1 * lx0;
        const w11 = ly1 * lx1;
        const o = ((b * ho + r) * wo + q) * c;
        const p00 = top + left;
        const p01 = top + right;
        const p10 = bottom + left;
        const p11 = bottom + right;
        for (let k = 0; k < c; k++) {
          const g = dy[o + k]!;
          dx[p00 + k] = dx[p00 + k]! + w00 * g;
          dx[p01 + k] = dx[p01 + k]! + w01 * g;
          dx[p10 + k] = dx[p10 + k]! + w10 * g;
          dx[p11 + k] = dx[p11 + k]! + w11 * g;
        }
      }
    }
  }
}
