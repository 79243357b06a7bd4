import { VOC_CLASSES } from '../voc/classes.js';
import { hsv } from './color.js';
import type { SyntheticSample } from './render.js';
import { mixSeed, Rng } from './rng.js';

/**
 * The second synthetic generator ("scenes"), built to differ from the first ({@link renderSyntheticSample}) in
 * every respect that a tuned method could lean on: composite silhouettes of six VOC classes instead of textured
 * geometric primitives, smooth shading, low-frequency mottling and soft patches instead of stripes/checks/dots,
 * sky/ground, indoor and foliage backgrounds with labelled-background clutter (trees, poles, rocks, furniture)
 * instead of a noisy gradient with thin lines, a wide spread of object scales, and VOC class ids. It exists to check
 * generalisation: nothing (demo preset, method defaults) is tuned on it.
 *
 * Class ids are PASCAL VOC ids, in this order: aeroplane 1, bird 3, car 7, cat 8, dog 12, person 15.
 */
export const SCENE_CLASS_IDS: readonly number[] = Object.freeze([1, 3, 7, 8, 12, 15]);

/** VOC names of {@link SCENE_CLASS_IDS}, in the same order. */
export const SCENE_CLASS_NAMES: readonly string[] = Object.freeze(
  SCENE_CLASS_IDS.map((id) => VOC_CLASSES[id]!),
);

/** Largest supported number of scene classes. */
export const SCENE_MAX_CLASSES = SCENE_CLASS_IDS.length;

/** Options of {@link renderSceneSample}. */
export interface SceneRenderOptions {
  /** Square image side in pixels (default 128, at least 32). */
  size?: number;
  /** Number of object classes: the first n of {@link SCENE_CLASS_IDS} (default 6, 1..6). */
  numClasses?: number;
  /** Objects per image, inclusive range (default [1, 3]). */
  objects?: [number, number];
}

type Rgb = [number, number, number];

/** A part of a silhouette in template coordinates (u to the front of the object, v down). */
type Prim =
  | { k: 'ell'; x: number; y: number; rx: number; ry: number; c: number; s: number; part: number }
  | { k: 'poly'; pts: number[]; part: number }
  | { k: 'seg'; x0: number; y0: number; x1: number; y1: number; r: number; part: number };

function ell(x: number, y: number, rx: number, ry: number, part = 0, rot = 0): Prim {
  return { k: 'ell', x, y, rx, ry, c: Math.cos(rot), s: Math.sin(rot), part };
}
function poly(pts: number[], part = 0): Prim {
  return { k: 'poly', pts, part };
}
function seg(x0: number, y0: number, x1: number, y1: number, r: number, part = 0): Prim {
  return { k: 'seg', x0, y0, x1, y1, r, part };
}

function insidePrim(p: Prim, u: number, v: number): boolean {
  switch (p.k) {
    case 'ell': {
      const du = u - p.x;
      const dv = v - p.y;
      const a = du * p.c + dv * p.s;
      const b = -du * p.s + dv * p.c;
      return (a * a) / (p.rx * p.rx) + (b * b) / (p.ry * p.ry) < 1;
    }
    case 'seg': {
      const dx = p.x1 - p.x0;
      const dy = p.y1 - p.y0;
      const l2 = dx * dx + dy * dy;
      const t = l2 > 0 ? Math.min(1, Math.max(0, ((u - p.x0) * dx + (v - p.y0) * dy) / l2)) : 0;
      const ex = u - p.x0 - t * dx;
      const ey = v - p.y0 - t * dy;
      return ex * ex + ey * ey < p.r * p.r;
    }
    default: {
      // crossing number
      const q = p.pts;
      let inside = false;
      for (let i = 0, j = q.length - 2; i < q.length; j = i, i += 2) {
        const xi = q[i]!;
        const yi = q[i + 1]!;
        const xj = q[j]!;
        const yj = q[j + 1]!;
        if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
      }
      return inside;
    }
  }
}

function primBounds(p: Prim): [number, number, number, number] {
  switch (p.k) {
    case 'ell': {
      const m = Math.max(p.rx, p.ry);
      return [p.x - m, p.y - m, p.x + m, p.y + m];
    }
    case 'seg':
      return [
        Math.min(p.x0, p.x1) - p.r,
        Math.min(p.y0, p.y1) - p.r,
        Math.max(p.x0, p.x1) + p.r,
        Math.max(p.y0, p.y1) + p.r,
      ];
    default: {
      const b: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
      for (let i = 0; i < p.pts.length; i += 2) {
        b[0] = Math.min(b[0], p.pts[i]!);
        b[1] = Math.min(b[1], p.pts[i + 1]!);
        b[2] = Math.max(b[2], p.pts[i]!);
        b[3] = Math.max(b[3], p.pts[i + 1]!);
      }
      return b;
    }
  }
}

/** Mirrors a primitive in v (for the symmetric halves of a top-view aeroplane). */
function mirrorV(p: Prim): Prim {
  switch (p.k) {
    case 'ell':
      return { ...p, y: -p.y, s: -p.s };
    case 'seg':
      return { ...p, y0: -p.y0, y1: -p.y1 };
    default:
      return { ...p, pts: p.pts.map((x, i) => (i % 2 ? -x : x)) };
  }
}

