/**
 * Training-free salient-object maps for background seeds (spec §5.3 item 4, §6.2: FickleNet + DSRG take their
 * background cues from a saliency detector): the MB+ method of Zhang, Sclaroff, Lin, Shen, Price and Mech,
 * "Minimum Barrier Salient Object Detection at 80 FPS", ICCV 2015.
 *
 * The minimum barrier distance of a pixel is, over all 4-connected paths from the image boundary to it, the least
 * (max − min) of the intensities along the path: the background is reachable from the border along paths of
 * small variation even when it is textured, an object is not. FastMBD approximates it by alternating raster and
 * inverse-raster scans that relax each pixel through its causal neighbours, carrying the path's running max and
 * min; the result is the barrier of an actual path, so it never falls below the exact distance.
 *
 * Pipeline, with the paper's constants (the authors' code's where the paper leaves a step open, marked †): the
 * image area-downscaled to a longest side of 300 px (speed; the map is upsampled bilinearly at the end); CIE Lab;
 * a 5×5 median on each channel† (noise would otherwise add barrier along every path); FastMBD per channel
 * (3 passes), summed; plus the backgroundness cue (MB+: each pixel's Mahalanobis distance to the colours of each
 * of the four border strips, a tenth of the side wide, summed without the largest so an object touching one
 * side still stands out); centre bias; opening then closing by reconstruction on 8-bit levels†; the sigmoid
 * contrast stretch. Left out: the authors' code's removal of artificial image frames, and its whitened-L1
 * stand-in for the Mahalanobis distance; the backgroundness cue is measured in Lab (their code: RGB).
 */

import { simdBackground, simdMbd3, simdMedian5, simdSmooth } from './saliencyWasm.js';

/** An 8-bit RGB (or RGBA) image, row-major, channels last. */
export interface SaliencyImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

/** Options of {@link mbdSaliency}; every default is the paper's (or its authors' code's where the paper is silent). */
export interface MbdSaliencyOptions {
  /** FastMBD scans, alternating raster and inverse raster. [default] 3. */
  passes?: number;
  /**
   * Longest side the map is computed at: larger images are area-downscaled to it and the map is upsampled
   * bilinearly to the input size; smaller images are processed at their own size. [default] 300 (the paper's;
   * 200 halves the time of a 321×321 image).
   */
  maxSide?: number;
  /**
   * Channels the barrier is measured on. 'lab' [default]: CIE Lab (D65, 8-bit scaled as L·255/100, a + 128,
   * b + 128) — the paper's choice: its channels are closer to perceptual distance and separate lightness from
   * colour, so a shading gradient on the background costs barrier in one channel only. 'rgb': the raw channels.
   */
  colorSpace?: 'lab' | 'rgb';
  /** Radius of the median applied to each channel before the scans, in working pixels (0: none). [default] 2. */
  medianRadius?: number;
  /** Add the backgroundness cue (MB+); false gives plain MB. [default] true. */
  backgroundness?: boolean;
  /** Width of the border strips of the backgroundness cue, as a fraction of the image side. [default] 0.1. */
  borderRatio?: number;
  /** Added to the diagonal of each border strip's colour covariance (0–255 scale). [default] 50. */
  covarianceReg?: number;
  /** Multiply by 1 − (distance from the centre, normalised to 1 at the corners). [default] true. */
  centerBias?: boolean;
  /**
   * α of the smoothing: opening then closing by reconstruction with a square of side δ = max(3, α·√mean) at a
   * 300 px longest side (scaled with the working size; made odd). 0: no smoothing. [default] 50.
   */
  smoothAlpha?: number;
  /** b of the contrast stretch 1/(1 + e^(−b(s − τ))), τ adaptive. 0: no stretch. [default] 10. */
  contrast?: number;
}

const REFERENCE_SIDE = 300;

function fail(msg: string): never {
  throw new Error(`mbdSaliency: ${msg}`);
}

