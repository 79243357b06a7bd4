/**
 * Localization of a whole split (spec §5.3): for every image its aggregated FickleNet maps and seeds, written as
 * `<dir>/seeds/<id>.png` (palette PNG: 0 background, c class c, 255 unlabelled — what DSRG trains from) and
 * `<dir>/maps/<id>.png` (a heat map: each pixel in the colour of its strongest present class, as bright as that
 * class's map value), with seed precision/recall against ground truth where the split has it, and
 * `<dir>/summary.json` written last (the marker that the split is complete).
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@wsss/core/node';
import {
  IGNORE_INDEX,
  type IndexMask,
  type RandomAccessDataset,
  type RgbImage,
  readImage,
  readIndexPng,
  vocColorMap,
  writeImage,
  writeIndexPng,
} from '@wsss/datasets';
import { InputError } from '../commands/errors.js';
import type { Output } from '../run/output.js';
import { type LocalizeImageOptions, localizeImage, SeedScore, type SeedScoreCounts } from './localizeSet.js';
import type { FickleClassifierNet } from './model.js';

export const SEEDS_DIR = 'seeds';
export const MAPS_DIR = 'maps';
export const SUMMARY_FILE = 'summary.json';

export interface LocalizeSplitSummary {
  split: string;
  images: number;
  /** Images seeded by their own mask (semi-supervised), included in the scores. */
  trueSeeds?: number;
  /** Seed scores against ground truth (null without masks). */
  scores: ReturnType<SeedScore['summary']> | null;
  /** Fraction of pixels seeded (background or foreground). */
  coverage: number;
  msPerImage: number;
  settings: Omit<LocalizeImageOptions, 'seed' | 'labels' | 'saliencyMap'> & {
    seed: number;
    saliencyMaps?: string | null;
  };
}

/** A class-index map as a picture: each pixel in its class's colour, unlabelled (255) black. */
function maskPicture(m: IndexMask): RgbImage {
  const pal = vocColorMap();
  const out = new Uint8Array(m.width * m.height * 3);
  for (let i = 0; i < m.data.length; i++) {
    const c = m.data[i]!;
    if (c === IGNORE_INDEX) continue;
    for (let k = 0; k < 3; k++) out[i * 3 + k] = pal[c * 3 + k]!;
  }
  return { width: m.width, height: m.height, data: out };
}

/** The heat-map picture of one localization (see the module comment). */
export function heatMap(
  maps: Float32Array,
  labels: readonly number[],
  K: number,
  w: number,
  h: number,
): RgbImage {
  const pal = vocColorMap();
  const out = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    let best = 0;
    let bv = 0;
    for (const c of labels) {
      const v = maps[i * K + c - 1]!;
      if (v > bv) {
        bv = v;
        best = c;
      }
    }
    for (let k = 0; k < 3; k++) out[i * 3 + k] = Math.round(pal[best * 3 + k]! * bv);
  }
  return { width: w, height: h, data: out };
}

export interface LocalizeSplitOptions extends Omit<LocalizeImageOptions, 'seed' | 'labels' | 'saliencyMap'> {
  /** A folder of saliency maps, `<id>.png` per image (grayscale 0–255 at the image's size); else MB+. */
  saliencyMaps?: string | null;
  net: FickleClassifierNet;
  ds: RandomAccessDataset;
  split: string;
  /** Folder receiving seeds/, maps/ (if `maps`) and summary.json. */
  dir: string;
  /** Seed of the random selections; image i uses seed + i. */
  seed: number;
  /** Write the heat maps too (default true). */
  maps?: boolean;
  /**
   * Keep the seeds (and maps) already in `dir` from an interrupted run: those images are read back and scored,
   * not localized again (the result is the same: each image's selections are seeded by its index).
   */
  resume?: boolean;
  /**
   * Images (by index) whose mask is their seed map (semi-supervised: pixel-labelled images are seeded completely
   * by their ground truth, 255 stays unlabelled); their heat map shows the mask's classes at full brightness.
   */
  trueSeeds?: (index: number) => boolean;
  out: Output;
  /** Called with each image's result (e.g. to keep a few for a report). */
  onImage?: (index: number, r: { seeds: IndexMask; heat: RgbImage | null; gt?: IndexMask }) => void;
}

/** What images [start, end) of a split add to a localization's totals (a scale-out shard returns one). */
export interface LocalizePartial {
  images: number;
  /** Images seeded by their own mask, and images kept from an interrupted run. */
  trueSeeds: number;
  kept: number;
  /** Seeded pixels (not 255) and all pixels. */
  seeded: number;
  pixels: number;
  score: SeedScoreCounts;
  /** Milliseconds spent localizing and writing the images localized here. */
  ms: number;
}

