import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DatasetError } from '../io/errors.js';
import { encodeImage } from '../io/image.js';
import { encodeIndexPng } from '../io/indexPng.js';
import { VOC_CLASSES, vocColorMap } from '../voc/classes.js';
import { CLASSES_FILE } from '../voc/vocDataset.js';
import {
  renderSyntheticSample,
  SYNTHETIC_CLASSES,
  type SyntheticRenderOptions,
  type SyntheticSample,
} from './render.js';
import { renderSceneSample, SCENE_MAX_CLASSES } from './scenes.js';

/** The synthetic generators: `'shapes'` (the demo's data) and `'scenes'` (held out, to check generalisation). */
export type SyntheticGenerator = 'shapes' | 'scenes';

/** Options of {@link generateSyntheticSet}. */
export interface GenerateSyntheticOptions extends SyntheticRenderOptions {
  /**
   * Which generator (default `'shapes'`): `'shapes'` = {@link renderSyntheticSample} (8 textured geometric classes,
   * ids 1..K, the demo's data); `'scenes'` = {@link renderSceneSample} (6 VOC classes with their VOC ids and names,
   * `numClasses` 1..6, default 6; `distractors` does not apply), a second set that nothing is tuned on. With
   * `'scenes'` the class names written are the 21 VOC names, so the set reads as VOC (20 classes + background) of
   * which only the chosen ones occur.
   */
  generator?: SyntheticGenerator;
  /** Output folder (the root of either layout). Must not exist or be empty, unless `overwrite`. */
  root: string;
  /**
   * What the folder looks like (default `'voc'`): `'voc'` for {@link VocDataset}, `'folder'` for
   * `ImageFolderDataset` (a folder of your own images with a labels file); see {@link generateSyntheticSet}.
   */
  layout?: 'voc' | 'folder';
  /** Number of images. */
  count: number;
  /** Seed of the whole set; sample i is `renderSyntheticSample(seed, i, …)`. */
  seed: number;
  /**
   * Split sizes in list order, either fractions summing to 1 or integer counts summing to `count`
   * (default `{ train: 0.8, val: 0.2 }`). Ids are assigned to splits consecutively; `trainval` lists all.
   */
  splits?: Record<string, number>;
  /** Image format (default `'jpg'`, quality 95, 4:4:4). */
  imageFormat?: 'jpg' | 'png';
  /** Replace an existing non-empty root. */
  overwrite?: boolean;
  /** Images encoded concurrently (default 8; sharp encodes on libuv's thread pool). */
  concurrency?: number;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temporary folders of `root` whose generating process is gone (killed mid-generation). */
async function removeDeadTemps(root: string): Promise<void> {
  const prefix = `.${basename(root)}.tmp-`;
  for (const name of readdirSync(dirname(root))) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid))
      await rm(join(dirname(root), name), { recursive: true, force: true });
  }
}

/** What {@link generateSyntheticSet} wrote. */
export interface SyntheticSetSummary {
  root: string;
  count: number;
  splits: Record<string, string[]>;
  classNames: string[];
  /** Images per class (an image counts once per class it contains), indexed by class id. */
  classCounts: number[];
  /** The generator that drew the set. */
  generator: SyntheticGenerator;
  ms: number;
}

function splitSizes(splits: Record<string, number>, count: number, root: string): [string, number][] {
  const entries = Object.entries(splits);
  if (entries.length === 0) throw new DatasetError(root, 'splits must name at least one split');
  for (const [name, v] of entries) {
    if (!/^[A-Za-z0-9_-]+$/.test(name))
      throw new DatasetError(root, `split name "${name}" must be [A-Za-z0-9_-]+`);
    if (!(v >= 0) || !Number.isFinite(v)) throw new DatasetError(root, `split "${name}" has size ${v}`);
  }
  const sum = entries.reduce((s, [, v]) => s + v, 0);
  if (entries.every(([, v]) => Number.isInteger(v)) && sum === count) return entries;
  if (Math.abs(sum - 1) > 1e-9) {
    throw new DatasetError(
      root,
      `split sizes must be fractions summing to 1 or counts summing to ${count}, got sum ${sum}`,
    );
  }
  // Fractions: floor each, give the remainder to the first split.
  const sizes = entries.map(([n, f]) => [n, Math.floor(f * count)] as [string, number]);
  sizes[0]![1] += count - sizes.reduce((s, [, v]) => s + v, 0);
  return sizes;
}

/**
 * Generates a synthetic WSSS set in one of two layouts: with `generator: 'shapes'` (default) the demo's data, with
 * `generator: 'scenes'` the held-out second set of {@link renderSceneSample} (VOC class ids and names; its
 * `classes.json` records `generator: 'scenes'`).
 *
 * `layout: 'voc'` (default), which {@link VocDataset} reads: `JPEGImages/<id>.jpg`, `SegmentationClass/<id>.png`
 * (palette PNG, VOC colour map), `ImageSets/Segmentation/<split>.txt` and `classes.json` (class names, image
 * extension, generator settings).
 *
 * `layout: 'folder'`, the layout of a folder of your own images, which `ImageFolderDataset` reads with
 * `{ root: '<root>/images', labels: '<root>/labels.csv', masks: '<root>/masks', classNames }`:
 * `images/<id>.jpg`; `labels.csv` (header `image,labels`, then the image path relative to `images/` and its
 * class names separated by `;`, an empty field for a background-only image); `masks/<id>.png` (the same palette
 * PNGs, for scoring); `classes.txt` (one class name per line, background first); `splits/<split>.txt` (image
 * paths relative to `images/`, one per line); and the same `classes.json`. The images, masks and labels are
 * those of the VOC layout for the same options.
 *
 * Everything is written into a temporary sibling folder (`.<name>.tmp-<pid>-…`) that is renamed into place at the
 * end, so a failed run leaves nothing behind, and the temporary folder of a process that was killed is removed by
 * the next generation into the same folder.
 */