// ---------------------------------------------------------------------------------------------- silhouettes

function aeroplane(rng: Rng): Prim[] {
  // top view, nose to +u: fuselage, swept wings, tail plane and fin, optional engines
  const sw = rng.uniform(0.15, 0.45);
  const span = rng.uniform(0.7, 0.95);
  const chord = rng.uniform(0.3, 0.45);
  const wing = poly([0.3, 0, 0.3 - chord, 0, 0.3 - chord - sw, -span, 0.3 - chord * 0.4 - sw, -span]);
  const tail = poly([-0.68, 0, -0.92, 0, -1.02, -0.32, -0.9, -0.32]);
  const out: Prim[] = [ell(0, 0, 1, rng.uniform(0.1, 0.14)), wing, mirrorV(wing), tail, mirrorV(tail)];
  if (rng.chance(0.6)) {
    const e = ell(0.12 - sw * 0.45, -span * 0.42, 0.16, 0.055, 1);
    out.push(e, mirrorV(e));
  }
  out.push(ell(0.72, 0, 0.12, 0.05, 2)); // cockpit
  return out;
}

function bird(rng: Rng): Prim[] {
  // side view facing +u: body, head, beak, tail, folded or raised wing, legs when perched
  const flying = rng.chance(0.45);
  const tail = rng.uniform(-0.12, 0.12);
  const out: Prim[] = [
    ell(0, 0, 0.5, 0.28, 0, -0.2),
    ell(0.5, -0.3, 0.2, 0.19),
    poly([-0.38, -0.02, -0.95, -0.2 + tail, -0.95, 0.1 + tail]),
    poly([0.65, -0.37, 0.62 + rng.uniform(0.22, 0.35), -0.28, 0.65, -0.22], 1),
  ];
  if (flying) {
    const tip = rng.uniform(-0.2, 0.15);
    out.push(poly([-0.25, -0.1, 0.22, -0.14, tip, -1, tip - 0.35, -0.8], 2));
  } else {
    out.push(ell(-0.08, -0.04, 0.38, 0.15, 2, -0.15));
    out.push(seg(0.05, 0.2, 0.02, 0.58, 0.03, 1), seg(-0.12, 0.2, -0.14, 0.58, 0.03, 1));
  }
  return out;
}

function car(rng: Rng): Prim[] {
  // side view facing +u: body, cabin with windows, two wheels with hubs
  const h = rng.uniform(-0.08, 0.08);
  const back = rng.uniform(-0.75, -0.5);
  const front = rng.uniform(0.35, 0.6);
  const body = poly([-1, -0.02, -0.96, -0.16, 0.68, -0.16, 0.98, -0.06, 1, 0.2, -1, 0.2]);
  const cabin = poly([back, -0.14, back + 0.22, -0.5 + h, front - 0.28, -0.5 + h, front, -0.14]);
  const glass = poly(
    [back + 0.1, -0.17, back + 0.27, -0.44 + h, front - 0.3, -0.44 + h, front - 0.1, -0.17],
    2,
  );
  const wr = rng.uniform(0.17, 0.22);
  return [
    body,
    cabin,
    glass,
    ell(-0.6, 0.2, wr, wr, 1),
    ell(0.62, 0.2, wr, wr, 1),
    ell(-0.6, 0.2, wr * 0.45, wr * 0.45, 3),
    ell(0.62, 0.2, wr * 0.45, wr * 0.45, 3),
  ];
}

function legs(rng: Rng, xs: number[], y0: number, y1: number, r: number, part = 0): Prim[] {
  const stride = rng.uniform(0, 0.12);
  return xs.map((x, i) => seg(x, y0, x + (i % 2 ? stride : -stride), y1, r, part));
}

function cat(rng: Rng): Prim[] {
  // side view facing +u: body, round head with pointed ears, thin legs, long raised tail
  const t = rng.uniform(-0.15, 0.2);
  return [
    ell(0, 0, 0.55, 0.23),
    ...legs(rng, [0.36, 0.24, -0.3, -0.42], 0.08, 0.55, 0.05),
    seg(-0.5, -0.05, -0.82, -0.25, 0.05),
    seg(-0.82, -0.25, -0.85 + t, -0.65, 0.05),
    ell(0.6, -0.3, 0.22, 0.2),
    poly([0.44, -0.4, 0.47, -0.7, 0.6, -0.47]),
    poly([0.62, -0.48, 0.76, -0.7, 0.8, -0.38]),
  ];
}

function dog(rng: Rng): Prim[] {
  // side view facing +u: long body, neck, head with a snout and a floppy ear, thick legs, short tail
  const t = rng.uniform(-0.15, 0.15);
  return [
    ell(0, 0, 0.6, 0.25),
    ...legs(rng, [0.42, 0.3, -0.34, -0.48], 0.08, 0.64, 0.075),
    seg(-0.55, -0.1, -0.85, -0.42 + t, 0.05),
    seg(0.45, -0.05, 0.62, -0.3, 0.13),
    ell(0.68, -0.36, 0.2, 0.17),
    poly([0.78, -0.44, 1, -0.37, 1, -0.24, 0.78, -0.24]),
    ell(1, -0.36, 0.045, 0.045, 2),
    ell(0.6, -0.25, 0.07, 0.16, 1, 0.35),
  ];
}

