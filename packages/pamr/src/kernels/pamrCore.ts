/**
 * Typed-array core of PAMR (spec §3.6), shared by the `cpu` and `wasm` kernels: they differ only in where the
 * arrays live (the cpu backend's Float32Arrays, views of the wasm heap). Replicate padding is done by clamping
 * source indices, never by materialising padded copies.
 *
 * Layouts: image (N,H,W,K) and masks (N,H,W,C), NHWC row-major. Per image, the affinity is stored pixel-major,
 * `weights[p·T + t]` (T = 8 × number of dilations taps, p = y·W + x), next to a table of the same layout with
 * the flat source pixel of each tap, so one propagation step is a T-tap gather per pixel whose inner loop runs
 * over the C contiguous mask channels. The affinity is computed here in JS (float64, once per image); the
 * propagation steps run in a WebAssembly SIMD module (propagateWasm.ts), or in {@link propagate} where the
 * runtime lacks SIMD — bit-identical either way.
 */
import { simdPropagation } from './propagateWasm.js';

/** Sizes of one PAMR problem. */
export interface PamrDims {
  n: number;
  h: number;
  w: number;
  /** Image channels (3 for RGB). */
  k: number;
  /** Mask channels (classes). */
  c: number;
}

/**
 * The (dy, dx) of the 8 non-centre neighbours of every dilation, as pairs: dilation-major in list order, raster
 * order within a dilation (spec §3.6): (−d,−d), (−d,0), (−d,+d), (0,−d), (0,+d), (+d,−d), (+d,0), (+d,+d).
 */
export function tapOffsets(dilations: readonly number[]): Int32Array {
  const out = new Int32Array(dilations.length * 16);
  let i = 0;
  for (const d of dilations) {
    for (const dy of [-d, 0, d]) {
      for (const dx of [-d, 0, d]) {
        if (dy === 0 && dx === 0) continue;
        out[i++] = dy;
        out[i++] = dx;
      }
    }
  }
  return out;
}

/**
 * Flat source pixel of every tap of every pixel under replicate padding: `pixelMajor` gives `idx[p·T + t]`
 * (the kernels' layout), otherwise `idx[t·P + p]` (the composite's gather layout).
 */
export function tapSources(
  h: number,
  w: number,
  dilations: readonly number[],
  pixelMajor: boolean,
): Int32Array {
  const off = tapOffsets(dilations);
  const taps = off.length / 2;
  const pixels = h * w;
  const idx = new Int32Array(taps * pixels);
  for (let t = 0; t < taps; t++) {
    const dy = off[2 * t]!;
    const dx = off[2 * t + 1]!;
    for (let y = 0; y < h; y++) {
      const row = Math.min(h - 1, Math.max(0, y + dy)) * w;
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        const q = row + Math.min(w - 1, Math.max(0, x + dx));
        idx[pixelMajor ? p * taps + t : t * pixels + p] = q;
      }
    }
  }
  return idx;
}

let lastSources: { key: string; src: Int32Array } | undefined;

/** Tables up to this many entries (64 MiB) are kept between calls. */
const MAX_CACHED_SOURCES = 1 << 24;

/**
 * `tapSources(h, w, dilations, true)`, kept for the last size (training calls PAMR at one size every step)
 * unless it is large.
 */
function cachedTapSources(h: number, w: number, dilations: readonly number[]): Int32Array {
  const key = `${h}x${w}:${dilations.join(',')}`;
  if (lastSources?.key === key) return lastSources.src;
  const src = tapSources(h, w, dilations, true);
  lastSources = src.length <= MAX_CACHED_SOURCES ? { key, src } : undefined;
  return src;
}

/**
 * The affinity α(p, ·) of every pixel of one image (spec §3.6 steps 1–4), written to `weights[p·T + t]`.
 *
 * σ_k(p) is the unbiased standard deviation of channel k over the 9·D samples (the centre counted once per
 * dilation, the 8·D taps once each); a_k(p,t) = −|I_k(p) − I_k(src)| / (1e-8 + 0.1·σ_k(p)); a = mean over k;
 * α = softmax over the T taps. One pass over the taps collects the differences to the centre (the statistics
 * are taken on them: shifting by the centre value keeps the one-pass variance accurate), in float64.
 *
 * @param image the whole image tensor's data; `imageOff` is the first element of this image.
 * @param src `tapSources(h, w, dilations, true)`.
 */
