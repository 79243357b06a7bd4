import type { IndexMask, RgbImage } from '../io/types.js';
import { hsv } from './color.js';
import { mixSeed, Rng } from './rng.js';

/**
 * The synthetic WSSS classes. Identity is carried by shape and texture together; each class also has a base
 * hue with jitter. Index 0 is background.
 */
export const SYNTHETIC_CLASSES: readonly string[] = Object.freeze([
  'background',
  'striped-disc',
  'checked-square',
  'dotted-triangle',
  'hatched-ring',
  'grid-cross',
  'ringed-hexagon',
  'waved-rhombus',
  'speckled-pentagon',
]);

/** Largest supported number of synthetic object classes. */
export const SYNTHETIC_MAX_CLASSES = SYNTHETIC_CLASSES.length - 1;

/** Options of {@link renderSyntheticSample}. */
export interface SyntheticRenderOptions {
  /** Square image side in pixels (default 128, at least 32). */
  size?: number;
  /** Number of object classes K (default 5, 1..8). */
  numClasses?: number;
  /** Objects per image, inclusive range (default [1, 3]). */
  objects?: [number, number];
  /** Distractors (shapes of no class, labelled background) per image, inclusive range (default [0, 2]). */
  distractors?: [number, number];
}

/** One rendered synthetic sample. */
export interface SyntheticSample {
  image: RgbImage;
  /** Exact class-index mask (0 = background, including distractors; no ignore pixels). */
  mask: IndexMask;
  /** Foreground classes present in the final mask, ascending. */
  labels: number[];
}

type ShapeFn = (u: number, v: number, r: number) => boolean;

const SQRT3 = Math.sqrt(3);

function regularPolygon(n: number): ShapeFn {
  // Inside a regular n-gon of circumradius r (a vertex on the +u axis): the projection on the nearest edge
  // normal is below the apothem r·cos(π/n).
  const step = (2 * Math.PI) / n;
  const apothem = Math.cos(Math.PI / n);
  return (u, v, r) => {
    const k = Math.round((Math.atan2(v, u) - step / 2) / step);
    const t = k * step + step / 2;
    return u * Math.cos(t) + v * Math.sin(t) < r * apothem;
  };
}

const CLASS_SHAPES: ShapeFn[] = [
  (u, v, r) => u * u + v * v < r * r, // disc
  (u, v, r) => Math.abs(u) < 0.85 * r && Math.abs(v) < 0.85 * r, // square
  (u, v, r) => v < 0.5 * r && SQRT3 * u - v < r && -SQRT3 * u - v < r, // equilateral triangle, circumradius r
  (u, v, r) => {
    const d = u * u + v * v;
    return d < r * r && d > 0.3 * r * r; // ring, inner radius ≈ 0.55 r
  },
  (u, v, r) => {
    const au = Math.abs(u);
    const av = Math.abs(v);
    return (au < r && av < 0.33 * r) || (av < r && au < 0.33 * r); // cross
  },
  regularPolygon(6),
  (u, v, r) => Math.abs(u) / r + Math.abs(v) / (0.6 * r) < 1, // rhombus
  regularPolygon(5),
];

const DISTRACTOR_SHAPES: ShapeFn[] = [
  (u, v, r) => (u * u) / (r * r) + (v * v) / (0.16 * r * r) < 1, // thin ellipse
  (u, v, r) => {
    // five-point star
    const a = Math.atan2(v, u);
    const d = Math.sqrt(u * u + v * v);
    const t = Math.abs((((a / (2 * Math.PI)) * 5) % 1) + 1) % 1;
    const edge = 0.45 + 0.55 * Math.abs(2 * t - 1);
    return d < r * edge;
  },
  (u, v, r) => Math.abs(u) < r && Math.abs(v) < 0.22 * r, // bar
  (u, v, r) => {
    // crescent
    const d1 = u * u + v * v;
    const du = u - 0.45 * r;
    return d1 < r * r && du * du + v * v > 0.6 * r * r;
  },
];