function person(rng: Rng): Prim[] {
  // front view: head with hair, neck, torso, articulated arms, legs
  const out: Prim[] = [];
  const spread = rng.uniform(0, 0.25);
  out.push(seg(-0.1, 0.08, -0.1 - spread, 0.95, 0.085, 2), seg(0.1, 0.08, 0.1 + spread, 0.95, 0.085, 2));
  out.push(poly([-0.22, -0.6, 0.22, -0.6, 0.2, 0.12, -0.2, 0.12]));
  for (const side of [-1, 1]) {
    const a = rng.uniform(-0.1, 1.8);
    const b = rng.uniform(-0.3, 1.2);
    const sx = side * 0.22;
    const ex = sx + side * 0.35 * Math.sin(a);
    const ey = -0.55 + 0.35 * Math.cos(a);
    const hx = ex + side * 0.32 * Math.sin(a + b);
    const hy = ey + 0.32 * Math.cos(a + b);
    out.push(seg(sx, -0.55, ex, ey, 0.065), seg(ex, ey, hx, hy, 0.055), ell(hx, hy, 0.06, 0.06, 1));
  }
  out.push(seg(0, -0.68, 0, -0.56, 0.06, 1), ell(0, -0.8, 0.15, 0.16, 1), ell(0, -0.9, 0.15, 0.08, 3));
  return out;
}

interface ClassSpec {
  build: (rng: Rng) => Prim[];
  /** Largest |rotation| in radians. */
  rot: number;
  /** Stands on the ground in outdoor scenes. */
  ground: boolean;
  /** Mottling amplitude range (fur and feathers more, metal less). */
  mottle: [number, number];
  /** Part colours: part 0 the main colour, then details. */
  colours: (rng: Rng, main: Rgb) => Rgb[];
  /** Main-colour palette: [hue, hue jitter, sat lo, sat hi, val lo, val hi]. */
  palette: number[][];
}

const WHITE = [0, 0.5, 0, 0.08, 0.82, 1];
const GREY = [0, 0.5, 0, 0.1, 0.4, 0.75];
const BLACK = [0, 0.5, 0, 0.2, 0.06, 0.22];
const BROWN = [0.07, 0.03, 0.4, 0.8, 0.22, 0.55];
const RED = [0.0, 0.02, 0.6, 0.95, 0.5, 0.9];
const BLUE = [0.6, 0.04, 0.45, 0.9, 0.35, 0.9];
const YELLOW = [0.13, 0.03, 0.55, 0.95, 0.7, 1];
const ORANGE = [0.07, 0.02, 0.55, 0.85, 0.6, 0.95];
const GREEN = [0.33, 0.05, 0.4, 0.8, 0.3, 0.7];
const TAN = [0.09, 0.02, 0.3, 0.55, 0.6, 0.88];

function darker(c: Rgb, f: number): Rgb {
  return [c[0] * f, c[1] * f, c[2] * f];
}

const CLASSES: ClassSpec[] = [
  {
    build: aeroplane,
    rot: 0.8,
    ground: false,
    mottle: [0.01, 0.04],
    palette: [WHITE, WHITE, GREY, [0.58, 0.03, 0.15, 0.45, 0.7, 1], RED, ORANGE],
    colours: (rng, m) => parts(rng, m, [pick(rng, [GREY, BLACK]), [0.6, 0.03, 0.2, 0.5, 0.15, 0.4]]),
  },
  {
    build: bird,
    rot: 0.45,
    ground: false,
    mottle: [0.08, 0.2],
    palette: [BROWN, BROWN, BLACK, BLUE, RED, YELLOW, GREY, WHITE],
    colours: (rng, m) => parts(rng, m, [pick(rng, [YELLOW, ORANGE, BLACK]), 'dark']),
  },
  {
    build: car,
    rot: 0.12,
    ground: true,
    mottle: [0.01, 0.04],
    palette: [RED, BLUE, GREY, WHITE, BLACK, YELLOW, GREEN, [0.62, 0.03, 0.5, 0.9, 0.15, 0.4]],
    colours: (rng, m) =>
      parts(rng, m, [
        [0, 0.5, 0, 0.15, 0.04, 0.14],
        [0.58, 0.03, 0.1, 0.35, 0.18, 0.5],
        [0, 0.5, 0, 0.05, 0.6, 0.85],
      ]),
  },
  {
    build: cat,
    rot: 0.2,
    ground: true,
    mottle: [0.06, 0.18],
    palette: [ORANGE, ORANGE, GREY, BLACK, WHITE, BROWN, [0.1, 0.02, 0.15, 0.35, 0.78, 1]],
    colours: (rng, m) => parts(rng, m, ['dark', 'dark']),
  },
  {
    build: dog,
    rot: 0.2,
    ground: true,
    mottle: [0.06, 0.18],
    palette: [BROWN, TAN, TAN, BLACK, WHITE, GREY, [0.11, 0.02, 0.5, 0.8, 0.65, 0.92]],
    colours: (rng, m) => parts(rng, m, ['dark', [0, 0.5, 0, 0.1, 0.03, 0.12]]),
  },
  {
    build: person,
    rot: 0.15,
    ground: true,
    mottle: [0.02, 0.08],
    // shirts: any colour
    palette: [[0, 0.5, 0.2, 0.9, 0.2, 0.95]],
    colours: (rng, m) =>
      parts(rng, m, [
        [0.07, 0.02, 0.25, 0.6, 0.3, 0.95], // skin
        pick(rng, [[0.61, 0.02, 0.35, 0.7, 0.2, 0.55], BLACK, GREY, [0.12, 0.02, 0.25, 0.45, 0.45, 0.7]]),
        pick(rng, [BLACK, BROWN, [0.12, 0.02, 0.4, 0.7, 0.6, 0.9]]), // hair
      ]),
  },
];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(0, xs.length - 1)]!;
}

