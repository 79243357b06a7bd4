/**
 * FickleNet localization of whole images (spec §5.3) for the CLI: the image resized to a square of side `size`,
 * the classifier's aggregated Grad-CAM maps over `runs` random selections at output stride 8, the maps resized
 * bilinearly (align corners: map cell i sits on pixel 8i) to the image's own size, and seeds from them (θ_fg on the
 * highest present class, background by the low-activation rule or saliency, 255 elsewhere), plus seed precision
 * and recall against ground truth.
 *
 * The seed PNG at the image's resolution is the one definition of an image's seeds: DSRG reads its cues from it
 * (`seedGrid`), so seeds a user supplies (e.g. from saliency) plug in the same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import { resizeBilinear } from '@wsss/core';
import {
  type DataRecord,
  IGNORE_INDEX,
  type IndexMask,
  normalizeImageNet,
  resizeBicubic,
  toUnitFloat,
} from '@wsss/datasets';
import { type LocalizeOptions, localize, mbdSaliency, seedsFromMaps } from '@wsss/ficklenet';
import type { FickleClassifierNet } from './model.js';

export interface LocalizeImageOptions {
  /** Side of the square the image is resized to (spec §6.2: 321). */
  size: number;
  /** N_inf random selections. [default] 200 (spec §5.3). */
  runs: number;
  aggregate: 'max' | 'mean';
  /**
   * Test-time augmentation: the image is also localized at these multiples of `size` (side round(size·s), at least
   * 8), each pass's maps resized to the image and averaged, the mean renormalised per class to its maximum (the
   * multi-scale CAM inference of AffinityNet and IRN; a deviation from FickleNet's single scale, spec §5.3).
   * [default] [1]: `size` alone.
   */
  scales?: readonly number[];
  /** Test-time augmentation: each scale is localized on the mirrored image too, its maps mirrored back. [default] false. */
  flip?: boolean;
  /** θ_fg. [default] 0.5. */
  thFg: number;
  /** θ_bg of the low-activation background rule (a deviation, spec §5.3 item 4). [default] 0.1. */
  thBg: number;
  /** Adaptive foreground seeds: the top fraction of each present class's map (0 or unset: the fixed θ_fg). */
  fgQuantile?: number;
  /**
   * Where background seeds come from (foreground seeds win either way): 'low-activation' [default] — every
   * present class map below θ_bg (the deviation); 'saliency' — the paper's setting (spec §5.3 item 4, §6.2) with
   * a training-free detector: MB+ saliency ({@link mbdSaliency}) of the image below `saliencyThreshold`.
   */
  background?: 'low-activation' | 'saliency';
  /** Background seeds where the MB+ saliency is below this (with `background: 'saliency'`). [default] 0.1. */
  saliencyThreshold?: number;
  /**
   * With `background: 'saliency'`: foreground seeds only where the saliency is at least this ({@link SeedOptions}).
   * [default] 0: wherever the map qualifies.
   */
  fgMinSaliency?: number;
  /** The image's saliency (H·W values in [0, 1]) from elsewhere, used instead of MB+ (with `background: 'saliency'`). */
  saliencyMap?: Float32Array;
  /** Seed of the random selections of this image. */
  seed: number;
  /** Use these labels (1-based) instead of the record's (e.g. predicted ones). */
  labels?: readonly number[];
}

export interface ImageLocalization {
  id: string;
  /** Foreground classes localized (1-based). */
  labels: number[];
  /** Aggregated maps at the image's resolution, H·W·K (class fastest; absent classes 0). */
  maps: Float32Array;
  /** Seeds at the image's resolution: 0 background, c foreground class c, 255 unlabelled. */
  seeds: IndexMask;
}

/** The image resized to `size`² (bicubic) and ImageNet-normalised, as a (1,size,size,3) tensor. */
export function squareInput(image: DataRecord['image'], size: number): tf.Tensor4D {
  const { width, height } = image;
  const img =
    width === size && height === size
      ? image
      : resizeBicubic(image, { x: 0, y: 0, w: width, h: height }, size, size);
  return tf.tensor4d(normalizeImageNet(toUnitFloat(img.data)), [1, size, size, 3]);
}