function checkInteger(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    fail(`${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

function checkNumber(name: string, v: unknown, min: number, strict: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (strict && v === min))
    fail(`${name} must be a finite number ${strict ? '>' : '≥'} ${min}, got ${String(v)}`);
  return v;
}

function checkBoolean(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(`${name} must be true or false, got ${String(v)}`);
  return v;
}

/**
 * FastMBD on one channel `v`, in place: `d` gets the barrier distances; `u`, `l` are scratch (the running max and
 * min of each pixel's current path). Border pixels are the seeds (distance 0).
 */
function fastMbd(
  v: Float32Array,
  w: number,
  h: number,
  passes: number,
  d: Float32Array,
  u: Float32Array,
  l: Float32Array,
): void {
  u.set(v);
  l.set(v);
  d.fill(0);
  if (w < 3 || h < 3) return;
  for (let y = 1; y < h - 1; y++) d.fill(Number.POSITIVE_INFINITY, y * w + 1, y * w + w - 1);
  for (let p = 0; p < passes; p++) {
    // raster passes relax through the left and upper neighbours, inverse passes through the right and lower ones
    const forward = p % 2 === 0;
    const a = forward ? -1 : 1;
    const b = forward ? -w : w;
    const y0 = forward ? 1 : h - 2;
    const x0 = forward ? 1 : w - 2;
    const step = forward ? 1 : -1;
    for (let r = 0, y = y0; r < h - 2; r++, y += step) {
      for (let c = 0, i = y * w + x0; c < w - 2; c++, i += step) {
        const val = v[i]!;
        let ha = u[i + a]!;
        let la = l[i + a]!;
        if (val > ha) ha = val;
        if (val < la) la = val;
        let hb = u[i + b]!;
        let lb = l[i + b]!;
        if (val > hb) hb = val;
        if (val < lb) lb = val;
        const da = ha - la;
        const db = hb - lb;
        if (da <= db) {
          if (da < d[i]!) {
            d[i] = da;
            u[i] = ha;
            l[i] = la;
          }
        } else if (db < d[i]!) {
          d[i] = db;
          u[i] = hb;
          l[i] = lb;
        }
      }
    }
  }
}

/**
 * {@link fastMbd} on an 8-bit channel, for the saliency map: the same scans, relaxations and ties, in integers and
 * branch-free (max(a, b) = a − ((a − b) & sign(a − b)), selections by masks): on textured images the comparisons
 * are coin flips that a branch predictor loses. The previous pixel of the scan is carried in registers. Adds the
 * distances to `sum` (which gives the float version's sums exactly: they are integers below 2²⁴).
 */
function fastMbd8(
  v: Uint8Array,
  w: number,
  h: number,
  passes: number,
  sum: Int32Array,
  d: Int32Array,
  u: Int32Array,
  l: Int32Array,
): void {
  if (w < 3 || h < 3) return; // every pixel is a seed
  const n = w * h;
  for (let i = 0; i < n; i++) {
    u[i] = v[i]!;
    l[i] = v[i]!;
  }
  d.fill(0);
  for (let y = 1; y < h - 1; y++) d.fill(1 << 16, y * w + 1, y * w + w - 1); // above any barrier: “∞”
  for (let p = 0; p < passes; p++) {
    const forward = p % 2 === 0;
    const b = forward ? -w : w;
    const y0 = forward ? 1 : h - 2;
    const x0 = forward ? 1 : w - 2;
    const step = forward ? 1 : -1;
    for (let r = 0, y = y0; r < h - 2; r++, y += step) {
      let i = y * w + x0;
      // the neighbour `a` of the float version is the pixel the scan visited last
      let ua = u[i - step]!;
      let la = l[i - step]!;
      for (let c = 0; c < w - 2; c++, i += step) {
        const val = v[i]!;
        let t = val - ua;
        const ha = val - (t & (t >> 31));
        t = val - la;
        const loa = la + (t & (t >> 31));
        const ub = u[i + b]!;
        const lb = l[i + b]!;
        t = val - ub;
        const hb = val - (t & (t >> 31));
        t = val - lb;
        const lob = lb + (t & (t >> 31));
        const da = ha - loa;
        const db = hb - lob;
        const pickB = (db - da) >> 31; // −1 when db < da (a wins ties)
        const dn = da ^ ((da ^ db) & pickB);
        const hn = ha ^ ((ha ^ hb) & pickB);
        const ln = loa ^ ((loa ^ lob) & pickB);
        const di = d[i]!;
        const take = (dn - di) >> 31; // −1 when strictly better
        const ui = u[i]!;
        const li = l[i]!;
        d[i] = di ^ ((di ^ dn) & take);
        ua = ui ^ ((ui ^ hn) & take);
        la = li ^ ((li ^ ln) & take);
        u[i] = ua;
        l[i] = la;
      }
    }
  }
  for (let i = 0; i < n; i++) sum[i] = sum[i]! + d[i]!;
}

/**
 * The FastMBD map of one channel `values` (width·height, row-major): the minimum barrier distance from the image
 * boundary, approximated by `passes` alternating raster / inverse-raster scans (4-connected). Never below the
 * exact distance; each further pass can only lower it.
 */
export function minimumBarrierDistance(
  values: ArrayLike<number>,
  width: number,
  height: number,
  passes = 3,
): Float32Array {
  const fn = 'minimumBarrierDistance';
  if (!Number.isInteger(width) || width < 1)
    throw new Error(`${fn}: width must be an integer ≥ 1, got ${width}`);
  if (!Number.isInteger(height) || height < 1)
    throw new Error(`${fn}: height must be an integer ≥ 1, got ${height}`);
  if (!Number.isInteger(passes) || passes < 1)
    throw new Error(`${fn}: passes must be an integer ≥ 1, got ${passes}`);
  if (!values || values.length !== width * height)
    throw new Error(
      `${fn}: values must hold width·height = ${width * height} values, got ${values ? values.length : values}`,
    );
  const n = width * height;
  const v = Float32Array.from(values);
  for (let i = 0; i < n; i++)
    if (!Number.isFinite(v[i]!))
      throw new Error(`${fn}: values must be finite, got ${values[i]} at index ${i}`);
  const d = new Float32Array(n);
  fastMbd(v, width, height, passes, d, new Float32Array(n), new Float32Array(n));
  return d;
}

/** One axis of an area (box) downscale from `n` to `m` samples: each output's first input, input count, weights. */
function areaAxis(n: number, m: number) {
  const scale = n / m;
  const start = new Int32Array(m);
  const count = new Int32Array(m);
  const stride = Math.ceil(scale) + 1;
  const weight = new Float32Array(m * stride);
  for (let j = 0; j < m; j++) {
    const a = j * scale;
    const b = Math.min(n, (j + 1) * scale);
    start[j] = Math.floor(a);
    let c = 0;
    for (let i = Math.floor(a); i < b && c < stride; i++)
      weight[j * stride + c++] = (Math.min(b, i + 1) - Math.max(a, i)) / scale;
    count[j] = c;
  }
  return { start, count, weight, stride };
}

/** Area downscale of an interleaved 8-bit image with `ch` channels to w×h×3 (alpha dropped), rounded to 8 bits. */
function areaDownscale(
  src: Uint8Array | Uint8ClampedArray,
  sw: number,
  sh: number,
  ch: number,
  w: number,
  h: number,
) {
  const tx = areaAxis(sw, w);
  const ty = areaAxis(sh, h);
  const rows = new Float32Array(sh * w * 3);
  for (let y = 0; y < sh; y++) {
    const so = y * sw * ch;
    for (let x = 0, o = y * w * 3; x < w; x++, o += 3) {
      let r = 0;
      let g = 0;
      let b = 0;
      const wb = x * tx.stride;
      for (let c = 0, i = so + tx.start[x]! * ch; c < tx.count[x]!; c++, i += ch) {
        const wt = tx.weight[wb + c]!;
        r += wt * src[i]!;
        g += wt * src[i + 1]!;
        b += wt * src[i + 2]!;
      }
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  const out = new Uint8Array(h * w * 3);
  const len = w * 3;
  for (let y = 0; y < h; y++) {
    const s0 = ty.start[y]! * len;
    const cnt = ty.count[y]!;
    const wb = y * ty.stride;
    for (let i = 0, o = y * len; i < len; i++, o++) {
      let acc = 0;
      for (let c = 0, k = s0 + i; c < cnt; c++, k += len) acc += ty.weight[wb + c]! * rows[k]!;
      out[o] = acc + 0.5; // a weighted mean of bytes: in [0, 255], rounded by the store's truncation
    }
  }
  return out;
}

/** sRGB byte → linear intensity. */
let linearLut: Float32Array | null = null;
/** f(t) of CIE Lab sampled on [0, 1] (the cube root above 0.008856), interpolated linearly between samples. */
let labLut: Float32Array | null = null;
const LAB_STEPS = 4096;

function labF(t: number): number {
  return t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116;
}

/** The three channels of an interleaved image with `ch` channels as 8-bit planes (n each): Lab or RGB. */
function channelPlanes(src: Uint8Array | Uint8ClampedArray, n: number, ch: number, lab: boolean): Uint8Array {
  const out = new Uint8Array(3 * n);
  if (!lab) {
    for (let i = 0; i < n; i++) {
      out[i] = src[i * ch]!;
      out[n + i] = src[i * ch + 1]!;
      out[2 * n + i] = src[i * ch + 2]!;
    }
    return out;
  }
  if (!linearLut || !labLut) {
    linearLut = new Float32Array(256);
    for (let c = 0; c < 256; c++) {
      const v = c / 255;
      linearLut[c] = v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    }
    labLut = new Float32Array(LAB_STEPS + 2);
    for (let k = 0; k < labLut.length; k++) labLut[k] = labF(k / LAB_STEPS);
  }
  const lin = linearLut;
  const lut = labLut;
  // t ∈ [0, ~1] → f(t), by the table (the 8-bit output hides its < 1e-4 error)
  const f = (t: number) => {
    const x = t * LAB_STEPS;
    const k = x | 0;
    const a = lut[k]!;
    return a + (lut[k + 1]! - a) * (x - k);
  };
  for (let i = 0; i < n; i++) {
    const r = lin[src[i * ch]!]!;
    const g = lin[src[i * ch + 1]!]!;
    const b = lin[src[i * ch + 2]!]!;
    // sRGB → XYZ (D65), divided by the white point
    const x = (0.412453 * r + 0.35758 * g + 0.180423 * b) / 0.950456;
    const y = 0.212671 * r + 0.71516 * g + 0.072169 * b;
    const z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.088754;
    const fy = f(y);
    const L = y > 0.008856 ? 116 * fy - 16 : 903.3 * y;
    // Uint8Array stores clamp nothing: clamp and round here
    const a = 500 * (f(x) - fy) + 128.5;
    const bb = 200 * (fy - f(z)) + 128.5;
    out[i] = L * 2.55 + 0.5;
    out[n + i] = Math.min(255, Math.max(0, a));
    out[2 * n + i] = Math.min(255, Math.max(0, bb));
  }
  return out;
}

/**
 * Median over a (2r+1)² window, borders replicated, of one 8-bit plane: a 256-bin histogram slid along each row
 * with the median tracked incrementally (branch-free counting), so a pixel costs O(r) rather than a sort.
 */
function medianFilter(src: Uint8Array, dst: Uint8Array, w: number, h: number, r: number, hist: Int32Array) {
  const half = ((2 * r + 1) ** 2 - 1) / 2; // the median has at most `half` values below it
  const k1 = 2 * r + 1;
  const rows = new Int32Array(k1);
  for (let y = 0; y < h; y++) {
    for (let k = 0; k < k1; k++) rows[k] = Math.min(h - 1, Math.max(0, y + k - r)) * w;
    hist.fill(0);
    for (let k = 0; k < k1; k++)
      for (let dx = -r; dx <= r; dx++) hist[src[rows[k]! + Math.min(w - 1, Math.max(0, dx))]!]!++;
    let med = 0;
    let below = 0;
    while (below + hist[med]! <= half) below += hist[med++]!;
    const o = y * w;
    dst[o] = med;
    for (let x = 1; x < w; x++) {
      const xo = Math.max(x - r - 1, 0);
      const xi = x + r < w ? x + r : w - 1;
      for (let k = 0; k < k1; k++) {
        const row = rows[k]!;
        const vo = src[row + xo]!;
        const vi = src[row + xi]!;
        hist[vo]!--;
        hist[vi]!++;
        // (v − med) >> 31 is −1 exactly when v < med
        below += ((vo - med) >> 31) - ((vi - med) >> 31);
      }
      while (below > half) below -= hist[--med]!;
      while (below + hist[med]! <= half) below += hist[med++]!;
      dst[o + x] = med;
    }
  }
}

/** Rescales to [0, 1] by min and max in place; a constant array becomes 0. */
function normalise(a: Float32Array): void {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo;
  if (!(span > 1e-9)) {
    a.fill(0);
    return;
  }
  const k = 1 / span;
  for (let i = 0; i < a.length; i++) a[i] = (a[i]! - lo) * k;
}

/**
 * The loops of {@link addBackgroundness} (the WebAssembly version in saliencyWasm.ts runs where it can, with the
 * same operations in the same order): `bg` gets, per pixel, the four strips' distances rescaled to [0, 1] each,
 * summed without the largest. `stat`: per strip, the mean (3) and the inverse covariance's quadratic-form
 * coefficients (q00, q11, q22, q01, q02, q12).
 */
function backgroundJs(planes: Uint8Array, n: number, stat: Float64Array, bg: Float32Array) {
  // the distances stored pixel-major; each strip's range is taken before the float32 store
  const dist = new Float32Array(4 * n);
  const lo = [0, 0, 0, 0];
  const hi = [0, 0, 0, 0];
  for (let k = 0; k < 4; k++) {
    const o = 9 * k;
    const m0 = stat[o]!;
    const m1 = stat[o + 1]!;
    const m2 = stat[o + 2]!;
    const q00 = stat[o + 3]!;
    const q11 = stat[o + 4]!;
    const q22 = stat[o + 5]!;
    const q01 = stat[o + 6]!;
    const q02 = stat[o + 7]!;
    const q12 = stat[o + 8]!;
    // (both bounds start as doubles: a small-integer start would make V8 box each update)
    let mn = Number.POSITIVE_INFINITY;
    let mx = Number.NEGATIVE_INFINITY;
    for (let p = 0, t = k; p < n; p++, t += 4) {
      const x0 = planes[p]! - m0;
      const x1 = planes[n + p]! - m1;
      const x2 = planes[2 * n + p]! - m2;
      const d = Math.sqrt(
        Math.max(
          q00 * x0 * x0 + q11 * x1 * x1 + q22 * x2 * x2 + q01 * x0 * x1 + q02 * x0 * x2 + q12 * x1 * x2,
          0,
        ),
      );
      dist[t] = d;
      mn = d < mn ? d : mn;
      mx = d > mx ? d : mx;
    }
    lo[k] = mn;
    hi[k] = mx;
  }
  const [l0, l1, l2, l3] = lo as [number, number, number, number];
  const [h0, h1, h2, h3] = hi as [number, number, number, number];
  // each distance rescaled to [0, 1] (a constant one to 0)
  const k0 = h0 - l0 > 1e-9 ? 1 / (h0 - l0) : 0;
  const k1 = h1 - l1 > 1e-9 ? 1 / (h1 - l1) : 0;
  const k2 = h2 - l2 > 1e-9 ? 1 / (h2 - l2) : 0;
  const k3 = h3 - l3 > 1e-9 ? 1 / (h3 - l3) : 0;
  for (let p = 0, t = 0; p < n; p++, t += 4) {
    const a = (dist[t]! - l0) * k0;
    const b = (dist[t + 1]! - l1) * k1;
    const c = (dist[t + 2]! - l2) * k2;
    const d = (dist[t + 3]! - l3) * k3;
    const ab = Math.max(a, b);
    const cd = Math.max(c, d);
    bg[p] = a + b + c + d - Math.max(ab, cd);
  }
}

/**
 * The backgroundness cue added to `out`: for each of the four border strips, every pixel's Mahalanobis distance
 * to the strip's colour mean and (regularised) covariance, rescaled to [0, 1]; the four summed without the largest
 * (an object touching one side is far from that side's strip only), rescaled to [0, 1].
 */
function addBackgroundness(
  planes: Uint8Array,
  w: number,
  h: number,
  ratio: number,
  reg: number,
  out: Float32Array,
) {
  const n = w * h;
  const rm = Math.max(1, Math.round(ratio * h));
  const cm = Math.max(1, Math.round(ratio * w));
  const strips = [
    [0, w, 0, rm],
    [0, w, h - rm, h],
    [0, cm, 0, h],
    [w - cm, w, 0, h],
  ] as const;
  // per strip: mean (3) and the inverse covariance's quadratic-form coefficients (6)
  const stat = new Float64Array(36);
  strips.forEach(([x0, x1, y0, y1], k) => {
    const count = (x1 - x0) * (y1 - y0);
    let m0 = 0;
    let m1 = 0;
    let m2 = 0;
    for (let y = y0; y < y1; y++)
      for (let i = y * w + x0; i < y * w + x1; i++) {
        m0 += planes[i]!;
        m1 += planes[n + i]!;
        m2 += planes[2 * n + i]!;
      }
    m0 /= count;
    m1 /= count;
    m2 /= count;
    let s00 = 0;
    let s01 = 0;
    let s02 = 0;
    let s11 = 0;
    let s12 = 0;
    let s22 = 0;
    for (let y = y0; y < y1; y++)
      for (let i = y * w + x0; i < y * w + x1; i++) {
        const d0 = planes[i]! - m0;
        const d1 = planes[n + i]! - m1;
        const d2 = planes[2 * n + i]! - m2;
        s00 += d0 * d0;
        s01 += d0 * d1;
        s02 += d0 * d2;
        s11 += d1 * d1;
        s12 += d1 * d2;
        s22 += d2 * d2;
      }
    const q = count > 1 ? 1 / (count - 1) : 0;
    const a = s00 * q + reg;
    const b = s01 * q;
    const c = s02 * q;
    const e = s11 * q + reg;
    const f = s12 * q;
    const i = s22 * q + reg;
    // the inverse of the symmetric [[a b c] [b e f] [c f i]] by cofactors (positive definite: reg > 0)
    const c00 = e * i - f * f;
    const c01 = c * f - b * i;
    const c02 = b * f - c * e;
    const det = a * c00 + b * c01 + c * c02;
    stat.set([m0, m1, m2, c00 / det, (a * i - c * c) / det, (a * e - b * b) / det], 9 * k);
    stat.set([(2 * c01) / det, (2 * c02) / det, (2 * (b * c - a * f)) / det], 9 * k + 6);
  });
  const bg = new Float32Array(n);
  if (!simdBackground(planes, n, stat, bg)) backgroundJs(planes, n, stat, bg);
  normalise(bg);
  for (let p = 0; p < n; p++) out[p] = out[p]! + bg[p]!;
}

/** Above every 8-bit level: the identity of min, padding the erosion's windows. */
const NO_MIN = 1 << 20;

/**
 * Erosion of the w×h 8-bit map `src` by a (2r+1)² square, windows clipped at the border, written into the interior
 * of the (w+2)-wide padded `dst`. Van Herk / Gil-Werman per axis: prefix and suffix minima within blocks of 2r+1
 * samples, so each output is the min of two of them whatever r; the lines are padded by r of {@link NO_MIN} at
 * both ends so that every window is whole. The vertical pass works on whole rows, in memory order.
 */
function erode(src: Int32Array, dst: Int32Array, w: number, h: number, r: number, bufs: Int32Array[]) {
  const k = 2 * r + 1;
  const [rows, pre, suf] = bufs as [Int32Array, Int32Array, Int32Array];
  // horizontal: each line padded into `pre` (prefix minima) and `suf` (suffix minima), result into `rows`
  const len = w + 2 * r;
  // (the block positions are counted, not taken modulo k: an integer division per sample would cost more than the
  // rest of the pass)
  for (let y = 0; y < h; y++) {
    const o = y * w - r;
    for (let j = 0, c = 0, m = 0; j < len; j++, c++) {
      const v = j < r || j >= w + r ? NO_MIN : src[o + j]!;
      if (c === k) c = 0;
      // branch-free min (the levels are random enough to defeat prediction): b + ((a − b) & sign(a − b))
      const t = v - m;
      m = c === 0 ? v : m + (t & (t >> 31));
      pre[j] = m;
    }
    for (let j = len - 1, c = (len - 1) % k, m = 0; j >= 0; j--, c--) {
      const v = j < r || j >= w + r ? NO_MIN : src[o + j]!;
      const t = v - m;
      m = c === k - 1 || j === len - 1 ? v : m + (t & (t >> 31));
      suf[j] = m;
      if (c === 0) c = k;
    }
    for (let x = 0; x < w; x++) {
      const a = suf[x]!;
      const t = pre[x + 2 * r]! - a;
      rows[o + r + x] = a + (t & (t >> 31));
    }
  }
  // vertical, whole rows at a time: row j of the padded column space is rows' row j − r
  const lines = h + 2 * r;
  const up = pre.length >= lines * w ? pre : new Int32Array(lines * w);
  const down = suf.length >= lines * w ? suf : new Int32Array(lines * w);
  bufs[1] = up;
  bufs[2] = down;
  for (let j = 0; j < lines; j++) {
    const inside = j >= r && j < h + r;
    const so = (j - r) * w;
    const start = j % k === 0;
    for (let x = 0, o = j * w; x < w; x++, o++) {
      const v = inside ? rows[so + x]! : NO_MIN;
      if (start) up[o] = v;
      else {
        const p = up[o - w]!;
        const t = v - p;
        up[o] = p + (t & (t >> 31));
      }
    }
  }
  for (let j = lines - 1; j >= 0; j--) {
    const inside = j >= r && j < h + r;
    const so = (j - r) * w;
    const end = j % k === k - 1 || j === lines - 1;
    for (let x = 0, o = j * w; x < w; x++, o++) {
      const v = inside ? rows[so + x]! : NO_MIN;
      if (end) down[o] = v;
      else {
        const q = down[o + w]!;
        const t = v - q;
        down[o] = q + (t & (t >> 31));
      }
    }
  }
  const pw = w + 2;
  for (let y = 0; y < h; y++)
    for (let x = 0, a = y * w, b = (y + 2 * r) * w, o = (y + 1) * pw + 1; x < w; x++) {
      const lo = down[a + x]!;
      const t = up[b + x]! - lo;
      dst[o + x] = lo + (t & (t >> 31));
    }
}

/**
 * Grey reconstruction by dilation of the marker `f` (≤ g) under the mask `g`, 8-connected, in place: Vincent's
 * hybrid algorithm (a raster and an anti-raster sweep, then a FIFO for what the sweeps could not settle). Both
 * maps are padded by one pixel of −1 on each side (row length `w`), which nothing is raised from or to. The
 * sweeps are branch-free (max(a, b) = a − ((a − b) & sign(a − b))) and carry the row above (below) in registers.
 */
function reconstruct(f: Int32Array, g: Int32Array, w: number, h: number) {
  let qcap = 1024;
  while (qcap < w * h) qcap *= 2;
  for (let y = 1; y < h - 1; y++) {
    let i = y * w + 1;
    let left = f[i - 1]!;
    let p0 = f[i - w - 1]!;
    let p1 = f[i - w]!;
    for (const end = y * w + w - 1; i < end; i++) {
      const p2 = f[i - w + 1]!;
      let m = f[i]!;
      let t = m - left;
      m -= t & (t >> 31);
      t = m - p0;
      m -= t & (t >> 31);
      t = m - p1;
      m -= t & (t >> 31);
      t = m - p2;
      m -= t & (t >> 31);
      const gi = g[i]!;
      t = gi - m;
      m += t & (t >> 31);
      f[i] = m;
      left = m;
      p0 = p1;
      p1 = p2;
    }
  }
  let queue = new Int32Array(qcap);
  let cap = qcap;
  let mask = cap - 1;
  let head = 0;
  let len = 0;
  for (let y = h - 2; y >= 1; y--) {
    let i = y * w + w - 2;
    let f0 = f[i + 1]!;
    let g0 = g[i + 1]!;
    let f1 = f[i + w + 1]!;
    let g1 = g[i + w + 1]!;
    let f2 = f[i + w]!;
    let g2 = g[i + w]!;
    for (const end = y * w; i > end; i--) {
      const f3 = f[i + w - 1]!;
      const g3 = g[i + w - 1]!;
      let m = f[i]!;
      let t = m - f0;
      m -= t & (t >> 31);
      t = m - f1;
      m -= t & (t >> 31);
      t = m - f2;
      m -= t & (t >> 31);
      t = m - f3;
      m -= t & (t >> 31);
      const gi = g[i]!;
      t = gi - m;
      m += t & (t >> 31);
      f[i] = m;
      // a neighbour the backward sweep has passed that this value can still raise (below both m and its mask):
      // the FIFO takes over; at most one entry per pixel so far, so no wrap yet
      queue[len] = i;
      len +=
        (((f0 - m) & (f0 - g0)) |
          ((f1 - m) & (f1 - g1)) |
          ((f2 - m) & (f2 - g2)) |
          ((f3 - m) & (f3 - g3))) >>>
        31;
      f0 = m;
      g0 = gi;
      f1 = f2;
      g1 = g2;
      f2 = f3;
      g2 = g3;
    }
  }
  const nb = Int32Array.of(-1, -w - 1, -w, -w + 1, 1, w + 1, w, w - 1);
  while (len > 0) {
    const p = queue[head]!;
    head = (head + 1) & mask;
    len--;
    const v = f[p]!;
    for (let k = 0; k < 8; k++) {
      const q = p + nb[k]!;
      const fq = f[q]!;
      if (fq >= v) continue;
      const gq = g[q]!;
      if (fq === gq) continue;
      f[q] = Math.min(v, gq);
      if (len === cap) {
        const grown = new Int32Array(cap * 2);
        for (let j = 0; j < len; j++) grown[j] = queue[(head + j) & mask]!;
        queue = grown;
        cap *= 2;
        mask = cap - 1;
        head = 0;
      }
      queue[(head + len++) & mask] = q;
    }
  }
}

/**
 * The paper's smoothing, in place, on 8-bit levels: opening by reconstruction then closing by reconstruction with
 * a (2r+1)² square — removes bright and dark specks smaller than the square without moving the edges of what
 * remains, as a plain opening or closing would. (The WebAssembly version in saliencyWasm.ts runs where it can.)
 */
function smoothByReconstruction(out: Uint8Array, w: number, h: number, r: number) {
  const n = w * h;
  const pw = w + 2;
  const pn = pw * (h + 2);
  const level = Int32Array.from(out);
  const bufs = [new Int32Array(n), new Int32Array(w + 2 * r + 1), new Int32Array(w + 2 * r + 1)];
  const f = new Int32Array(pn).fill(-1);
  const g = new Int32Array(pn).fill(-1);
  /** level ← 255 − (the reconstruction), i.e. the complement the next step works on. */
  const step = () => {
    erode(level, f, w, h, r, bufs);
    for (let y = 0; y < h; y++) g.set(level.subarray(y * w, y * w + w), (y + 1) * pw + 1);
    reconstruct(f, g, pw, h + 2);
    for (let y = 0; y < h; y++)
      for (let x = 0, o = (y + 1) * pw + 1; x < w; x++) level[y * w + x] = 255 - f[o + x]!;
  };
  step(); // opening by reconstruction, complemented
  step(); // closing by reconstruction (the dual, on the complement), complemented back
  out.set(level);
}

/**
 * The map after the smoothing, from its 8-bit levels: level/255, {@link normalise}d, then (gain > 0) through
 * {@link enhanceContrast} — the same float32 values those give pixel by pixel, computed once per level present.
 * (Exact: every value above the least is at least 1/255, a float32 multiple of 2⁻³¹, so the contrast stretch's
 * sums over pixels are exact in float64 and equal the per-level sums.)
 */
function fromLevels(level: Uint8Array, gain: number, s: Float32Array) {
  const count = new Float64Array(256);
  for (let i = 0; i < level.length; i++) count[level[i]!]!++;
  let first = 0;
  while (first < 255 && count[first] === 0) first++;
  let last = 255;
  while (last > 0 && count[last] === 0) last--;
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = v / 255;
  const lo = table[first]!;
  const span = table[last]! - lo;
  if (!(span > 1e-9)) table.fill(0);
  else {
    const k = 1 / span;
    for (let v = 0; v < 256; v++) table[v] = (table[v]! - lo) * k;
  }
  if (gain > 0) {
    let mx = 0;
    for (let v = 0; v < 256; v++) if (count[v]! > 0 && table[v]! > mx) mx = table[v]!;
    const t = 0.5 * mx;
    let hiSum = 0;
    let hiN = 0;
    let loSum = 0;
    let loN = 0;
    for (let v = 0; v < 256; v++) {
      const c = count[v]!;
      if (c === 0) continue;
      if (table[v]! >= t) {
        hiSum += c * table[v]!;
        hiN += c;
      } else {
        loSum += c * table[v]!;
        loN += c;
      }
    }
    const tau = contrastCentre(hiSum, hiN, loSum, loN, t);
    for (let v = 0; v < 256; v++) table[v] = 1 / (1 + Math.exp(-gain * (table[v]! - tau)));
  }
  for (let i = 0; i < level.length; i++) s[i] = table[level[i]!]!;
}

/** τ of the contrast stretch: the midpoint of the means above and below `t` (an empty side counts as t). */
function contrastCentre(hiSum: number, hiN: number, loSum: number, loN: number, t: number): number {
  const hi = hiN > 0 ? hiSum / hiN : t;
  const lo = loN > 0 ? loSum / loN : t;
  return 0.5 * (hi + lo);
}

/**
 * The contrast stretch: a sigmoid of gain b centred on τ, the midpoint of the means of the values above and below
 * half the maximum.
 */
function enhanceContrast(s: Float32Array, b: number) {
  let mx = 0;
  for (let i = 0; i < s.length; i++) if (s[i]! > mx) mx = s[i]!;
  const t = 0.5 * mx;
  let hiSum = 0;
  let hiN = 0;
  let loSum = 0;
  let loN = 0;
  for (let i = 0; i < s.length; i++) {
    const v = s[i]!;
    if (v >= t) {
      hiSum += v;
      hiN++;
    } else {
      loSum += v;
      loN++;
    }
  }
  const tau = contrastCentre(hiSum, hiN, loSum, loN, t);
  for (let i = 0; i < s.length; i++) s[i] = 1 / (1 + Math.exp(-b * (s[i]! - tau)));
}

/** Bilinear resize (pixel centres aligned, edges clamped) of a w×h map to W×H. */
function upsample(s: Float32Array, w: number, h: number, W: number, H: number): Float32Array {
  const x0 = new Int32Array(W);
  const x1 = new Int32Array(W);
  const fx = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    const sx = Math.min(w - 1, Math.max(0, ((x + 0.5) * w) / W - 0.5));
    x0[x] = Math.floor(sx);
    x1[x] = Math.min(w - 1, x0[x]! + 1);
    fx[x] = sx - x0[x]!;
  }
  const out = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(h - 1, Math.max(0, ((y + 0.5) * h) / H - 0.5));
    const ya = Math.floor(sy);
    const yb = Math.min(h - 1, ya + 1);
    const fy = sy - ya;
    const ra = ya * w;
    const rb = yb * w;
    for (let x = 0; x < W; x++) {
      const a = s[ra + x0[x]!]! + (s[ra + x1[x]!]! - s[ra + x0[x]!]!) * fx[x]!;
      const b = s[rb + x0[x]!]! + (s[rb + x1[x]!]! - s[rb + x0[x]!]!) * fx[x]!;
      out[y * W + x] = a + (b - a) * fy;
    }
  }
  return out;
}

/**
 * MB+ saliency of an 8-bit RGB image (H·W·3 row-major; RGBA when data.length = H·W·4, alpha ignored): H·W values
 * in [0, 1], 1 = salient object, 0 = background; a uniform image gives all zeros. See the module comment for the
 * pipeline and {@link MbdSaliencyOptions} for the constants.
 *
 * Cost (Node 20, one thread of a 2-core Xeon VM, median of 50 runs after 20, `npm run bench -- --only=saliency`):
 * ~15 ms for a 321×321 image (computed at 300×300; 7.6 ms with `maxSide: 200`), ~13 ms at 500×375, ~2.2 ms at
 * 128×128. The median, the barrier scans, the backgroundness cue and the smoothing run as WebAssembly SIMD
 * (saliencyWasm.ts); without WebAssembly SIMD the JS loops give the same bytes in about twice the time (~26–32 ms
 * at 321×321).
 */
export function mbdSaliency(image: SaliencyImage, options: MbdSaliencyOptions = {}): Float32Array {
  if (!image || typeof image !== 'object')
    fail(`image must be { width, height, data }, got ${String(image)}`);
  const W = checkInteger('image.width', image.width, 1);
  const H = checkInteger('image.height', image.height, 1);
  const data = image.data;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    const raw = data as unknown;
    const got = raw === null ? 'null' : typeof raw === 'object' ? raw.constructor.name : typeof raw;
    fail(`image.data must be a Uint8Array or Uint8ClampedArray, got ${got}`);
  }
  const n0 = W * H;
  if (data.length !== n0 * 3 && data.length !== n0 * 4)
    fail(`image.data must hold W·H·3 = ${n0 * 3} values (or W·H·4 = ${n0 * 4} for RGBA), got ${data.length}`);
  const ch = data.length === n0 * 3 ? 3 : 4;
  const passes = checkInteger('options.passes', options.passes ?? 3, 1);
  const maxSide = checkInteger('options.maxSide', options.maxSide ?? REFERENCE_SIDE, 3);
  const colorSpace = options.colorSpace ?? 'lab';
  if (colorSpace !== 'lab' && colorSpace !== 'rgb')
    fail(`options.colorSpace must be 'lab' or 'rgb', got '${String(colorSpace)}'`);
  const medianRadius = checkInteger('options.medianRadius', options.medianRadius ?? 2, 0);
  const useBg = checkBoolean('options.backgroundness', options.backgroundness ?? true);
  const borderRatio = checkNumber('options.borderRatio', options.borderRatio ?? 0.1, 0, true);
  if (borderRatio > 0.5) fail(`options.borderRatio must be ≤ 0.5, got ${borderRatio}`);
  const covReg = checkNumber('options.covarianceReg', options.covarianceReg ?? 50, 0, true);
  const centerBias = checkBoolean('options.centerBias', options.centerBias ?? true);
  const alpha = checkNumber('options.smoothAlpha', options.smoothAlpha ?? 50, 0, false);
  const gain = checkNumber('options.contrast', options.contrast ?? 10, 0, false);

  const scale = Math.min(1, maxSide / Math.max(W, H));
  const w = scale < 1 ? Math.max(1, Math.round(W * scale)) : W;
  const h = scale < 1 ? Math.max(1, Math.round(H * scale)) : H;
  const n = w * h;
  const small = w === W && h === H ? null : areaDownscale(data, W, H, ch, w, h);
  const planes = small
    ? channelPlanes(small, n, 3, colorSpace === 'lab')
    : channelPlanes(data, n, ch, colorSpace === 'lab');
  let filtered = planes;
  if (medianRadius === 2 && simdMedian5(planes, (filtered = new Uint8Array(3 * n)), w, h, 3)) {
    // the default 5×5 median, 16 pixels at a time (saliencyWasm.ts)
  } else if (medianRadius > 0) {
    filtered = new Uint8Array(3 * n);
    const hist = new Int32Array(256);
    for (let c = 0; c < 3; c++)
      medianFilter(
        planes.subarray(c * n, (c + 1) * n),
        filtered.subarray(c * n, (c + 1) * n),
        w,
        h,
        medianRadius,
        hist,
      );
  }

  const sum = new Int32Array(n);
  if (!simdMbd3(filtered, w, h, passes, sum)) {
    const d = new Int32Array(n);
    const u = new Int32Array(n);
    const l = new Int32Array(n);
    for (let c = 0; c < 3; c++) fastMbd8(filtered.subarray(c * n, (c + 1) * n), w, h, passes, sum, d, u, l);
  }
  const s = new Float32Array(n);
  for (let i = 0; i < n; i++) s[i] = sum[i]!;
  normalise(s);
  if (useBg) addBackgroundness(planes, w, h, borderRatio, covReg, s);
  if (centerBias) {
    // 1 at the centre, 0 at the corner pixels, in coordinates normalised per axis
    const cx = 0.5 - 0.5 / w;
    const cy = 0.5 - 0.5 / h;
    const far = Math.sqrt(cx * cx + cy * cy);
    if (far > 0)
      for (let y = 0; y < h; y++) {
        const dy = (y + 0.5) / h - 0.5;
        for (let x = 0; x < w; x++) {
          const dx = (x + 0.5) / w - 0.5;
          s[y * w + x] = s[y * w + x]! * (1 - Math.sqrt(dx * dx + dy * dy) / far);
        }
      }
  }
  normalise(s);
  if (alpha > 0) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += s[i]!;
    mean /= n;
    const width = Math.max(3, Math.floor((alpha * Math.sqrt(mean) * Math.max(w, h)) / REFERENCE_SIDE));
    const level = new Uint8Array(n);
    for (let i = 0; i < n; i++) level[i] = s[i]! * 255 + 0.5; // rounded (s ∈ [0, 1])
    const r = Math.floor(width / 2);
    if (!simdSmooth(level, w, h, r)) smoothByReconstruction(level, w, h, r);
    fromLevels(level, gain, s);
  } else if (gain > 0) enhanceContrast(s, gain);
  const out = w === W && h === H ? s : upsample(s, w, h, W, H);
  normalise(out);
  return out;
}