interface Item {
  cls: number; // 1..K for objects, 0 for distractors
  shape: ShapeFn;
  cx: number;
  cy: number;
  r: number;
  cos: number;
  sin: number;
  colA: [number, number, number];
  colB: [number, number, number];
  period: number;
  phase: number;
  texture: number; // 0..7 class textures, 8 = gradient, 9 = flat
}

/**
 * Texture value in [0, 1] (0 = colour A, 1 = colour B) at local coordinates (u, v) of a class texture:
 * stripes, checks, dots, hatch, grid, concentric rings, waves, speckle.
 */
function textureAt(
  t: number,
  u: number,
  v: number,
  p: number,
  phase: number,
  r: number,
  hash: number,
): number {
  switch (t) {
    case 0:
      return Math.sin((2 * Math.PI * u) / p + phase) > 0 ? 1 : 0;
    case 1:
      return (Math.floor(u / p + phase) + Math.floor(v / p + phase)) & 1;
    case 2: {
      const du = ((((u / p + phase) % 1) + 1) % 1) - 0.5;
      const dv = ((((v / p + phase) % 1) + 1) % 1) - 0.5;
      return du * du + dv * dv < 0.09 ? 1 : 0;
    }
    case 3: {
      const w = ((((u + v) / p + phase) % 1) + 1) % 1;
      const w2 = ((((u - v) / p + phase) % 1) + 1) % 1;
      return w < 0.3 || w2 < 0.3 ? 1 : 0;
    }
    case 4: {
      const a = (((u / p + phase) % 1) + 1) % 1 < 0.3;
      const b = (((v / p + phase) % 1) + 1) % 1 < 0.3;
      return a || b ? 1 : 0;
    }
    case 5:
      return Math.sin((2 * Math.PI * Math.sqrt(u * u + v * v)) / p + phase) > 0 ? 1 : 0;
    case 6:
      return Math.sin((2 * Math.PI * (v + 0.25 * p * Math.sin((2 * Math.PI * u) / (2 * p)))) / p + phase) > 0
        ? 1
        : 0;
    case 7:
      return hash > 0.55 ? 1 : 0;
    case 8:
      return Math.min(1, Math.max(0, 0.5 + u / (2 * r)));
    default:
      return 0;
  }
}

function pixelHash(x: number, y: number, s: number): number {
  let h = Math.imul(x + 0x9e37, 0x85ebca6b) ^ Math.imul(y + 0x79b9, 0xc2b2ae35) ^ s;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 12;
  return (h >>> 0) / 4294967296;
}

function valueNoise(rng: Rng, size: number, cells: number): Float32Array {
  // Bilinear interpolation of a (cells+1)² grid of uniform values: smooth low-frequency clutter.
  const g = new Float32Array((cells + 1) * (cells + 1));
  for (let i = 0; i < g.length; i++) g[i] = rng.next() * 2 - 1;
  const out = new Float32Array(size * size);
  const sc = cells / size;
  for (let y = 0; y < size; y++) {
    const fy = y * sc;
    const iy = Math.min(cells - 1, Math.floor(fy));
    const ty = fy - iy;
    for (let x = 0; x < size; x++) {
      const fx = x * sc;
      const ix = Math.min(cells - 1, Math.floor(fx));
      const tx = fx - ix;
      const a = g[iy * (cells + 1) + ix]!;
      const b = g[iy * (cells + 1) + ix + 1]!;
      const c = g[(iy + 1) * (cells + 1) + ix]!;
      const d = g[(iy + 1) * (cells + 1) + ix + 1]!;
      out[y * size + x] = (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
    }
  }
  return out;
}

function paintBackground(rng: Rng, size: number, img: Float32Array): void {
  const base = hsv(rng.next(), rng.uniform(0.05, 0.45), rng.uniform(0.3, 0.75));
  const tint = hsv(rng.next(), rng.uniform(0.2, 0.6), rng.uniform(0.3, 0.8));
  const ang = rng.uniform(0, 2 * Math.PI);
  const gx = Math.cos(ang) / size;
  const gy = Math.sin(ang) / size;
  const n1 = valueNoise(rng, size, rng.int(2, 4));
  const n2 = valueNoise(rng, size, rng.int(8, 16));
  const amp1 = rng.uniform(20, 45);
  const amp2 = rng.uniform(8, 22);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const g = Math.min(1, Math.max(0, 0.5 + (x - size / 2) * gx + (y - size / 2) * gy));
      const lum = n1[p]! * amp1 + n2[p]! * amp2;
      for (let ch = 0; ch < 3; ch++) img[p * 3 + ch] = base[ch]! * (1 - g) + tint[ch]! * g + lum;
    }
  }
  // Random thin lines: clutter with edges, so that "any edge" does not mean "object".
  const lines = rng.int(2, 7);
  for (let l = 0; l < lines; l++) {
    const col = hsv(rng.next(), rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.95));
    const a = rng.uniform(0, Math.PI);
    const nx = Math.cos(a);
    const ny = Math.sin(a);
    const off = rng.uniform(-0.5, 0.5) * size;
    const half = rng.uniform(0.5, 1.6);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const d = (x - size / 2) * nx + (y - size / 2) * ny - off;
        if (Math.abs(d) < half) {
          const p = (y * size + x) * 3;
          img[p] = col[0];
          img[p + 1] = col[1];
          img[p + 2] = col[2];
        }
      }
    }
  }
}