/** Localizes one record: maps and seeds at the image's own resolution. */
export async function localizeImage(
  net: FickleClassifierNet,
  record: DataRecord,
  o: LocalizeImageOptions,
): Promise<ImageLocalization> {
  const { width: W, height: H } = record.image;
  const background = o.background ?? 'low-activation';
  if (background !== 'low-activation' && background !== 'saliency')
    throw new Error(`localizeImage: background must be 'low-activation' or 'saliency', got '${background}'`);
  if (o.saliencyMap && o.saliencyMap.length !== W * H)
    throw new Error(
      `localizeImage: saliencyMap has ${o.saliencyMap.length} values, the image ${W}×${H} = ${W * H}`,
    );
  const salMap = background === 'saliency' ? (o.saliencyMap ?? mbdSaliency(record.image)) : null;
  const K = net.selection.options.numClasses;
  const labels = [...(o.labels ?? record.labels)];
  const classes = labels.map((c) => c - 1);
  const scales = o.scales?.length ? o.scales : [1];
  for (const sc of scales)
    if (!(sc > 0) || !Number.isFinite(sc))
      throw new Error(`localizeImage: scales must be positive numbers, got ${sc}`);
  // the classifier's backbone gives the feature map (conv6) Grad-CAM works on
  const featureExtractor = (x: tf.Tensor4D) => {
    const out = net.backbone.apply(x, { training: false }) as tf.Tensor4D | tf.Tensor4D[];
    return Array.isArray(out) ? out[0]! : out;
  };
  // one pass: maps (1,H,W,K) at the image's resolution; pass 0 (the first scale, unmirrored) draws the image's own
  // selections, so that `scales: [1]` without flip is exactly the single-scale localization
  const pass = (size: number, mirrored: boolean, index: number): tf.Tensor4D => {
    const input = squareInput(record.image, size);
    const x = mirrored ? tf.tidy(() => tf.reverse(input, 2) as tf.Tensor4D) : input;
    if (mirrored) input.dispose();
    const seed = index === 0 ? o.seed : (o.seed ^ Math.imul(index, 0x9e3779b1)) >>> 0;
    const lo: LocalizeOptions = { runs: o.runs, aggregate: o.aggregate, seed };
    const r = localize({ featureExtractor, selection: net.selection }, x, [classes], lo);
    x.dispose();
    r.seeds.dispose();
    const out = tf.tidy(() => {
      const m = resizeBilinear(r.maps, [H, W], { alignCorners: true });
      return mirrored ? (tf.reverse(m, 2) as tf.Tensor4D) : m;
    });
    r.maps.dispose();
    return out;
  };
  const passes: [number, boolean][] = [];
  for (const sc of scales) {
    const size = Math.max(8, Math.round(o.size * sc));
    passes.push([size, false]);
    if (o.flip) passes.push([size, true]);
  }
  let sum: tf.Tensor4D | null = null;
  for (const [i, [size, mirrored]] of passes.entries()) {
    const m = pass(size, mirrored, i);
    const next: tf.Tensor4D = sum ? tf.add(sum, m) : m;
    if (sum) tf.dispose([sum, m]);
    sum = next;
  }
  const total = sum!;
  // one pass is used as it is; a mean of several is renormalised per class
  const full =
    passes.length === 1
      ? total
      : tf.tidy(() => {
          const mx = tf.max(total, [1, 2], true);
          return tf.div(total, tf.where(tf.greater(mx, 0), mx, tf.onesLike(mx))) as tf.Tensor4D;
        });
  if (full !== total) total.dispose();
  // the saliency map at the image's own resolution, the resolution the seeds are made at
  const saliency = salMap ? tf.tensor3d(salMap, [1, H, W]) : undefined;
  let seedT: tf.Tensor3D;
  try {
    seedT = seedsFromMaps(full, [classes], {
      thFg: o.thFg,
      thBg: o.thBg,
      ...(o.fgQuantile ? { fgQuantile: o.fgQuantile } : {}),
      ...(saliency
        ? {
            saliency,
            saliencyThreshold: o.saliencyThreshold ?? 0.1,
            ...(o.fgMinSaliency ? { fgMinSaliency: o.fgMinSaliency } : {}),
          }
        : {}),
    });
  } finally {
    saliency?.dispose();
  }
  const [maps, seedData] = await Promise.all([full.data() as Promise<Float32Array>, seedT.data()]);
  tf.dispose([full, seedT]);
  const seeds = new Uint8Array(H * W);
  for (let i = 0; i < seeds.length; i++) seeds[i] = seedData[i]!; // 0, c (= index + 1) or 255
  if (maps.length !== H * W * K)
    throw new Error(`localizeImage: maps have ${maps.length} values, expected ${H * W * K}`);
  return { id: record.id, labels, maps, seeds: { width: W, height: H, data: seeds } };
}

/**
 * The seed labels DSRG trains with on a stride-8 score map of a `size`² input: the seed map resized (nearest) to
 * `size`² sampled at pixel 8i of each map cell i. Returns (g·g) class indices, 255 unlabelled.
 */
export function seedGrid(seedsAtSize: Uint8Array, size: number, grid: number): Uint8Array {
  const out = new Uint8Array(grid * grid);
  for (let i = 0; i < grid; i++) {
    const y = Math.min(size - 1, 8 * i);
    for (let j = 0; j < grid; j++) out[i * grid + j] = seedsAtSize[y * size + Math.min(size - 1, 8 * j)]!;
  }
  return out;
}

