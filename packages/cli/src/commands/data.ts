/**
 * The data of a run (DESIGN §6): opening a split of any reader — your own folder of images with a labels file
 * (`data.dataset: folder`), VOC, COCO or the synthetic set —, the validation split of a folder (a seeded,
 * stratified fraction or a file), which training images train on their masks (`data.pixelLabels`,
 * semi-supervised), and the pre-flight scan that checks every image, mask and label once before training.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { writeFileAtomic } from '@wsss/core/node';
import {
  CocoDataset,
  type DataRecord,
  DatasetError,
  type DatasetProblem,
  formatProblems,
  generateSyntheticSet,
  ImageFolderDataset,
  parseLabelsFile,
  type RandomAccessDataset,
  Rng,
  readClassNames,
  scanDataset,
  stratifiedSplit,
  VocDataset,
} from '@wsss/datasets';
import { ConfigError, parsePixelLabels, parseValSpec, type WsssConfig } from '../config/schema.js';
import { bestRule } from '../run/evaluate.js';
import type { Output } from '../run/output.js';
import { InputError } from './errors.js';

/** Where the synthetic set of a config lives. */
export function syntheticRoot(config: WsssConfig, runDir: string | null): string {
  if (config.data.root) return resolve(config.data.root);
  const s = config.data.synthetic;
  return resolve(
    runDir ?? '.',
    'data',
    `synthetic-${s.train}-${s.val}-${s.size}px-k${s.numClasses}-s${s.seed}`,
  );
}