/** Part colours: the main colour, then one per detail spec ('dark': a darker main colour, else a palette). */
function parts(rng: Rng, main: Rgb, specs: (number[] | 'dark')[]): Rgb[] {
  return [
    main,
    ...specs.map((spec) => (spec === 'dark' ? darker(main, rng.uniform(0.45, 0.7)) : fromPalette(rng, spec))),
  ];
}

function fromPalette(rng: Rng, p: number[]): Rgb {
  const [h, dh, s0, s1, v0, v1] = p as [number, number, number, number, number, number];
  const hue = dh >= 0.5 ? rng.next() : h + rng.uniform(-dh, dh);
  return hsv(hue, rng.uniform(s0, s1), rng.uniform(v0, v1));
}

// ---------------------------------------------------------------------------------------------- noise

function hash2(x: number, y: number, s: number): number {
  let h = Math.imul(x | 0, 0x27d4eb2d) ^ Math.imul(y | 0, 0x165667b1) ^ Math.imul(s | 0, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Smooth value noise in [-1, 1] on a unit lattice. */
function vnoise(x: number, y: number, s: number): number {
  const ix = Math.floor(x);
  const iy = Math.floor(y);
  let tx = x - ix;
  let ty = y - iy;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  const a = hash2(ix, iy, s);
  const b = hash2(ix + 1, iy, s);
  const c = hash2(ix, iy + 1, s);
  const d = hash2(ix + 1, iy + 1, s);
  return 2 * ((a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty) - 1;
}

/** Three octaves of value noise, roughly in [-1, 1]. */
function fbm(x: number, y: number, s: number): number {
  return (
    0.57 * vnoise(x, y, s) +
    0.29 * vnoise(2.03 * x + 17, 2.03 * y + 5, s + 1) +
    0.14 * vnoise(4.1 * x, 4.1 * y, s + 2)
  );
}

function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

// ---------------------------------------------------------------------------------------------- backgrounds

type SceneKind = 'outdoor' | 'indoor' | 'foliage';

interface Canvas {
  size: number;
  img: Float32Array;
}

function blend(cv: Canvas, p: number, c: Rgb, a: number): void {
  const q = p * 3;
  cv.img[q] = cv.img[q]! * (1 - a) + c[0] * a;
  cv.img[q + 1] = cv.img[q + 1]! * (1 - a) + c[1] * a;
  cv.img[q + 2] = cv.img[q + 2]! * (1 - a) + c[2] * a;
}

/** Paints a shaded background-class silhouette (clutter) over the canvas. */
function paintClutter(
  cv: Canvas,
  prims: Prim[],
  cx: number,
  cy: number,
  sc: number,
  col: Rgb,
  ns: number,
): void {
  const { size } = cv;
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  for (const p of prims) {
    const q = primBounds(p);
    b = [Math.min(b[0]!, q[0]), Math.min(b[1]!, q[1]), Math.max(b[2]!, q[2]), Math.max(b[3]!, q[3])];
  }
  const x0 = Math.max(0, Math.floor(cx + b[0]! * sc));
  const x1 = Math.min(size - 1, Math.ceil(cx + b[2]! * sc));
  const y0 = Math.max(0, Math.floor(cy + b[1]! * sc));
  const y1 = Math.min(size - 1, Math.ceil(cy + b[3]! * sc));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const u = (x + 0.5 - cx) / sc;
      const v = (y + 0.5 - cy) / sc;
      let hit = -1;
      for (const p of prims) if (insidePrim(p, u, v)) hit = p.part;
      if (hit < 0) continue;
      const f = (1 + 0.25 * fbm(u * 4, v * 4, ns)) * (hit ? 0.7 : 1) * (1 - 0.15 * v);
      blend(cv, y * size + x, darker(col, f), 1);
    }
  }
}

function tree(rng: Rng): Prim[] {
  const crown: Prim[] = [];
  const n = rng.int(2, 4);
  for (let i = 0; i < n; i++)
    crown.push(
      ell(
        rng.uniform(-0.2, 0.2),
        rng.uniform(-0.75, -0.45),
        rng.uniform(0.2, 0.35),
        rng.uniform(0.2, 0.3),
        0,
      ),
    );
  return [seg(0, 0, 0, -0.5, rng.uniform(0.04, 0.07), 1), ...crown];
}

function paintBackground(rng: Rng, cv: Canvas, ns: number): { kind: SceneKind; horizon: number } {
  const { size, img } = cv;
  const r = rng.next();
  const kind: SceneKind = r < 0.45 ? 'outdoor' : r < 0.75 ? 'indoor' : 'foliage';
  let horizon = 0;
  if (kind === 'outdoor') {
    horizon = rng.uniform(0.3, 0.68) * size;
    const hillA = rng.uniform(0, 0.08) * size;
    const hillF = (2 * Math.PI) / (size * rng.uniform(0.5, 2));
    const hillP = rng.uniform(0, 6.3);
    const sky = rng.next();
    const [top, low] =
      sky < 0.55
        ? [
            hsv(rng.uniform(0.56, 0.62), rng.uniform(0.45, 0.8), rng.uniform(0.6, 0.9)),
            hsv(rng.uniform(0.55, 0.6), rng.uniform(0.1, 0.3), rng.uniform(0.85, 1)),
          ]
        : sky < 0.8
          ? [
              hsv(0.6, rng.uniform(0, 0.08), rng.uniform(0.55, 0.75)),
              hsv(0.6, rng.uniform(0, 0.05), rng.uniform(0.75, 0.92)),
            ]
          : [
              hsv(rng.uniform(0.62, 0.7), rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.55)),
              hsv(rng.uniform(0.04, 0.1), rng.uniform(0.5, 0.8), rng.uniform(0.8, 1)),
            ];
    const g = rng.next();
    const ground =
      g < 0.5
        ? fromPalette(rng, [0.27, 0.06, 0.35, 0.7, 0.3, 0.6])
        : g < 0.75
          ? fromPalette(rng, [0.1, 0.02, 0.25, 0.5, 0.5, 0.8])
          : fromPalette(rng, GREY);
    const clouds = rng.chance(0.5) ? rng.uniform(0.05, 0.35) : -1;
    const cloudScale = rng.uniform(2, 5) / size;
    const gs = rng.uniform(3, 8) / size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const p = y * size + x;
        const hy = horizon - hillA * Math.sin(x * hillF + hillP);
        let c: Rgb;
        if (y < hy) {
          const t = Math.min(1, y / Math.max(1, hy));
          c = [top[0] * (1 - t) + low[0] * t, top[1] * (1 - t) + low[1] * t, top[2] * (1 - t) + low[2] * t];
          if (clouds > 0) {
            const a = smoothstep(clouds, clouds + 0.3, fbm(x * cloudScale * 1.5, y * cloudScale * 3, ns + 7));
            c = [c[0] * (1 - a) + 245 * a, c[1] * (1 - a) + 245 * a, c[2] * (1 - a) + 248 * a];
          }
        } else {
          const t = (y - hy) / Math.max(1, size - hy);
          const f = (0.85 + 0.3 * t) * (1 + 0.22 * fbm(x * gs, y * gs * 2.5, ns + 3));
          c = darker(ground, f);
        }
        img[p * 3] = c[0];
        img[p * 3 + 1] = c[1];
        img[p * 3 + 2] = c[2];
      }
    }
    // clutter: trees, poles, rocks, bushes
    const nc = rng.int(0, 4);
    for (let i = 0; i < nc; i++) {
      const t = rng.int(0, 3);
      const cx = rng.uniform(0, size);
      const sc = rng.uniform(0.15, 0.6) * size;
      if (t === 0) {
        const col = fromPalette(rng, [0.3, 0.07, 0.4, 0.8, 0.2, 0.5]);
        paintClutter(cv, tree(rng), cx, horizon + rng.uniform(0, 0.15) * size, sc, col, ns + 11 + i);
      } else if (t === 1) {
        const prims = [seg(0, 0, 0, -1, rng.uniform(0.012, 0.025))];
        if (rng.chance(0.5)) prims.push(seg(-0.15, -0.9, 0.15, -0.9, 0.012));
        paintClutter(
          cv,
          prims,
          cx,
          horizon + rng.uniform(0, 0.2) * size,
          sc,
          fromPalette(rng, GREY),
          ns + 11 + i,
        );
      } else if (t === 2) {
        const col = fromPalette(rng, [0.08, 0.03, 0, 0.25, 0.3, 0.65]);
        const w = rng.uniform(0.12, 0.3);
        const cy = rng.uniform(horizon, size);
        paintClutter(
          cv,
          [ell(0, 0, w, w * rng.uniform(0.45, 0.8), 0, rng.uniform(-0.3, 0.3))],
          cx,
          cy,
          sc * 0.6,
          col,
          ns + 11 + i,
        );
      } else {
        const col = fromPalette(rng, [0.28, 0.06, 0.4, 0.8, 0.2, 0.45]);
        const prims: Prim[] = [];
        for (let k = 0; k < 3; k++)
          prims.push(
            ell(
              rng.uniform(-0.2, 0.2),
              rng.uniform(-0.1, 0),
              rng.uniform(0.12, 0.22),
              rng.uniform(0.08, 0.15),
            ),
          );
        paintClutter(cv, prims, cx, rng.uniform(horizon, size), sc * 0.7, col, ns + 11 + i);
      }
    }
  } else if (kind === 'indoor') {
    const wall = fromPalette(rng, [0, 0.5, 0.04, 0.35, 0.45, 0.9]);
    const floorY = rng.uniform(0.6, 0.88) * size;
    const floor = rng.chance(0.6)
      ? fromPalette(rng, [0.07, 0.02, 0.35, 0.6, 0.25, 0.6])
      : fromPalette(rng, [0, 0.5, 0, 0.3, 0.3, 0.7]);
    const lightX = rng.uniform(0, size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const p = y * size + x;
        const lit = 1 - (0.35 * Math.abs(x - lightX)) / size;
        const c =
          y < floorY
            ? darker(wall, lit * (0.9 + 0.15 * (y / size)))
            : darker(
                floor,
                lit * (0.8 + 0.3 * ((y - floorY) / size)) * (1 + 0.08 * vnoise(x * 0.5, y * 0.08, ns + 4)),
              );
        img[p * 3] = c[0];
        img[p * 3 + 1] = c[1];
        img[p * 3 + 2] = c[2];
      }
    }
    // large soft rectangles: windows, doors, pictures, cupboards
    const nr = rng.int(1, 4);
    for (let i = 0; i < nr; i++) {
      const w = rng.uniform(0.15, 0.5) * size;
      const h = rng.uniform(0.15, 0.6) * size;
      const x0 = rng.uniform(-0.1, 0.9) * size;
      const y0 = rng.uniform(0, 0.7) * floorY;
      const soft = rng.uniform(0.5, 3);
      const col = rng.chance(0.3)
        ? hsv(0.58, rng.uniform(0.05, 0.3), rng.uniform(0.85, 1))
        : fromPalette(rng, [0, 0.5, 0.1, 0.6, 0.2, 0.85]);
      for (let y = Math.max(0, Math.floor(y0 - 3 * soft)); y < Math.min(size, y0 + h + 3 * soft); y++) {
        for (let x = Math.max(0, Math.floor(x0 - 3 * soft)); x < Math.min(size, x0 + w + 3 * soft); x++) {
          const a = smoothstep(-soft, soft, Math.min(x - x0, x0 + w - x, y - y0, y0 + h - y));
          if (a > 0) blend(cv, y * size + x, col, a * 0.9);
        }
      }
    }
    // furniture: tables, lamps
    const nf = rng.int(0, 3);
    for (let i = 0; i < nf; i++) {
      const col = fromPalette(
        rng,
        rng.chance(0.6) ? [0.07, 0.03, 0.3, 0.7, 0.2, 0.55] : [0, 0.5, 0, 0.3, 0.2, 0.8],
      );
      const cx = rng.uniform(0, size);
      const sc = rng.uniform(0.2, 0.5) * size;
      const prims: Prim[] = rng.chance(0.5)
        ? [
            poly([-0.5, -0.5, 0.5, -0.5, 0.5, -0.42, -0.5, -0.42]),
            seg(-0.42, -0.45, -0.42, 0, 0.03),
            seg(0.42, -0.45, 0.42, 0, 0.03),
          ]
        : [seg(0, 0, 0, -0.8, 0.02), poly([-0.15, -0.75, 0.15, -0.75, 0.08, -1, -0.08, -1], 1)];
      paintClutter(cv, prims, cx, rng.uniform(floorY, size), sc, col, ns + 21 + i);
    }
  } else {
    const dark = fromPalette(rng, [0.3, 0.06, 0.5, 0.9, 0.08, 0.25]);
    const light = fromPalette(rng, [0.2, 0.08, 0.4, 0.8, 0.45, 0.8]);
    const s1 = rng.uniform(3, 7) / size;
    const s2 = rng.uniform(10, 20) / size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const p = y * size + x;
        const t = Math.min(
          1,
          Math.max(0, 0.5 + 0.7 * fbm(x * s1, y * s1, ns + 5) + 0.3 * vnoise(x * s2, y * s2, ns + 6)),
        );
        img[p * 3] = dark[0] * (1 - t) + light[0] * t;
        img[p * 3 + 1] = dark[1] * (1 - t) + light[1] * t;
        img[p * 3 + 2] = dark[2] * (1 - t) + light[2] * t;
      }
    }
    // branches and rocks
    const nb = rng.int(0, 4);
    for (let i = 0; i < nb; i++) {
      const col = fromPalette(
        rng,
        rng.chance(0.6) ? [0.07, 0.03, 0.3, 0.6, 0.15, 0.4] : [0, 0.5, 0, 0.15, 0.35, 0.65],
      );
      const sc = rng.uniform(0.2, 0.7) * size;
      const a = rng.uniform(0, Math.PI);
      const prims = rng.chance(0.6)
        ? [
            seg(
              -Math.cos(a) * 0.5,
              -Math.sin(a) * 0.5,
              Math.cos(a) * 0.5,
              Math.sin(a) * 0.5,
              rng.uniform(0.015, 0.04),
            ),
          ]
        : [ell(0, 0, rng.uniform(0.1, 0.25), rng.uniform(0.07, 0.15), 0, a)];
      paintClutter(cv, prims, rng.uniform(0, size), rng.uniform(0, size), sc, col, ns + 31 + i);
    }
  }
  return { kind, horizon };
}