/**
 * Localizes images [start, end) of `o.ds` into `o.dir` (seeds, maps): the single-process command runs one range,
 * a scale-out worker one shard. Every file is written atomically; image i's selections are seeded by `o.seed + i`,
 * so a range gives the same files wherever it runs.
 */
export async function localizeRange(
  o: Omit<LocalizeSplitOptions, 'split' | 'out'>,
  start: number,
  end: number,
  onDone?: () => void,
): Promise<LocalizePartial> {
  const seedsDir = join(o.dir, SEEDS_DIR);
  const mapsDir = join(o.dir, MAPS_DIR);
  await fsp.mkdir(seedsDir, { recursive: true });
  if (o.maps !== false) await fsp.mkdir(mapsDir, { recursive: true });
  const K = o.net.selection.options.numClasses;
  const palette = vocColorMap();
  const score = new SeedScore();
  const p = { images: 0, trueSeeds: 0, kept: 0, seeded: 0, pixels: 0, ms: 0 };
  const count = (i: number, seeds: IndexMask, heat: RgbImage | null, gt: IndexMask | undefined) => {
    if (gt) score.add(seeds, gt);
    for (const v of seeds.data) if (v !== IGNORE_INDEX) p.seeded++;
    p.pixels += seeds.data.length;
    p.images++;
    o.onImage?.(i, { seeds, heat, ...(gt ? { gt } : {}) });
    onDone?.();
  };
  for (let i = start; i < end; i++) {
    const rec = await o.ds.read(i);
    const seedFile = join(seedsDir, `${rec.id}.png`);
    if (
      o.resume &&
      existsSync(seedFile) &&
      (o.maps === false || existsSync(join(mapsDir, `${rec.id}.png`)))
    ) {
      p.kept++;
      count(i, await readIndexPng(seedFile), null, rec.mask);
      continue;
    }
    if (o.trueSeeds?.(i) && rec.mask) {
      const seeds = { width: rec.mask.width, height: rec.mask.height, data: Uint8Array.from(rec.mask.data) };
      if (o.maps !== false) await writeImage(join(mapsDir, `${rec.id}.png`), maskPicture(seeds));
      await writeIndexPng(seedFile, seeds, palette);
      p.trueSeeds++;
      count(i, seeds, null, rec.mask);
      continue;
    }
    const t1 = performance.now();
    const r = await localizeImage(o.net, rec, {
      size: o.size,
      runs: o.runs,
      aggregate: o.aggregate,
      ...(o.scales ? { scales: o.scales } : {}),
      ...(o.flip ? { flip: true } : {}),
      thFg: o.thFg,
      thBg: o.thBg,
      ...(o.fgQuantile ? { fgQuantile: o.fgQuantile } : {}),
      seed: o.seed + i,
      ...(o.background ? { background: o.background } : {}),
      ...(o.saliencyThreshold !== undefined ? { saliencyThreshold: o.saliencyThreshold } : {}),
      ...(o.fgMinSaliency ? { fgMinSaliency: o.fgMinSaliency } : {}),
      ...(o.background === 'saliency' && o.saliencyMaps
        ? { saliencyMap: await readSaliencyMap(o.saliencyMaps, rec.id, rec.image) }
        : {}),
    });
    // the map first: the seeds file marks the image done for a resumed run
    const heat = o.maps !== false ? heatMap(r.maps, r.labels, K, rec.image.width, rec.image.height) : null;
    if (heat) await writeImage(join(mapsDir, `${rec.id}.png`), heat);
    await writeIndexPng(seedFile, r.seeds, palette);
    p.ms += performance.now() - t1;
    count(i, r.seeds, heat, rec.mask);
  }
  return { ...p, score: score.counts() };
}

/** Whether localization averages more than the single `size` pass (test-time augmentation). */
export function isTta(o: { scales?: readonly number[] | undefined; flip?: boolean | undefined }): boolean {
  return !!o.flip || (!!o.scales && (o.scales.length > 1 || (o.scales.length === 1 && o.scales[0] !== 1)));
}