/** Generates the synthetic set described by the config unless it exists already. */
export async function ensureSyntheticSet(config: WsssConfig, root: string, out: Output): Promise<void> {
  if (existsSync(join(root, 'classes.json'))) return;
  const s = config.data.synthetic;
  const t0 = performance.now();
  await generateSyntheticSet({
    root,
    count: s.train + s.val,
    seed: s.seed,
    size: s.size,
    numClasses: s.numClasses,
    splits: { train: s.train, val: s.val },
    imageFormat: 'png',
  });
  out.info(
    `generated the synthetic set: ${s.train} train + ${s.val} val images, ${s.size}×${s.size}, ${s.numClasses} classes → ${root} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
}

/** The splits of a folder data set. */
export const FOLDER_SPLITS = ['train', 'val', 'all'] as const;

/** Options of {@link openSplit}. */
export interface OpenSplitOptions {
  /** Class names to read the labels with (a checkpoint's); default: `data.classes`, else collected from the labels. */
  classNames?: readonly string[];
  /** Files to leave out (the pre-flight scan's bad ones), as the paths it reported. */
  skip?: ReadonlySet<string>;
}

/** A split as this module opens it: a data set that may know, without reading, which records have a mask file. */
export interface SplitDataset extends RandomAccessDataset {
  /** The mask file of record i, or null (folder data sets; absent: unknown without reading). */
  maskFileOf?(i: number): string | null;
}

/** A data set of the records of `ds` at `indices`, in that order. */
export function subsetOf(ds: SplitDataset, indices: readonly number[]): SplitDataset {
  const maskFileOf = ds.maskFileOf?.bind(ds);
  return {
    ...(maskFileOf ? { maskFileOf: (i: number) => maskFileOf(indices[i]!) } : {}),
    ids: indices.map((i) => ds.ids[i]!),
    length: indices.length,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    read: (i) => {
      const j = indices[i];
      if (j === undefined) throw new RangeError(`read: index ${i} outside 0..${indices.length - 1}`);
      return ds.read(j);
    },
  };
}

/** What {@link openFolderData} found, kept per configuration for the process. */
export interface FolderData {
  all: ImageFolderDataset;
  /** Indices into `all`. */
  train: number[];
  val: number[];
  /** Label-level problems (unknown class, duplicate row, row naming no image): their rows are left out. */
  problems: DatasetProblem[];
  /** How the validation split was made, in words. */
  valFrom: string;
}

const folderCache = new Map<string, Promise<FolderData>>();

/** The image file of record `i` of a folder data set (as problems name it). */
function fileOf(ds: ImageFolderDataset, i: number): string {
  return join(ds.root, ds.files[i]!);
}

/**
 * Opens `data.root` with `data.labels` (+ `data.masks`), collects the label-level problems, and splits the
 * labelled images into train and validation by `data.val`.
 */
export function openFolderData(config: WsssConfig, classNames?: readonly string[]): Promise<FolderData> {
  const d = config.data;
  const key = JSON.stringify([
    d.root,
    d.labels,
    d.classes,
    d.masks,
    d.val,
    config.train.seed,
    classNames ?? null,
  ]);
  let p = folderCache.get(key);
  if (!p) {
    p = loadFolder(config, classNames);
    folderCache.set(key, p);
    p.catch(() => folderCache.delete(key));
  }
  return p;
}

async function loadFolder(config: WsssConfig, given?: readonly string[]): Promise<FolderData> {
  const d = config.data;
  if (!d.root)
    throw new ConfigError("config: data.root is missing for data.dataset = 'folder'; pass --data <folder>");
  const root = resolve(d.root);
  if (!existsSync(root)) throw new InputError(`${root}: the image folder does not exist (data.root)`);
  const problems: DatasetProblem[] = [];
  const classNames = given ?? (d.classes ? await readClassNames(d.classes) : undefined);
  const all = await ImageFolderDataset.open({
    root,
    // the flags' paths are the user's, relative to the working directory
    ...(d.labels ? { labels: resolve(d.labels) } : {}),
    ...(classNames ? { classNames } : {}),
    ...(d.masks ? { masks: resolve(d.masks) } : {}),
    onProblem: (p) => problems.push(p),
  });
  const spec = parseValSpec(d.val);
  let train: number[];
  let val: number[];
  let valFrom: string;
  if ('fraction' in spec) {
    if (all.length < 2)
      throw new InputError(
        `${d.labels ?? root}: ${all.length} labelled image(s); training needs at least 2 (one to train, one to validate)`,
      );
    const labels = Array.from({ length: all.length }, (_, i) => all.labelsOf(i));
    ({ train, val } = stratifiedSplit(labels, spec.fraction, config.train.seed));
    valFrom = `a seeded ${Math.round(spec.fraction * 100)} % of the labelled images, every class with 2+ images on both sides (data.val ${d.val}, seed ${config.train.seed})`;
  } else {
    const listed = await readImageList(spec.file);
    const byKey = new Map<string, number>();
    all.files.forEach((f, i) => {
      byKey.set(f, i);
      byKey.set(all.ids[i]!, i);
    });
    const inVal = new Set<number>();
    for (const { key, line } of listed) {
      const i = byKey.get(key.replace(/^\.\//, ''));
      if (i === undefined)
        problems.push({
          file: spec.file,
          reason: `line ${line}: "${key}" is not a labelled image of ${root} (validation images need a row in the labels file)`,
        });
      else inVal.add(i);
    }
    val = [...inVal].sort((a, b) => a - b);
    train = Array.from({ length: all.length }, (_, i) => i).filter((i) => !inVal.has(i));
    valFrom = `the ${val.length} images listed in ${spec.file}`;
  }
  return { all, train, val, problems, valFrom };
}

/** Image paths (or ids) of a list file: one per line (`.txt`), or the keys of a labels file (CSV, JSON). */
async function readImageList(file: string): Promise<{ key: string; line: number }[]> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read the validation list (${(e as NodeJS.ErrnoException).code})`);
  }
  if (extname(file).toLowerCase() === '.txt')
    return text
      .split(/\r?\n/)
      .map((l, i) => ({ key: l.trim(), line: i + 1 }))
      .filter((r) => r.key && !r.key.startsWith('#'));
  return parseLabelsFile(text, file).map((r) => ({ key: r.key, line: r.line }));
}

