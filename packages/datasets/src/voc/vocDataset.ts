import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RandomAccessDataset, streamRecords } from '../io/dataset.js';
import { DatasetError, SkipCounter } from '../io/errors.js';
import { readImage } from '../io/image.js';
import { readIndexPng } from '../io/indexPng.js';
import { checkMask } from '../io/maskCheck.js';
import { assertRealInside, resolveInside } from '../io/safePath.js';
import { type DataRecord, type IndexMask, labelsFromMask } from '../io/types.js';
import { VOC_CLASSES } from './classes.js';

/** Options of {@link VocDataset.open}. */
export interface VocOptions {
  /** The `VOC2012` folder (or a `VOCdevkit` folder holding one). */
  root: string;
  /** Split name: a file `ImageSets/Segmentation/<split>.txt`; `train_aug` is derived if its file is absent. */
  split: string;
  /**
   * Where image-level labels come from: `'mask'` (default) = distinct mask values minus 0 and 255 as the
   * reference does (spec §3.10); `'xml'` = object names in `Annotations/<id>.xml`.
   */
  labelsFrom?: 'mask' | 'xml';
  /**
   * Attach the mask to each record (default true; masks are read anyway when labels come from them);
   * `'ifExists'` (with XML labels): attach it where the mask file exists, so a VOC-style folder without masks, or
   * with masks for some images only, reads.
   */
  withMask?: boolean | 'ifExists';
  /**
   * Mask folder under the root. Default: `SegmentationClassAug` for `train_aug` when that folder exists,
   * else `SegmentationClass`.
   */
  maskDir?: string;
  /** Image file extension in `JPEGImages` (default: `imageExt` of `classes.json` if present, else `.jpg`). */
  imageExt?: string;
}

/** The file holding class names written next to a VOC-layout dataset (e.g. by the synthetic generator). */
export const CLASSES_FILE = 'classes.json';

function parseXmlLabels(xml: string, file: string, classNames: readonly string[]): number[] {
  const objects = xml.match(/<object>[\s\S]*?<\/object>/g);
  if (!xml.includes('<annotation'))
    throw new DatasetError(file, 'not a VOC annotation (no <annotation> element)');
  const found = new Set<number>();
  for (const obj of objects ?? []) {
    // The object's own <name> precedes those of its <part>s.
    const m = /<name>\s*([^<]*?)\s*<\/name>/.exec(obj);
    if (!m) throw new DatasetError(file, 'an <object> has no <name>');
    const idx = classNames.indexOf(m[1]!);
    if (idx <= 0) throw new DatasetError(file, `unknown class name "${m[1]}"`);
    found.add(idx);
  }
  return [...found].sort((a, b) => a - b);
}

/**
 * PASCAL VOC 2012 segmentation data (and anything written in its layout, such as the synthetic set).
 * Records carry the RGB image, the foreground labels and the index mask (read from palette PNGs as indices,
 * never as RGB; 255 = ignore).
 */
export class VocDataset implements RandomAccessDataset {
  readonly ids: readonly string[];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** Resolved VOC2012 folder. */
  readonly root: string;
  /** Records skipped by {@link VocDataset.records} with `skipBad`. */
  readonly skipped = new SkipCounter();
  private readonly entries: { image: string; mask: string; xml: string; from: string }[];

  private constructor(
    root: string,
    entries: { id: string; image: string; mask: string; xml: string; from: string }[],
    classNames: readonly string[],
    private readonly opts: Required<Pick<VocOptions, 'labelsFrom' | 'withMask'>>,
  ) {
    this.root = root;
    this.ids = entries.map((e) => e.id);
    this.entries = entries;
    this.classNames = classNames;
    this.numClasses = classNames.length - 1;
  }

  get length(): number {
    return this.ids.length;
  }