/** The summary of a split's localization from its ranges' partials; `wallMs` times the whole when nothing was kept. */
export function localizeSummary(
  parts: readonly LocalizePartial[],
  o: Pick<
    LocalizeSplitOptions,
    | 'split'
    | 'size'
    | 'runs'
    | 'aggregate'
    | 'scales'
    | 'flip'
    | 'thFg'
    | 'thBg'
    | 'fgQuantile'
    | 'seed'
    | 'background'
    | 'saliencyThreshold'
    | 'fgMinSaliency'
    | 'saliencyMaps'
  >,
  wallMs?: number,
): LocalizeSplitSummary {
  const score = new SeedScore();
  const t = { images: 0, trueSeeds: 0, kept: 0, seeded: 0, pixels: 0, ms: 0 };
  for (const part of parts) {
    score.merge(part.score);
    for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += part[k];
  }
  const localized = Math.max(1, t.images - t.kept - t.trueSeeds);
  return {
    split: o.split,
    images: t.images,
    trueSeeds: t.trueSeeds,
    scores: score.images ? score.summary() : null,
    coverage: t.pixels ? t.seeded / t.pixels : 0,
    msPerImage: (wallMs !== undefined && !t.kept && !t.trueSeeds ? wallMs : t.ms) / localized,
    settings: {
      size: o.size,
      runs: o.runs,
      aggregate: o.aggregate,
      // test-time augmentation only when used: a summary without it is single-scale
      ...(isTta(o) ? { scales: [...(o.scales ?? [1])], flip: !!o.flip } : {}),
      thFg: o.thFg,
      thBg: o.thBg,
      ...(o.fgQuantile ? { fgQuantile: o.fgQuantile } : {}),
      seed: o.seed,
      background: o.background ?? 'low-activation',
      ...(o.background === 'saliency'
        ? {
            saliencyThreshold: o.saliencyThreshold ?? 0.1,
            saliencyMaps: o.saliencyMaps ?? null,
            ...(o.fgMinSaliency ? { fgMinSaliency: o.fgMinSaliency } : {}),
          }
        : {}),
    },
  };
}

/**
 * A user's saliency map of one image: `<dir>/<id>.png`, grayscale (the first channel of anything else) 0–255 → [0, 1],
 * at the image's size.
 */
export async function readSaliencyMap(dir: string, id: string, image: RgbImage): Promise<Float32Array> {
  const file = join(dir, `${id}.png`);
  if (!existsSync(file))
    throw new InputError(
      `${file}: no saliency map for image ${id} (ficklenet.saliencyMaps names a folder of <id>.png)`,
    );
  const m = await readImage(file);
  if (m.width !== image.width || m.height !== image.height)
    throw new InputError(
      `${file}: the saliency map is ${m.width}×${m.height}, the image ${image.width}×${image.height}`,
    );
  const out = new Float32Array(m.width * m.height);
  for (let i = 0; i < out.length; i++) out[i] = m.data[i * 3]! / 255;
  return out;
}

/** Writes `<dir>/summary.json`, the marker that the split is complete. */
export async function writeLocalizeSummary(dir: string, summary: LocalizeSplitSummary): Promise<void> {
  await writeFileAtomic(join(dir, SUMMARY_FILE), `${JSON.stringify(summary, null, 2)}\n`);
}

/** Localizes every image of `ds`, writing seeds (and maps); returns the summary (also written to summary.json). */
export async function localizeSplit(o: LocalizeSplitOptions): Promise<LocalizeSplitSummary> {
  const t0 = performance.now();
  const bar = o.out.progress(`localizing ${o.split}`, o.ds.length, 'img');
  const part = await localizeRange(o, 0, o.ds.length, () => bar.tick(1));
  if (part.kept) o.out.info(`  kept the seeds of ${part.kept} image(s) localized before the interruption`);
  const summary = localizeSummary([part], o, performance.now() - t0);
  bar.done(
    summary.scores
      ? `seed precision ${(summary.scores.precision * 100).toFixed(1)}%, recall ${(summary.scores.recall * 100).toFixed(1)}%`
      : `${(summary.coverage * 100).toFixed(1)}% of pixels seeded`,
  );
  await writeLocalizeSummary(o.dir, summary);
  return summary;
}

/** A data set whose records carry the seed PNGs of `seedsDir` as their masks (for DSRG training). */
export function withSeedMasks(ds: RandomAccessDataset, seedsDir: string): RandomAccessDataset {
  return {
    ids: ds.ids,
    length: ds.length,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    async read(i) {
      const rec = await ds.read(i);
      const file = join(seedsDir, `${rec.id}.png`);
      const seeds = await readIndexPng(file);
      if (seeds.width !== rec.image.width || seeds.height !== rec.image.height)
        throw new Error(
          `${file}: seeds are ${seeds.width}×${seeds.height}, the image ${rec.image.width}×${rec.image.height}`,
        );
      return {
        id: rec.id,
        image: rec.image,
        labels: rec.labels,
        mask: { width: seeds.width, height: seeds.height, data: seeds.data },
      };
    },
  };
}