/** Drops records whose file is in `skip`. */
function withoutSkipped(
  ds: ImageFolderDataset,
  indices: number[],
  skip: ReadonlySet<string> | undefined,
): number[] {
  if (!skip?.size) return indices;
  return indices.filter((i) => !skip.has(fileOf(ds, i)) && !skip.has(ds.maskFileOf(i) ?? ''));
}

/**
 * Opens a split of the configured data set (generating the synthetic set first if needed). A folder has the
 * splits `train`, `val` and `all`.
 */
export async function openSplit(
  config: WsssConfig,
  split: string,
  runDir: string | null,
  out: Output,
  opts: OpenSplitOptions = {},
): Promise<SplitDataset> {
  const d = config.data;
  let ds: SplitDataset;
  if (d.dataset === 'folder') {
    if (!(FOLDER_SPLITS as readonly string[]).includes(split))
      throw new ConfigError(
        `split ${JSON.stringify(split)} is not allowed for data.dataset = 'folder'; expected one of ${FOLDER_SPLITS.join(', ')}`,
      );
    const f = await openFolderData(config, opts.classNames);
    const indices =
      split === 'train'
        ? f.train
        : split === 'val'
          ? f.val
          : Array.from({ length: f.all.length }, (_, i) => i);
    ds = subsetOf(f.all, withoutSkipped(f.all, indices, opts.skip));
  } else if (d.dataset === 'synthetic') {
    const root = syntheticRoot(config, runDir);
    await ensureSyntheticSet(config, root, out);
    ds = await VocDataset.open({ root, split });
  } else if (d.dataset === 'voc') {
    ds = await VocDataset.open({
      root: d.root!,
      split,
      labelsFrom: d.labelsFrom,
      ...(d.labelsFrom === 'xml' ? { withMask: 'ifExists' as const } : {}),
    });
  } else {
    const ann = join(d.root!, 'annotations', `instances_${split}.json`);
    if (!existsSync(ann))
      throw new InputError(
        `COCO: no annotation file ${ann} (expected <root>/annotations/instances_${split}.json)`,
      );
    ds = await CocoDataset.open({ annotationFile: ann, imageDir: join(d.root!, split) });
  }
  if (opts.classNames && d.dataset !== 'folder' && ds.numClasses !== opts.classNames.length - 1)
    throw new InputError(
      `split ${split} of ${d.dataset} has ${ds.numClasses} classes, the checkpoint ${opts.classNames.length - 1}`,
    );
  if (d.dataset !== 'folder' && opts.skip?.size) {
    // VOC, COCO and the synthetic set name an image and its mask by the record id
    const ids = new Set([...opts.skip].map((f) => basename(f).replace(/\.[^.]+$/, '')));
    const keep: number[] = [];
    for (let i = 0; i < ds.length; i++) if (!ids.has(ds.ids[i]!)) keep.push(i);
    if (keep.length < ds.length) ds = subsetOf(ds, keep);
  }
  return ds;
}

/** Which training images train on their masks: a predicate on training-set indices, and how many. */
export interface PixelLabelPlan {
  /** Indices (into the training split) whose masks train. */
  indices: Set<number>;
  /** In words, for the log and the report. */
  describe: string;
}