export async function generateSyntheticSet(options: GenerateSyntheticOptions): Promise<SyntheticSetSummary> {
  const t0 = performance.now();
  const root = resolve(options.root);
  const { count, seed } = options;
  const size = options.size ?? 128;
  const generator = options.generator ?? 'shapes';
  if (generator !== 'shapes' && generator !== 'scenes')
    throw new DatasetError(root, `generator must be 'shapes' or 'scenes', got ${String(generator)}`);
  const scenes = generator === 'scenes';
  const numClasses = options.numClasses ?? (scenes ? SCENE_MAX_CLASSES : 5);
  if (scenes && options.distractors)
    throw new DatasetError(root, "distractors apply to the 'shapes' generator only");
  const format = options.imageFormat ?? 'jpg';
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const layout = options.layout ?? 'voc';
  if (layout !== 'voc' && layout !== 'folder')
    throw new DatasetError(root, `layout must be 'voc' or 'folder', got ${String(layout)}`);
  const dirs =
    layout === 'voc'
      ? { images: 'JPEGImages', masks: 'SegmentationClass', splits: join('ImageSets', 'Segmentation') }
      : { images: 'images', masks: 'masks', splits: 'splits' };
  if (!Number.isInteger(count) || count < 1)
    throw new DatasetError(root, `count must be a positive integer, got ${count}`);
  if (!Number.isInteger(seed)) throw new DatasetError(root, `seed must be an integer, got ${seed}`);
  if (format !== 'jpg' && format !== 'png')
    throw new DatasetError(root, `imageFormat must be 'jpg' or 'png', got ${format}`);
  const sizes = splitSizes(options.splits ?? { train: 0.8, val: 0.2 }, count, root);
  if (existsSync(root) && readdirSync(root).length > 0 && !options.overwrite) {
    throw new DatasetError(
      root,
      'output folder exists and is not empty (pass overwrite: true to replace it)',
    );
  }
  // Render one sample to validate the options before touching the disk.
  const renderOpts: SyntheticRenderOptions = { size, numClasses };
  if (options.objects) renderOpts.objects = options.objects;
  if (options.distractors) renderOpts.distractors = options.distractors;
  const render = (i: number): SyntheticSample =>
    scenes ? renderSceneSample(seed, i, renderOpts) : renderSyntheticSample(seed, i, renderOpts);
  render(0);

  await mkdir(dirname(root), { recursive: true });
  await removeDeadTemps(root);
  const tmp = await mkdtemp(join(dirname(root), `.${basename(root)}.tmp-${process.pid}-`));
  try {
    await mkdir(join(tmp, dirs.images));
    await mkdir(join(tmp, dirs.masks));
    await mkdir(join(tmp, dirs.splits), { recursive: true });
    const palette = vocColorMap();
    const digits = Math.max(6, String(count - 1).length);
    const ids = Array.from({ length: count }, (_, i) => `synth_${String(i).padStart(digits, '0')}`);
    const classNames = scenes ? [...VOC_CLASSES] : SYNTHETIC_CLASSES.slice(0, numClasses + 1);
    const classCounts = new Array<number>(classNames.length).fill(0);
    const labels: number[][] = new Array(count);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const s = render(i);
        for (const c of s.labels) classCounts[c]!++;
        labels[i] = s.labels;
        const id = ids[i]!;
        const img = await encodeImage(s.image, format === 'jpg' ? 'jpeg' : 'png', 95);
        await writeFile(join(tmp, dirs.images, `${id}.${format}`), img);
        await writeFile(join(tmp, dirs.masks, `${id}.png`), encodeIndexPng(s.mask, palette));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    const splits: Record<string, string[]> = {};
    let at = 0;
    for (const [name, n] of sizes) {
      splits[name] = ids.slice(at, at + n);
      at += n;
    }
    if (!('trainval' in splits)) splits.trainval = ids.slice();
    // the VOC layout lists ids, the folder layout image paths relative to images/
    const entry = layout === 'voc' ? (id: string) => id : (id: string) => `${id}.${format}`;
    for (const [name, list] of Object.entries(splits)) {
      await writeFile(join(tmp, dirs.splits, `${name}.txt`), list.map((id) => `${entry(id)}\n`).join(''));
    }
    if (layout === 'folder') {
      const rows = ids.map((id, i) => `${entry(id)},${labels[i]!.map((c) => classNames[c]).join(';')}\n`);
      await writeFile(join(tmp, 'labels.csv'), `image,labels\n${rows.join('')}`);
      await writeFile(join(tmp, 'classes.txt'), classNames.map((n) => `${n}\n`).join(''));
    }
    const meta = {
      classes: classNames,
      imageExt: `.${format}`,
      generator: {
        name: '@wsss/datasets synthetic',
        version: 1,
        ...(scenes ? { generator } : {}),
        seed,
        count,
        size,
        numClasses,
        ...renderOpts,
      },
    };
    await writeFile(join(tmp, CLASSES_FILE), `${JSON.stringify(meta, null, 2)}\n`);
    if (existsSync(root) && readdirSync(root).length > 0 && !options.overwrite) {
      // another process generated the same folder meanwhile: keep its copy (the same seed gives the same set)
      await rm(tmp, { recursive: true, force: true });
    } else {
      if (existsSync(root)) await rm(root, { recursive: true, force: true });
      await rename(tmp, root);
    }
    return { root, count, splits, classNames, classCounts, generator, ms: performance.now() - t0 };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