export function computeAffinity(
  image: Float32Array,
  imageOff: number,
  src: Int32Array,
  weights: Float32Array,
  pixels: number,
  taps: number,
  k: number,
): void {
  const samples = (9 * taps) / 8;
  const diff = new Float64Array(taps * k);
  const s1 = new Float64Array(k);
  const s2 = new Float64Array(k);
  const inv = new Float64Array(k);
  const a = new Float64Array(taps);
  if (k === 3) {
    affinityRgb(image, imageOff, src, weights, pixels, taps, diff, a);
    return;
  }
  for (let p = 0; p < pixels; p++) {
    const base = p * taps;
    const centre = imageOff + p * k;
    s1.fill(0);
    s2.fill(0);
    for (let t = 0; t < taps; t++) {
      const q = imageOff + src[base + t]! * k;
      for (let ch = 0; ch < k; ch++) {
        // The centre samples contribute 0 to both sums (their difference to the centre is 0).
        const dv = image[q + ch]! - image[centre + ch]!;
        diff[t * k + ch] = dv;
        s1[ch] = s1[ch]! + dv;
        s2[ch] = s2[ch]! + dv * dv;
      }
    }
    for (let ch = 0; ch < k; ch++) {
      const m = s1[ch]! / samples;
      const variance = Math.max(0, (s2[ch]! - samples * m * m) / (samples - 1));
      inv[ch] = -1 / (k * (1e-8 + 0.1 * Math.sqrt(variance)));
    }
    let max = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < taps; t++) {
      let v = 0;
      for (let ch = 0; ch < k; ch++) v += Math.abs(diff[t * k + ch]!) * inv[ch]!;
      a[t] = v;
      if (v > max) max = v;
    }
    let z = 0;
    for (let t = 0; t < taps; t++) {
      const e = Math.exp(a[t]! - max);
      a[t] = e;
      z += e;
    }
    const rz = 1 / z;
    for (let t = 0; t < taps; t++) weights[base + t] = a[t]! * rz;
  }
}

/** {@link computeAffinity} for K = 3 (RGB, the method's case) with the channel loops unrolled into locals. */
function affinityRgb(
  image: Float32Array,
  imageOff: number,
  src: Int32Array,
  weights: Float32Array,
  pixels: number,
  taps: number,
  diff: Float64Array,
  a: Float64Array,
): void {
  const samples = (9 * taps) / 8;
  for (let p = 0; p < pixels; p++) {
    const base = p * taps;
    const centre = imageOff + p * 3;
    const c0 = image[centre]!;
    const c1 = image[centre + 1]!;
    const c2 = image[centre + 2]!;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    for (let t = 0; t < taps; t++) {
      const q = imageOff + src[base + t]! * 3;
      const d0 = image[q]! - c0;
      const d1 = image[q + 1]! - c1;
      const d2 = image[q + 2]! - c2;
      diff[3 * t] = d0;
      diff[3 * t + 1] = d1;
      diff[3 * t + 2] = d2;
      a0 += d0;
      a1 += d1;
      a2 += d2;
      b0 += d0 * d0;
      b1 += d1 * d1;
      b2 += d2 * d2;
    }
    // a = −(1/3) Σ_k |d_k| / (1e-8 + 0.1 σ_k): fold −1/3 into the per-channel factors.
    const m0 = a0 / samples;
    const m1 = a1 / samples;
    const m2 = a2 / samples;
    const i0 = -1 / (3 * (1e-8 + 0.1 * Math.sqrt(Math.max(0, (b0 - samples * m0 * m0) / (samples - 1)))));
    const i1 = -1 / (3 * (1e-8 + 0.1 * Math.sqrt(Math.max(0, (b1 - samples * m1 * m1) / (samples - 1)))));
    const i2 = -1 / (3 * (1e-8 + 0.1 * Math.sqrt(Math.max(0, (b2 - samples * m2 * m2) / (samples - 1)))));
    let max = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < taps; t++) {
      const v =
        Math.abs(diff[3 * t]!) * i0 + Math.abs(diff[3 * t + 1]!) * i1 + Math.abs(diff[3 * t + 2]!) * i2;
      a[t] = v;
      if (v > max) max = v;
    }
    let z = 0;
    for (let t = 0; t < taps; t++) {
      const e = Math.exp(a[t]! - max);
      a[t] = e;
      z += e;
    }
    const rz = 1 / z;
    for (let t = 0; t < taps; t++) weights[base + t] = a[t]! * rz;
  }
}