const SEED_SCORE_KEYS = [
  'seeded',
  'correct',
  'labelled',
  'fgSeeded',
  'fgCorrect',
  'fgLabelled',
  'images',
] as const;

/** {@link SeedScore}'s counts; `perClass` by label (0 = background): seeded, correct and labelled pixels. */
export type SeedScoreCounts = Record<(typeof SEED_SCORE_KEYS)[number], number> & {
  perClass?: { seeded: number[]; correct: number[]; labelled: number[] };
};

/** Seed precision and recall of one label (0 = background). */
export interface ClassSeedScore {
  label: number;
  precision: number;
  recall: number;
  /** Pixels seeded with the label, and ground-truth pixels of it. */
  seeded: number;
  labelled: number;
}

/** Seed precision/recall against ground truth, accumulated over images (ignored ground truth skipped). */
export class SeedScore {
  /** Seeded pixels (label ≠ 255) with ground truth, and those whose seed equals it. */
  seeded = 0;
  correct = 0;
  /** Ground-truth pixels (≠ 255). */
  labelled = 0;
  fgSeeded = 0;
  fgCorrect = 0;
  fgLabelled = 0;
  images = 0;
  /** By label: pixels seeded with it (where ground truth exists), those correct, and its ground-truth pixels. */
  private readonly byLabel = { seeded: [] as number[], correct: [] as number[], labelled: [] as number[] };

  private bump(which: 'seeded' | 'correct' | 'labelled', label: number, by = 1): void {
    const a = this.byLabel[which];
    while (a.length <= label) a.push(0);
    a[label]! += by;
  }

  add(seeds: IndexMask, gt: IndexMask): void {
    if (seeds.width !== gt.width || seeds.height !== gt.height)
      throw new Error(
        `SeedScore: seeds are ${seeds.width}×${seeds.height}, the ground truth ${gt.width}×${gt.height}`,
      );
    const s = seeds.data;
    const g = gt.data;
    for (let i = 0; i < s.length; i++) {
      const t = g[i]!;
      if (t === IGNORE_INDEX) continue;
      this.labelled++;
      this.bump('labelled', t);
      if (t !== 0) this.fgLabelled++;
      const v = s[i]!;
      if (v === IGNORE_INDEX) continue;
      this.seeded++;
      this.bump('seeded', v);
      if (v !== 0) this.fgSeeded++;
      if (v === t) {
        this.correct++;
        this.bump('correct', v);
        if (v !== 0) this.fgCorrect++;
      }
    }
    this.images++;
  }

  /** The counts, as plain data (what a scale-out shard returns). */
  counts(): SeedScoreCounts {
    const { seeded, correct, labelled, fgSeeded, fgCorrect, fgLabelled, images } = this;
    const b = this.byLabel;
    return {
      seeded,
      correct,
      labelled,
      fgSeeded,
      fgCorrect,
      fgLabelled,
      images,
      perClass: { seeded: [...b.seeded], correct: [...b.correct], labelled: [...b.labelled] },
    };
  }

  /** Adds another score's counts (images scored elsewhere: a shard, an earlier run). */
  merge(c: SeedScoreCounts): this {
    for (const k of SEED_SCORE_KEYS) this[k] += c[k];
    if (c.perClass)
      for (const which of ['seeded', 'correct', 'labelled'] as const)
        for (const [label, n] of c.perClass[which].entries()) this.bump(which, label, n);
    return this;
  }

  /**
   * precision = correct seeds / seeded pixels; recall = correct seeds / labelled pixels; coverage = seeded /
   * labelled; the same for foreground seeds against foreground ground truth, and for each label that is seeded or
   * in the ground truth.
   */
  summary(): {
    images: number;
    precision: number;
    recall: number;
    coverage: number;
    fgPrecision: number;
    fgRecall: number;
    perClass: ClassSeedScore[];
  } {
    const d = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
    const b = this.byLabel;
    const perClass: ClassSeedScore[] = [];
    for (let label = 0; label < Math.max(b.seeded.length, b.labelled.length); label++) {
      const [seeded, labelled, correct] = [
        b.seeded[label] ?? 0,
        b.labelled[label] ?? 0,
        b.correct[label] ?? 0,
      ];
      if (seeded || labelled)
        perClass.push({
          label,
          precision: d(correct, seeded),
          recall: d(correct, labelled),
          seeded,
          labelled,
        });
    }
    return {
      images: this.images,
      precision: d(this.correct, this.seeded),
      recall: d(this.correct, this.labelled),
      coverage: d(this.seeded, this.labelled),
      fgPrecision: d(this.fgCorrect, this.fgSeeded),
      fgRecall: d(this.fgCorrect, this.fgLabelled),
      perClass,
    };
  }
}