/** Resolves `data.pixelLabels` for a training split; `hasMask(i)` says whether record i has a mask file. */
export async function pixelLabelPlan(
  config: WsssConfig,
  train: RandomAccessDataset,
  hasMask: (i: number) => boolean,
): Promise<PixelLabelPlan> {
  const d = config.data;
  const spec = parsePixelLabels(d.pixelLabels);
  const kind = spec.kind === 'auto' ? (d.dataset === 'folder' ? 'all' : 'none') : spec.kind;
  const withMask: number[] = [];
  if (kind !== 'none') for (let i = 0; i < train.length; i++) if (hasMask(i)) withMask.push(i);
  let indices: number[] = [];
  let how = '';
  if (kind === 'none') how = 'none (weakly supervised: image labels only)';
  else if (kind === 'all') {
    indices = withMask;
    how = 'every training image that has a mask';
  } else if (spec.kind === 'fraction') {
    const rng = new Rng(config.train.seed ^ 0x9e3779b9);
    const pool = withMask.slice();
    for (let i = pool.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    indices = pool.slice(0, Math.round(spec.fraction * train.length)).sort((a, b) => a - b);
    how = `a seeded ${(spec.fraction * 100).toFixed(0)} % of the training images (of those with masks)`;
  } else if (spec.kind === 'named') {
    const names = await namedImages(config, spec.name);
    const pick = new Set(names);
    indices = withMask.filter((i) => pick.has(train.ids[i]!));
    how = `the images of ${spec.name} (${names.length} listed)`;
  }
  return {
    indices: new Set(indices),
    describe: `${indices.length} of ${train.length} training images train on their masks (data.pixelLabels ${d.pixelLabels}: ${how})`,
  };
}

/** The ids a `data.pixelLabels` name stands for: a VOC split list, or a file of image paths (folder). */
async function namedImages(config: WsssConfig, name: string): Promise<string[]> {
  const d = config.data;
  if (d.dataset === 'voc' || d.dataset === 'synthetic') {
    const roots = [d.root ?? '', join(d.root ?? '', 'VOC2012')];
    for (const r of roots) {
      const list = join(r, 'ImageSets', 'Segmentation', `${name}.txt`);
      if (existsSync(list))
        return (await fsp.readFile(list, 'utf8'))
          .split(/\s+/)
          .filter(Boolean)
          .map((x) => basename(x).replace(/\.[^.]+$/, ''));
    }
    throw new ConfigError(
      `config: data.pixelLabels = ${JSON.stringify(name)}: no split list ImageSets/Segmentation/${name}.txt under ${d.root}`,
    );
  }
  if (!existsSync(name))
    throw new ConfigError(
      `config: data.pixelLabels = ${JSON.stringify(name)} is neither auto, none, all, a fraction nor a file`,
    );
  return (await readImageList(name)).map((r) => r.key.replace(/\.[^.]+$/, ''));
}

/**
 * The training set as training sees it: each record keeps its mask only when its image is pixel-labelled (so a
 * weakly supervised run never trains on masks that exist for scoring, and a semi-supervised one only on its share).
 */
export function trainingView(
  ds: RandomAccessDataset,
  pixelLabelled: ReadonlySet<number>,
): RandomAccessDataset {
  return {
    ids: ds.ids,
    length: ds.length,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    async read(i: number): Promise<DataRecord> {
      const r = await ds.read(i);
      if (!pixelLabelled.has(i) && r.mask) {
        const { mask: _m, ...rest } = r;
        return rest;
      }
      return r;
    },
  };
}

/** What `<run>/preflight.json` holds: the scan's findings, so that `--resume` does not scan again. */
export interface PreflightRecord {
  version: 1;
  /** What was scanned: the data settings it depends on. */
  data: Record<string, unknown>;
  images: number;
  seconds: number;
  problems: DatasetProblem[];
  /** Files left out of training (with data.skipBad). */
  skipped: string[];
}

export const PREFLIGHT_FILE = 'preflight.json';

function preflightKey(config: WsssConfig): Record<string, unknown> {
  const d = config.data;
  return {
    dataset: d.dataset,
    root: d.root,
    labels: d.labels,
    classes: d.classes,
    masks: d.masks,
    val: d.val,
    trainSplit: d.trainSplit,
    valSplit: d.valSplit,
    labelsFrom: d.labelsFrom,
  };
}

/**
 * The pre-flight scan of a run's training and validation data: every image decoded, every mask read and
 * checked (size, values), every label row checked (folder: unknown class, duplicate, missing image). Cached in
 * `<run>/preflight.json`. Without `data.skipBad` any problem stops the run (exit 3) with a list; with it the bad
 * files are left out, listed in the run folder and the report.
 * @returns the files to skip.
 */
export async function preflight(
  config: WsssConfig,
  runDir: string,
  splits: RandomAccessDataset[],
  out: Output,
): Promise<PreflightRecord> {
  const file = join(runDir, PREFLIGHT_FILE);
  const key = preflightKey(config);
  if (existsSync(file)) {
    const cached = JSON.parse(await fsp.readFile(file, 'utf8')) as PreflightRecord;
    if (JSON.stringify(cached.data) === JSON.stringify(key)) {
      out.info(
        `pre-flight scan: using ${PREFLIGHT_FILE} (${cached.images} images, ${cached.problems.length} problem(s), ${cached.skipped.length} skipped)`,
      );
      return cached;
    }
  }
  const t0 = performance.now();
  const total = splits.reduce((s, d) => s + d.length, 0);
  const bar = out.progress('pre-flight scan', total, 'img');
  const problems: DatasetProblem[] = [];
  if (config.data.dataset === 'folder') problems.push(...(await openFolderData(config)).problems);
  let done = 0;
  for (const ds of splits) {
    const before = done;
    problems.push(
      ...(await scanDataset(ds, {
        onProgress: (k) => {
          bar.tick(before + k - done);
          done = before + k;
        },
      })),
    );
  }
  bar.done(`${problems.length} problem(s)`);
  const record: PreflightRecord = {
    version: 1,
    data: key,
    images: total,
    seconds: (performance.now() - t0) / 1000,
    problems,
    skipped: [],
  };
  if (problems.length && !config.data.skipBad)
    throw new InputError(
      `the pre-flight scan found ${problems.length} problem(s) in the data; fix them, or leave those files out with --skip-bad:\n${formatProblems(problems)}`,
    );
  record.skipped = [...new Set(problems.map((p) => p.file))];
  if (problems.length)
    out.warn(
      `skipping ${record.skipped.length} file(s) the pre-flight scan found bad (listed in ${file}):\n${formatProblems(problems, 5)}`,
    );
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

/** The label-level description of a folder data set, for the log. */
export async function describeFolder(config: WsssConfig, f: FolderData): Promise<string> {
  const names = f.all.classNames.slice(1);
  return [
    `${f.all.length} labelled images in ${f.all.root} (${config.data.labels}); ${names.length} classes${config.data.classes ? ` from ${config.data.classes}` : ' collected from the labels'}: ${names.join(', ')}`,
    ...(f.all.backgroundOnly || f.all.unlisted
      ? [
          [
            ...(f.all.backgroundOnly ? [`${f.all.backgroundOnly} background-only image(s) (no label)`] : []),
            ...(f.all.unlisted
              ? [`${f.all.unlisted} image(s) in the folder have no row in the labels file and are not used`]
              : []),
          ].join('; '),
        ]
      : []),
    `validation: ${f.val.length} images, ${f.valFrom}; training: ${f.train.length}`,
  ].join('\n');
}

/** Raised when data settings contradict each other (a folder without labels for training, …). */
export function checkFolderConfig(config: WsssConfig, training: boolean): void {
  const d = config.data;
  if (d.dataset !== 'folder') return;
  if (training && d.labels === null)
    throw new ConfigError(
      "config: data.labels is missing for data.dataset = 'folder'; pass --labels <file> (CSV image,labels, JSON or JSON lines)",
    );
  if (d.masks && !d.classes)
    throw new ConfigError(
      "config: data.masks needs data.classes: a mask's values are class indices, so the order of the classes must be given (--classes <file>, one name per line, background first)",
    );
  if (config.train.bestBy === 'miou' && !d.masks)
    throw new ConfigError(
      "config: train.bestBy = 'miou' needs validation masks; pass --masks <folder> or use bestBy 'loss' or 'map'",
    );
}

export { DatasetError };

/** A run's data, ready to train on. */
export interface TrainingData {
  /** The training split with every mask (for scoring, e.g. seeds against ground truth). */
  train: SplitDataset;
  /** The training split as the training step sees it: masks only on pixel-labelled images. */
  trainView: RandomAccessDataset;
  val: SplitDataset | null;
  plan: PixelLabelPlan;
  preflight: PreflightRecord | null;
  classNames: string[];
}

/**
 * Opens the training and validation splits of a run, runs (or reuses) the pre-flight scan and leaves out what it
 * found bad (with `data.skipBad`), and applies `data.pixelLabels`. `classNames`: a resumed run's.
 */
export async function openTrainingData(o: {
  config: WsssConfig;
  runDir: string;
  out: Output;
  classNames?: readonly string[];
}): Promise<TrainingData> {
  const { config, runDir, out } = o;
  checkFolderConfig(config, true);
  const base = o.classNames ? { classNames: o.classNames } : {};
  const openVal = (skip?: ReadonlySet<string>) =>
    openSplit(config, config.data.valSplit, runDir, out, { ...base, ...(skip ? { skip } : {}) }).catch(
      (e) => {
        if (e instanceof ConfigError) throw e;
        out.warn(
          `no validation split '${config.data.valSplit}' (${(e as Error).message}); training without validation`,
        );
        return null;
      },
    );
  let train = await openSplit(config, config.data.trainSplit, runDir, out, base);
  let val = await openVal();
  if (config.data.dataset === 'folder')
    out.info(await describeFolder(config, await openFolderData(config, o.classNames)));
  let record: PreflightRecord | null = null;
  if (config.data.preflight) {
    record = await preflight(config, runDir, val ? [train, val] : [train], out);
    if (record.skipped.length) {
      const skip = new Set(record.skipped);
      train = await openSplit(config, config.data.trainSplit, runDir, out, { ...base, skip });
      val = await openVal(skip);
    }
  }
  const maskFile = train.maskFileOf?.bind(train);
  const plan = await pixelLabelPlan(config, train, (i) => (maskFile ? maskFile(i) !== null : true));
  if (plan.indices.size || config.data.masks)
    out.info(
      plan.indices.size
        ? plan.describe
        : `pixel labels: none — the masks (${config.data.masks}) only score validation (data.pixelLabels ${config.data.pixelLabels})`,
    );
  return {
    train,
    trainView: trainingView(train, plan.indices),
    val,
    plan,
    preflight: record,
    classNames: [...train.classNames],
  };
}

/** What config.json records about a run's data: sizes, pixel labels, what the pre-flight scan left out. */
export function runDataInfo(d: TrainingData): Record<string, unknown> {
  return {
    trainImages: d.train.length,
    valImages: d.val?.length ?? 0,
    pixelLabelled: d.plan.indices.size,
    pixelLabels: d.plan.describe,
    skipped: d.preflight?.skipped ?? [],
  };
}

/** The report's lines about the data (pixel labels, skipped files, the best rule). */
export function dataNotes(d: TrainingData, config: WsssConfig): string[] {
  const notes = [`Best checkpoint by ${bestRule(config.train.bestBy)}.`];
  if (d.plan.indices.size || config.data.masks) notes.push(`${d.plan.describe}.`);
  const skipped = d.preflight?.skipped ?? [];
  if (skipped.length)
    notes.push(
      `The pre-flight scan left out ${skipped.length} bad file(s) (data.skipBad; all in preflight.json): ${skipped.slice(0, 10).join(', ')}${skipped.length > 10 ? ', …' : ''}`,
    );
  return notes;
}

/** The files a run's pre-flight scan left out (`<run>/preflight.json`), when it scanned this data. */
export async function runSkipList(
  runDir: string,
  config: WsssConfig,
): Promise<{ skip: ReadonlySet<string> } | Record<string, never>> {
  const file = join(runDir, PREFLIGHT_FILE);
  if (!existsSync(file)) return {};
  try {
    const r = JSON.parse(await fsp.readFile(file, 'utf8')) as PreflightRecord;
    if (JSON.stringify(r.data) !== JSON.stringify(preflightKey(config)) || !r.skipped.length) return {};
    return { skip: new Set(r.skipped) };
  } catch {
    return {};
  }
}