// ---------------------------------------------------------------------------------------------- objects

interface SceneObject {
  cls: number; // VOC id
  prims: Prim[];
  /** Template point at the object's centre. */
  ou: number;
  ov: number;
  cx: number;
  cy: number;
  /** Pixels per template unit. */
  scale: number;
  aspect: number;
  flip: number;
  cos: number;
  sin: number;
  /** Bounding radius in pixels. */
  radius: number;
  colours: Rgb[];
  mottle: number;
  light: [number, number];
  patches: { u: number; v: number; r: number; col: Rgb }[];
  noise: number;
}

function makeObject(rng: Rng, k: number, size: number, kind: SceneKind, horizon: number): SceneObject {
  const spec = CLASSES[k]!;
  const prims = spec.build(rng);
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  for (const p of prims) {
    const q = primBounds(p);
    b = [Math.min(b[0]!, q[0]), Math.min(b[1]!, q[1]), Math.max(b[2]!, q[2]), Math.max(b[3]!, q[3])];
  }
  const ext = Math.max(b[2]! - b[0]!, b[3]! - b[1]!);
  // Largest extent 30–90 % of the image side (median ~56 %), smaller ones a little more frequent: objects the size
  // VOC's are (a fifth of the pixels are foreground), so the set tests generalisation rather than tiny objects.
  const frac = 0.3 + 0.6 * rng.next() ** 1.2;
  const scale = (frac * size) / ext;
  const aspect = rng.uniform(0.85, 1.2);
  const hw = ((b[2]! - b[0]!) / 2) * scale * aspect;
  const hh = ((b[3]! - b[1]!) / 2) * scale;
  const cx = rng.uniform(0.08, 0.92) * size;
  let cy: number;
  if (kind === 'outdoor' && spec.ground) cy = Math.min(size * 0.95, rng.uniform(horizon, size) - hh * 0.3);
  else if (kind === 'outdoor' && k === 0) cy = rng.uniform(0.08, Math.max(0.2, horizon / size)) * size;
  else cy = rng.uniform(0.1, 0.9) * size;
  const ang = rng.uniform(-spec.rot, spec.rot);
  const main = fromPalette(rng, pick(rng, spec.palette));
  const colours = spec.colours(rng, main);
  const patches: SceneObject['patches'] = [];
  if ((k === 3 || k === 4) && rng.chance(0.45)) {
    const pc = fromPalette(rng, pick(rng, [WHITE, BLACK, ORANGE, BROWN]));
    const np = rng.int(1, 3);
    for (let i = 0; i < np; i++)
      patches.push({
        u: rng.uniform(b[0]!, b[2]!),
        v: rng.uniform(b[1]!, b[3]!),
        r: rng.uniform(0.15, 0.35),
        col: pc,
      });
  }
  const la = rng.uniform(-2.4, -0.7); // light from above
  return {
    cls: SCENE_CLASS_IDS[k]!,
    prims,
    ou: (b[0]! + b[2]!) / 2,
    ov: (b[1]! + b[3]!) / 2,
    cx,
    cy,
    scale,
    aspect,
    flip: rng.chance(0.5) ? -1 : 1,
    cos: Math.cos(ang),
    sin: Math.sin(ang),
    radius: Math.sqrt(hw * hw + hh * hh) + 1,
    colours,
    mottle: rng.uniform(spec.mottle[0], spec.mottle[1]),
    light: [Math.cos(la), Math.sin(la)],
    patches,
    noise: rng.int(0, 0x7fffffff),
  };
}