function makeItem(rng: Rng, cls: number, size: number, numClasses: number): Item {
  const isObj = cls > 0;
  const r = isObj ? rng.uniform(0.15, 0.28) * size : rng.uniform(0.1, 0.22) * size;
  const cx = rng.uniform(0.12, 0.88) * size;
  const cy = rng.uniform(0.12, 0.88) * size;
  const ang = rng.uniform(0, 2 * Math.PI);
  let colA: [number, number, number];
  let colB: [number, number, number];
  let texture: number;
  let shape: ShapeFn;
  if (isObj) {
    // Class hues are spread round the wheel; jitter keeps colour a cue, not the whole answer.
    const hue = (cls - 1) / numClasses + rng.uniform(-0.06, 0.06);
    colA = hsv(hue, rng.uniform(0.5, 0.95), rng.uniform(0.65, 1));
    colB = hsv(hue + rng.uniform(0.05, 0.15), rng.uniform(0.3, 0.8), rng.uniform(0.1, 0.4));
    texture = cls - 1;
    shape = CLASS_SHAPES[cls - 1]!;
  } else {
    colA = hsv(rng.next(), rng.uniform(0.2, 0.9), rng.uniform(0.3, 1));
    colB = hsv(rng.next(), rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.6));
    texture = rng.chance(0.5) ? 8 : 9;
    shape = DISTRACTOR_SHAPES[rng.int(0, DISTRACTOR_SHAPES.length - 1)]!;
  }
  return {
    cls,
    shape,
    cx,
    cy,
    r,
    cos: Math.cos(ang),
    sin: Math.sin(ang),
    colA,
    colB,
    period: rng.uniform(5, 8) * (size / 128) ** 0.5,
    phase: rng.next(),
    texture,
  };
}