  /** Opens a split: reads the split list and the class names; images are decoded lazily. */
  static async open(options: VocOptions): Promise<VocDataset> {
    let root = options.root;
    if (!existsSync(join(root, 'ImageSets')) && existsSync(join(root, 'VOC2012')))
      root = join(root, 'VOC2012');
    if (!existsSync(root)) throw new DatasetError(root, 'dataset root does not exist');
    const labelsFrom = options.labelsFrom ?? 'mask';
    if (labelsFrom !== 'mask' && labelsFrom !== 'xml') {
      throw new DatasetError(root, `labelsFrom must be 'mask' or 'xml', got ${String(labelsFrom)}`);
    }
    let classNames: readonly string[] = VOC_CLASSES;
    let fileImageExt: string | undefined;
    const classesFile = join(root, CLASSES_FILE);
    if (existsSync(classesFile)) {
      try {
        const parsed = JSON.parse(await readFile(classesFile, 'utf8')) as {
          classes?: unknown;
          imageExt?: unknown;
        };
        if (typeof parsed.imageExt === 'string') fileImageExt = parsed.imageExt;
        const names = parsed.classes;
        if (!Array.isArray(names) || names.length < 2 || !names.every((n) => typeof n === 'string')) {
          throw new Error('"classes" must be an array of at least two strings (background first)');
        }
        classNames = Object.freeze([...(names as string[])]);
      } catch (err) {
        throw new DatasetError(classesFile, `unreadable class file (${(err as Error).message})`, {
          cause: err,
        });
      }
    }
    const split = options.split;
    const aug = join(root, 'SegmentationClassAug');
    const maskDir =
      options.maskDir ??
      (split === 'train_aug' && existsSync(aug) ? 'SegmentationClassAug' : 'SegmentationClass');
    const imageExt = options.imageExt ?? fileImageExt ?? '.jpg';
    const listFile = join(root, 'ImageSets', 'Segmentation', `${split}.txt`);
    const entries: { id: string; image: string; mask: string; xml: string; from: string }[] = [];
    const add = (id: string, image: string, mask: string, from: string) => {
      entries.push({
        id,
        from,
        image: resolveInside(root, image, from),
        mask: resolveInside(root, mask, from),
        xml: resolveInside(root, `Annotations/${id}.xml`, from),
      });
    };
    if (existsSync(listFile)) {
      let text: string;
      try {
        text = await readFile(listFile, 'utf8');
      } catch (err) {
        throw new DatasetError(listFile, `cannot read split list (${(err as Error).message})`, {
          cause: err,
        });
      }
      for (const line of text.split(/\r?\n/)) {
        const parts = line.trim().split(/\s+/).filter(Boolean);
        if (parts.length === 0) continue;
        if (parts.length === 1) {
          const id = parts[0]!;
          add(id, `JPEGImages/${id}${imageExt}`, `${maskDir}/${id}.png`, listFile);
        } else {
          // Reference-style "image mask" pairs; a leading '/' means "from the root", as the reference joins them.
          const img = parts[0]!.replace(/^\/+/, '');
          const mask = parts[1]!.replace(/^\/+/, '');
          const base = img.split('/').pop()!;
          add(base.replace(/\.[^.]+$/, ''), img, mask, listFile);
        }
      }
    } else if (split === 'train_aug' && existsSync(aug)) {
      // train_aug = every SegmentationClassAug mask minus the val ids: 12,031 − 1,449 = 10,582 for VOC+SBD.
      const valFile = join(root, 'ImageSets', 'Segmentation', 'val.txt');
      const val = new Set(
        existsSync(valFile) ? (await readFile(valFile, 'utf8')).split(/\s+/).filter(Boolean) : [],
      );
      const ids = readdirSync(aug)
        .filter((f) => f.endsWith('.png'))
        .map((f) => f.slice(0, -4))
        .filter((id) => !val.has(id))
        .sort();
      for (const id of ids) add(id, `JPEGImages/${id}${imageExt}`, `${maskDir}/${id}.png`, aug);
    } else {
      throw new DatasetError(listFile, 'split list is missing');
    }
    return new VocDataset(root, entries, classNames, { labelsFrom, withMask: options.withMask ?? true });
  }

  /** Reads record `index` (image, labels, and the mask unless `withMask: false` with XML labels). */
  async read(index: number): Promise<DataRecord> {
    const e = this.entries[index];
    if (!e) throw new RangeError(`VocDataset.read: index ${index} outside 0..${this.length - 1}`);
    const id = this.ids[index]!;
    const needMask =
      this.opts.labelsFrom === 'mask' ||
      this.opts.withMask === true ||
      (this.opts.withMask === 'ifExists' && this.maskFileOf(index) !== null);
    await Promise.all(
      [e.image, ...(needMask ? [e.mask] : []), ...(this.opts.labelsFrom === 'xml' ? [e.xml] : [])].map((f) =>
        assertRealInside(this.root, f, e.from),
      ),
    );
    const [image, decoded] = await Promise.all([
      readImage(e.image),
      needMask ? readIndexPng(e.mask) : undefined,
    ]);
    let mask: IndexMask | undefined;
    if (decoded) mask = checkMask(decoded, image, this.numClasses, e.mask);
    let labels: number[];
    if (this.opts.labelsFrom === 'mask') {
      labels = labelsFromMask(mask!);
    } else {
      let xml: string;
      try {
        xml = await readFile(e.xml, 'utf8');
      } catch (err) {
        throw new DatasetError(e.xml, `unreadable annotation file (${(err as NodeJS.ErrnoException).code})`, {
          cause: err,
        });
      }
      labels = parseXmlLabels(xml, e.xml, this.classNames);
    }
    return this.opts.withMask && mask ? { id, image, labels, mask } : { id, image, labels };
  }

  private readonly maskExists = new Map<number, boolean>();

  /** The mask file of record `index` if it exists (checked once), else null. */
  maskFileOf(index: number): string | null {
    const e = this.entries[index];
    if (!e) throw new RangeError(`VocDataset.maskFileOf: index ${index} outside 0..${this.length - 1}`);
    let has = this.maskExists.get(index);
    if (has === undefined) {
      has = existsSync(e.mask);
      this.maskExists.set(index, has);
    }
    return has ? e.mask : null;
  }

  /**
   * Streams all records in list order. With `skipBad`, a bad record is counted in {@link VocDataset.skipped}
   * and skipped; otherwise the first bad record throws.
   */
  async *records(options: { skipBad?: boolean } = {}): AsyncGenerator<DataRecord> {
    yield* streamRecords(this, this.skipped, options);
  }
}