/** Template coordinates of pixel centre (x, y) for object `o`. */
function toLocal(o: SceneObject, x: number, y: number): [number, number] {
  const dx = x + 0.5 - o.cx;
  const dy = y + 0.5 - o.cy;
  const a = (dx * o.cos + dy * o.sin) / (o.scale * o.aspect);
  const b = (-dx * o.sin + dy * o.cos) / o.scale;
  return [o.ou + o.flip * a, o.ov + b];
}

/** Part id of the last primitive containing (u, v), or -1. */
function partAt(o: SceneObject, u: number, v: number): number {
  let hit = -1;
  for (const p of o.prims) if (insidePrim(p, u, v)) hit = p.part;
  return hit;
}

function checkOptions(size: number, numClasses: number, objects: [number, number]): void {
  if (!Number.isInteger(size) || size < 32 || size > 4096) {
    throw new RangeError(`scenes: size must be an integer in 32..4096, got ${size}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > SCENE_MAX_CLASSES) {
    throw new RangeError(
      `scenes: numClasses must be an integer in 1..${SCENE_MAX_CLASSES}, got ${numClasses}`,
    );
  }
  const [lo, hi] = objects;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi < lo || hi > 8) {
    throw new RangeError(`scenes: objects must be an integer range [lo, hi] within 1..8, got [${lo}, ${hi}]`);
  }
}

/** Minimum visible fraction of each object (of its whole silhouette, in and out of the image); else re-drawn. */
const MIN_VISIBLE = 0.45;

/**
 * Renders sample `index` of the "scenes" set for `seed`: a background scene (sky and ground, a room, or foliage)
 * with background-class clutter, then 1–3 objects of the first `numClasses` of {@link SCENE_CLASS_IDS}, painted
 * from the top of the image down (lower objects are nearer and occlude higher ones). The mask is exact: 0 for
 * background (clutter included), the VOC class id for objects, no 255 (ignore) pixels. `labels` are the VOC ids
 * present in the mask, ascending. Depends only on (seed, index, options).
 */
export function renderSceneSample(
  seed: number,
  index: number,
  options: SceneRenderOptions = {},
): SyntheticSample {
  const size = options.size ?? 128;
  const numClasses = options.numClasses ?? SCENE_MAX_CLASSES;
  const objects = options.objects ?? [1, 3];
  checkOptions(size, numClasses, objects);
  // a stream of its own, so that (seed, index) draws nothing in common with the 'shapes' generator
  const rng = new Rng(mixSeed(mixSeed(seed, 0x5ce7e5), index));
  const n = size * size;
  const cv: Canvas = { size, img: new Float32Array(n * 3) };
  const ns = rng.int(0, 0x3fffffff);
  const { kind, horizon } = paintBackground(rng, cv, ns);

  const owner = new Int16Array(n);
  const part = new Int8Array(n);
  let objs: SceneObject[] = [];
  const minPixels = Math.max(12, 0.002 * n);
  for (let attempt = 0; ; attempt++) {
    const nObj = rng.int(objects[0], objects[1]);
    objs = [];
    for (let i = 0; i < nObj; i++)
      objs.push(makeObject(rng, rng.int(0, numClasses - 1), size, kind, horizon));
    objs.sort((a, b) => a.cy + a.radius * 0.5 - (b.cy + b.radius * 0.5));
    owner.fill(-1);
    const total = new Int32Array(objs.length);
    const visible = new Int32Array(objs.length);
    objs.forEach((o, k) => {
      const r = Math.ceil(o.radius);
      const x0 = Math.floor(o.cx) - r;
      const y0 = Math.floor(o.cy) - r;
      for (let y = y0; y <= y0 + 2 * r; y++) {
        for (let x = x0; x <= x0 + 2 * r; x++) {
          const [u, v] = toLocal(o, x, y);
          const pa = partAt(o, u, v);
          if (pa < 0) continue;
          total[k]!++;
          if (x < 0 || y < 0 || x >= size || y >= size) continue;
          owner[y * size + x] = k;
          part[y * size + x] = pa;
        }
      }
    });
    for (let p = 0; p < n; p++) if (owner[p]! >= 0) visible[owner[p]!]!++;
    const ok = objs.every((_, k) => visible[k]! >= Math.max(minPixels, MIN_VISIBLE * total[k]!));
    if (ok || attempt >= 40) break;
  }

  const mask = new Uint8Array(n);
  const { img } = cv;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const k = owner[p]!;
      if (k < 0) continue;
      const o = objs[k]!;
      mask[p] = o.cls;
      const [u, v] = toLocal(o, x, y);
      let c = o.colours[part[p]!] ?? o.colours[0]!;
      for (const pt of o.patches) {
        const d = ((u - pt.u) ** 2 + (v - pt.v) ** 2) / (pt.r * pt.r);
        const a = 1 - smoothstep(0.6, 1.1, d + 0.3 * vnoise(u * 8, v * 8, o.noise + 9));
        if (a > 0 && part[p] === 0)
          c = [
            c[0] * (1 - a) + pt.col[0] * a,
            c[1] * (1 - a) + pt.col[1] * a,
            c[2] * (1 - a) + pt.col[2] * a,
          ];
      }
      // smooth directional shading in image space, slight rim darkening and low-frequency mottling
      const sx = (x + 0.5 - o.cx) / o.radius;
      const sy = (y + 0.5 - o.cy) / o.radius;
      const shade =
        (1 - 0.35 * (sx * o.light[0] + sy * o.light[1])) *
        (1 - 0.2 * (sx * sx + sy * sy)) *
        (1 + o.mottle * fbm(u * 5, v * 5, o.noise));
      img[p * 3] = c[0] * shade;
      img[p * 3 + 1] = c[1] * shade;
      img[p * 3 + 2] = c[2] * shade;
    }
  }
  // camera: vignette, a colour cast, sensor noise
  const cast = [rng.uniform(0.92, 1.08), rng.uniform(0.95, 1.05), rng.uniform(0.92, 1.08)];
  const vig = rng.uniform(0, 0.3);
  const noiseAmp = rng.uniform(3, 9);
  const data = new Uint8Array(n * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = (x + 0.5) / size - 0.5;
      const dy = (y + 0.5) / size - 0.5;
      const f = 1 - vig * 2 * (dx * dx + dy * dy);
      for (let ch = 0; ch < 3; ch++) {
        const i = (y * size + x) * 3 + ch;
        const v = img[i]! * f * cast[ch]! + (hash2(i, 3, ns) - 0.5) * noiseAmp;
        data[i] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
  const seen = new Uint8Array(256);
  for (let p = 0; p < n; p++) seen[mask[p]!] = 1;
  const labels = SCENE_CLASS_IDS.filter((id) => seen[id]).slice();
  return {
    image: { width: size, height: size, data },
    mask: { width: size, height: size, data: mask },
    labels: [...labels],
  };
}