function checkOptions(
  size: number,
  numClasses: number,
  objects: [number, number],
  distractors: [number, number],
) {
  if (!Number.isInteger(size) || size < 32 || size > 4096) {
    throw new RangeError(`synthetic: size must be an integer in 32..4096, got ${size}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > SYNTHETIC_MAX_CLASSES) {
    throw new RangeError(
      `synthetic: numClasses must be an integer in 1..${SYNTHETIC_MAX_CLASSES}, got ${numClasses}`,
    );
  }
  for (const [name, [lo, hi]] of [
    ['objects', objects],
    ['distractors', distractors],
  ] as const) {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi < lo || hi > 8) {
      throw new RangeError(
        `synthetic: ${name} must be an integer range [lo, hi] within 0..8, got [${lo}, ${hi}]`,
      );
    }
  }
  if (objects[0] < 1) throw new RangeError(`synthetic: objects must start at 1 or more, got ${objects[0]}`);
}

/** Minimum visible fraction of each object after occlusion; layouts that break it are re-drawn. */
const MIN_VISIBLE = 0.4;

/**
 * Renders sample `index` of the synthetic set for `seed`: a cluttered textured background, 1–3 class objects
 * and up to two distractors painted in a random order (later shapes occlude earlier ones), with the exact
 * class-index mask. Every sample depends only on (seed, index, options), so samples can be rendered in any
 * order or in parallel.
 */
export function renderSyntheticSample(
  seed: number,
  index: number,
  options: SyntheticRenderOptions = {},
): SyntheticSample {
  const size = options.size ?? 128;
  const numClasses = options.numClasses ?? 5;
  const objects = options.objects ?? [1, 3];
  const distractors = options.distractors ?? [0, 2];
  checkOptions(size, numClasses, objects, distractors);
  const rng = new Rng(mixSeed(seed, index));
  const n = size * size;
  const img = new Float32Array(n * 3);
  paintBackground(rng, size, img);

  const owner = new Int16Array(n);
  let items: Item[] = [];
  for (let attempt = 0; ; attempt++) {
    const nObj = rng.int(objects[0], objects[1]);
    const nDis = rng.int(distractors[0], distractors[1]);
    items = [];
    for (let i = 0; i < nObj; i++) items.push(makeItem(rng, rng.int(1, numClasses), size, numClasses));
    for (let i = 0; i < nDis; i++) items.push(makeItem(rng, 0, size, numClasses));
    for (let i = items.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    owner.fill(-1);
    const area = new Int32Array(items.length);
    const visible = new Int32Array(items.length);
    items.forEach((it, k) => {
      const x0 = Math.max(0, Math.floor(it.cx - it.r));
      const x1 = Math.min(size - 1, Math.ceil(it.cx + it.r));
      const y0 = Math.max(0, Math.floor(it.cy - it.r));
      const y1 = Math.min(size - 1, Math.ceil(it.cy + it.r));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const dx = x + 0.5 - it.cx;
          const dy = y + 0.5 - it.cy;
          if (it.shape(dx * it.cos + dy * it.sin, -dx * it.sin + dy * it.cos, it.r)) {
            owner[y * size + x] = k;
            area[k]!++;
          }
        }
      }
    });
    for (let p = 0; p < n; p++) if (owner[p]! >= 0) visible[owner[p]!]!++;
    const ok = items.every(
      (it, k) => it.cls === 0 || (area[k]! > 0 && visible[k]! >= MIN_VISIBLE * area[k]!),
    );
    if (ok || attempt >= 30) break;
  }

  const mask = new Uint8Array(n);
  const noiseSeed = rng.int(0, 0x7fffffff);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const k = owner[p]!;
      if (k < 0) continue;
      const it = items[k]!;
      mask[p] = it.cls;
      const dx = x + 0.5 - it.cx;
      const dy = y + 0.5 - it.cy;
      const u = dx * it.cos + dy * it.sin;
      const v = -dx * it.sin + dy * it.cos;
      const t = textureAt(it.texture, u, v, it.period, it.phase, it.r, pixelHash(x, y, noiseSeed));
      // Soft directional shading so that objects are not flat stickers.
      const shade = 1 + 0.18 * (u / it.r);
      for (let ch = 0; ch < 3; ch++) img[p * 3 + ch] = (it.colA[ch]! * (1 - t) + it.colB[ch]! * t) * shade;
    }
  }
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n * 3; i++) {
    const noise = (pixelHash(i, 7, noiseSeed) - 0.5) * 14;
    const v = Math.round(img[i]! + noise);
    data[i] = Math.min(255, Math.max(0, v));
  }
  const seen = new Uint8Array(numClasses + 1);
  for (let p = 0; p < n; p++) seen[mask[p]!] = 1;
  const labels: number[] = [];
  for (let c = 1; c <= numClasses; c++) if (seen[c]) labels.push(c);
  return {
    image: { width: size, height: size, data },
    mask: { width: size, height: size, data: mask },
    labels,
  };
}