/**
 * One refinement step of one image (spec §3.6 step 5): dst_c(p) = Σ_t weights[p·T+t] · from_c(src[p·T+t]),
 * the scalar fallback of the SIMD module (propagateWasm.ts). `from` and `dst` must not overlap. Taps are summed
 * in order in float32 (`Math.fround` after every multiply and add — exact emulation, double rounding being
 * innocuous for 53 ≥ 2·24 + 2 bits), the SIMD module's order, so both paths give identical bits. T is a
 * multiple of 8: taps are taken four at a time, one read-modify-write of dst per four taps.
 */
export function propagate(
  from: Float32Array,
  fromOff: number,
  dst: Float32Array,
  dstOff: number,
  src: Int32Array,
  weights: Float32Array,
  pixels: number,
  taps: number,
  c: number,
): void {
  const f = Math.fround;
  for (let p = 0; p < pixels; p++) {
    const o = dstOff + p * c;
    const base = p * taps;
    for (let t = 0; t < taps; t += 4) {
      const w0 = weights[base + t]!;
      const w1 = weights[base + t + 1]!;
      const w2 = weights[base + t + 2]!;
      const w3 = weights[base + t + 3]!;
      const s0 = fromOff + src[base + t]! * c;
      const s1 = fromOff + src[base + t + 1]! * c;
      const s2 = fromOff + src[base + t + 2]! * c;
      const s3 = fromOff + src[base + t + 3]! * c;
      for (let ch = 0; ch < c; ch++) {
        let x = t === 0 ? 0 : dst[o + ch]!;
        x = f(x + f(w0 * from[s0 + ch]!));
        x = f(x + f(w1 * from[s1 + ch]!));
        x = f(x + f(w2 * from[s2 + ch]!));
        dst[o + ch] = x + f(w3 * from[s3 + ch]!);
      }
    }
  }
}

/**
 * Full PAMR over a batch: affinity once per image, then `iterations` propagation steps (in the SIMD module
 * where available, else ping-ponging between `out` and a scratch buffer so that the last step lands in
 * `out`). `masks` is read only.
 */
export function pamrForward(
  image: Float32Array,
  masks: Float32Array,
  out: Float32Array,
  dims: PamrDims,
  iterations: number,
  dilations: readonly number[],
): void {
  const { n, h, w, k, c } = dims;
  const pixels = h * w;
  const taps = 8 * dilations.length;
  const plane = pixels * c;
  if (iterations === 0) {
    out.set(masks.subarray(0, n * plane));
    return;
  }
  const src = cachedTapSources(h, w, dilations);
  const simd = simdPropagation(src, pixels, taps, c);
  // With SIMD the affinity is written straight into the module's memory.
  const weights = simd ? simd.weights : new Float32Array(pixels * taps);
  const scratch = iterations > 1 && !simd ? new Float32Array(plane) : new Float32Array(0);
  for (let b = 0; b < n; b++) {
    computeAffinity(image, b * pixels * k, src, weights, pixels, taps, k);
    const outOff = b * plane;
    if (simd) {
      simd.run(masks, outOff, out, outOff, iterations);
      continue;
    }
    let from = masks;
    let fromOff = outOff;
    for (let it = 0; it < iterations; it++) {
      // Parity chosen so that the last step (it = iterations − 1) writes `out`.
      const toOut = (iterations - 1 - it) % 2 === 0;
      const dst = toOut ? out : scratch;
      const dstOff = toOut ? outOff : 0;
      propagate(from, fromOff, dst, dstOff, src, weights, pixels, taps, c);
      from = dst;
      fromOff = dstOff;
    }
  }
}
