import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { type RandomAccessDataset, streamRecords } from '../io/dataset.js';
import { DatasetError, SkipCounter } from '../io/errors.js';
import { readImage } from '../io/image.js';
import { encodeIndexPng } from '../io/indexPng.js';
import { assertRealInside, resolveInside } from '../io/safePath.js';
import { type DataRecord, IGNORE_INDEX, type IndexMask } from '../io/types.js';
import { vocColorMap } from '../voc/classes.js';
import { fillPolygons } from './polygon.js';
import { decodeRleString, rleToMask } from './rle.js';

interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}
interface CocoAnn {
  id: number;
  image_id: number;
  category_id: number;
  segmentation: unknown;
  area?: number;
  iscrowd?: number;
}

function show(v: unknown): string {
  const t = JSON.stringify(v);
  return t === undefined ? String(v) : t.length > 60 ? `${t.slice(0, 57)}...` : t;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function checkCategory(c: unknown, i: number, file: string): void {
  const o = c as Record<string, unknown> | null;
  if (!o || typeof o !== 'object' || !isInt(o['id']) || typeof o['name'] !== 'string')
    throw new DatasetError(
      file,
      `categories[${i}] must have an integer "id" and a string "name", got ${show(c)}`,
    );
}

function checkImage(im: unknown, i: number, file: string): void {
  const o = im as Record<string, unknown> | null;
  if (!o || typeof o !== 'object')
    throw new DatasetError(file, `images[${i}] must be an object, got ${show(im)}`);
  const where = `images[${i}] (id ${show(o['id'])})`;
  if (!isInt(o['id'])) throw new DatasetError(file, `${where}: "id" must be an integer`);
  if (typeof o['file_name'] !== 'string' || o['file_name'] === '')
    throw new DatasetError(
      file,
      `${where}: "file_name" must be a non-empty string, got ${show(o['file_name'])}`,
    );
  for (const k of ['width', 'height'])
    if (!isInt(o[k]) || (o[k] as number) < 1)
      throw new DatasetError(file, `${where}: "${k}" must be a positive integer, got ${show(o[k])}`);
}

/** Types of one annotation's fields; polygon coordinates are checked when the mask is drawn ({@link CocoDataset.maskOf}). */
function checkAnnotation(a: unknown, i: number, file: string): void {
  const o = a as Record<string, unknown> | null;
  if (!o || typeof o !== 'object')
    throw new DatasetError(file, `annotations[${i}] must be an object, got ${show(a)}`);
  const where = `annotation ${show(o['id'])} (annotations[${i}])`;
  for (const k of ['id', 'image_id', 'category_id'])
    if (!isInt(o[k])) throw new DatasetError(file, `${where}: "${k}" must be an integer, got ${show(o[k])}`);
  const seg = o['segmentation'];
  if (!Array.isArray(seg) && (seg === null || typeof seg !== 'object'))
    throw new DatasetError(
      file,
      `${where}: "segmentation" must be polygons or an RLE object, got ${show(seg)}`,
    );
  if (!Array.isArray(seg)) {
    const r = seg as Record<string, unknown>;
    const size = r['size'];
    if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => isInt(v) && v > 0))
      throw new DatasetError(file, `${where}: RLE "size" must be [height, width], got ${show(size)}`);
    if (typeof r['counts'] !== 'string' && !Array.isArray(r['counts']))
      throw new DatasetError(
        file,
        `${where}: RLE "counts" must be a string or an array, got ${show(r['counts'])}`,
      );
  }
  const bbox = o['bbox'];
  if (
    bbox !== undefined &&
    (!Array.isArray(bbox) ||
      bbox.length !== 4 ||
      !bbox.every((v) => typeof v === 'number' && Number.isFinite(v)) ||
      (bbox[2] as number) < 0 ||
      (bbox[3] as number) < 0)
  )
    throw new DatasetError(
      file,
      `${where}: "bbox" must be [x, y, width, height] of finite numbers, got ${show(bbox)}`,
    );
  if (o['area'] !== undefined && (typeof o['area'] !== 'number' || !Number.isFinite(o['area'])))
    throw new DatasetError(file, `${where}: "area" must be a finite number, got ${show(o['area'])}`);
  if (o['iscrowd'] !== undefined && o['iscrowd'] !== 0 && o['iscrowd'] !== 1)
    throw new DatasetError(file, `${where}: "iscrowd" must be 0 or 1, got ${show(o['iscrowd'])}`);
}

/** Options of {@link CocoDataset.open}. */
export interface CocoOptions {
  /** `annotations/instances_{train,val}2014.json`. */
  annotationFile: string;
  /** Folder holding the images named by `file_name` (e.g. `train2014`). */
  imageDir: string;
  /** Attach rasterised masks to records (default true). */
  withMask?: boolean;
  /** Keep images without any annotation (default false: the reference keeps 82,081 train / 40,137 val). */
  keepUnlabelled?: boolean;
}

/**
 * MS COCO 2014 instances as semantic segmentation.
 *
 * Class mapping: the 80 category ids (1..90, with gaps) map to 1..80 in ascending id order; 0 = background.
 * Image labels: the classes of all annotations of the image, crowd included; images without annotations are
 * dropped unless `keepUnlabelled`.
 * Mask rule (overlap and crowd): non-crowd instances are painted in decreasing area (the annotation's `area`,
 * ties by annotation id), so a smaller object on top of a larger one stays visible; then crowd regions set
 * every pixel that no non-crowd instance claimed to 255 (ignore).
 */
export class CocoDataset implements RandomAccessDataset {
  readonly ids: readonly string[];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** COCO category id of each contiguous class (index 0 = background → 0). */
  readonly categoryIds: readonly number[];
  readonly skipped = new SkipCounter();
  private readonly images: CocoImage[];
  private readonly annsByImage: Map<number, CocoAnn[]>;
  private readonly catToClass: Map<number, number>;

  private constructor(
    private readonly options: CocoOptions,
    images: CocoImage[],
    annsByImage: Map<number, CocoAnn[]>,
    cats: { id: number; name: string }[],
  ) {
    this.images = images;
    this.annsByImage = annsByImage;
    this.ids = images.map((im) => im.file_name.replace(/\.[^.]+$/, ''));
    this.classNames = Object.freeze(['background', ...cats.map((c) => c.name)]);
    this.categoryIds = Object.freeze([0, ...cats.map((c) => c.id)]);
    this.catToClass = new Map(cats.map((c, i) => [c.id, i + 1]));
    this.numClasses = cats.length;
  }

  get length(): number {
    return this.images.length;
  }

  /** Parses the annotation file and indexes annotations by image. */
  static async open(options: CocoOptions): Promise<CocoDataset> {
    const file = options.annotationFile;
    let json: { images?: CocoImage[]; annotations?: CocoAnn[]; categories?: { id: number; name: string }[] };
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new DatasetError(file, `unreadable annotation file (${e.code ?? e.message})`, { cause: err });
    }
    if (!Array.isArray(json.images) || !Array.isArray(json.annotations) || !Array.isArray(json.categories)) {
      throw new DatasetError(file, 'annotation file lacks "images", "annotations" or "categories" arrays');
    }
    for (const [i, c] of json.categories.entries()) checkCategory(c, i, file);
    for (const [i, im] of json.images.entries()) checkImage(im, i, file);
    for (const [i, a] of json.annotations.entries()) checkAnnotation(a, i, file);
    const cats = [...json.categories].sort((a, b) => a.id - b.id);
    const catIds = new Set(cats.map((c) => c.id));
    const byImage = new Map<number, CocoAnn[]>();
    for (const a of json.annotations) {
      if (!catIds.has(a.category_id)) {
        throw new DatasetError(file, `annotation ${a.id} has unknown category_id ${a.category_id}`);
      }
      let list = byImage.get(a.image_id);
      if (!list) byImage.set(a.image_id, (list = []));
      list.push(a);
    }
    const images = json.images
      .filter((im) => options.keepUnlabelled || byImage.has(im.id))
      .sort((a, b) => a.id - b.id);
    for (const im of images) resolveInside(options.imageDir, im.file_name, file);
    return new CocoDataset(options, images, byImage, cats);
  }

  /** Foreground labels of record `index`, without decoding anything. */
  labelsOf(index: number): number[] {
    const anns = this.annsByImage.get(this.images[index]!.id) ?? [];
    return [...new Set(anns.map((a) => this.catToClass.get(a.category_id)!))].sort((a, b) => a - b);
  }

  /** Rasterises the semantic mask of record `index` by the documented rule (see the class comment). */
  maskOf(index: number): IndexMask {
    const im = this.images[index]!;
    const { width, height } = im;
    const file = this.options.annotationFile;
    const anns = this.annsByImage.get(im.id) ?? [];
    const mask = new Uint8Array(width * height);
    const claimed = new Uint8Array(width * height);
    const binary = (a: CocoAnn): Uint8Array => {
      const seg = a.segmentation as unknown;
      try {
        if (Array.isArray(seg)) {
          seg.forEach((poly: unknown, k) => {
            if (!Array.isArray(poly) || poly.length % 2 !== 0)
              throw new Error(`polygon ${k} must be a flat array [x1, y1, x2, y2, …], got ${show(poly)}`);
            const bad = poly.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
            if (bad >= 0)
              throw new Error(
                `polygon ${k} has a coordinate that is not a finite number at ${bad}: ${show(poly[bad])}`,
              );
          });
          return fillPolygons(seg as number[][], height, width);
        }
        if (seg && typeof seg === 'object') {
          const r = seg as { counts?: unknown; size?: unknown };
          const size = r.size as number[];
          if (!Array.isArray(size) || size[0] !== height || size[1] !== width) {
            throw new Error(
              `RLE size ${JSON.stringify(r.size)} differs from the image size [${height}, ${width}]`,
            );
          }
          const counts = typeof r.counts === 'string' ? decodeRleString(r.counts) : (r.counts as number[]);
          if (!Array.isArray(counts))
            throw new Error(`RLE counts must be a string or an array, got ${show(r.counts)}`);
          return rleToMask(counts, height, width);
        }
        throw new Error('segmentation is neither polygons nor RLE');
      } catch (err) {
        throw new DatasetError(
          file,
          `annotation ${a.id} (image ${im.file_name}): ${(err as Error).message}`,
          { cause: err },
        );
      }
    };
    const solid = anns.filter((a) => !a.iscrowd).sort((a, b) => (b.area ?? 0) - (a.area ?? 0) || a.id - b.id);
    for (const a of solid) {
      const m = binary(a);
      const c = this.catToClass.get(a.category_id)!;
      for (let i = 0; i < m.length; i++) {
        if (m[i]) {
          mask[i] = c;
          claimed[i] = 1;
        }
      }
    }
    for (const a of anns.filter((x) => x.iscrowd)) {
      const m = binary(a);
      for (let i = 0; i < m.length; i++) if (m[i] && !claimed[i]) mask[i] = IGNORE_INDEX;
    }
    return { width, height, data: mask };
  }

  /** Decodes image `index`, checks its size against the annotation, and rasterises the mask. */
  async read(index: number): Promise<DataRecord> {
    const im = this.images[index];
    if (!im) throw new RangeError(`CocoDataset.read: index ${index} outside 0..${this.length - 1}`);
    const path = join(this.options.imageDir, im.file_name);
    await assertRealInside(this.options.imageDir, path, this.options.annotationFile);
    const image = await readImage(path);
    if (image.width !== im.width || image.height !== im.height) {
      throw new DatasetError(
        path,
        `image size ${image.width}x${image.height} differs from the annotation's ${im.width}x${im.height}`,
      );
    }
    const rec: DataRecord = { id: this.ids[index]!, image, labels: this.labelsOf(index) };
    if (this.options.withMask ?? true) rec.mask = this.maskOf(index);
    return rec;
  }

  /** Streams all records; with `skipBad` bad ones are counted in {@link skipped} and skipped. */
  async *records(options: { skipBad?: boolean } = {}): AsyncGenerator<DataRecord> {
    yield* streamRecords(this, this.skipped, options);
  }

  /**
   * Writes every mask as a palette PNG `<outDir>/<id>.png` (VOC colour map; values are contiguous classes,
   * 255 = crowd/ignore) plus `classes.json`, without decoding images. Files are staged in a temporary folder
   * and moved into `outDir` only when all succeeded, so a failed export leaves nothing behind. With
   * `skipBad`, masks that fail to rasterise are skipped and counted.
   */
  async exportMasks(
    outDir: string,
    options: { skipBad?: boolean } = {},
  ): Promise<{ written: number; skipped: number }> {
    const target = resolve(outDir);
    await mkdir(dirname(target), { recursive: true });
    const tmp = await mkdtemp(join(dirname(target), `.${basename(target)}.tmp-`));
    const palette = vocColorMap();
    let written = 0;
    let skipped = 0;
    try {
      for (let i = 0; i < this.length; i++) {
        let png: Uint8Array;
        try {
          png = encodeIndexPng(this.maskOf(i), palette);
        } catch (err) {
          if (options.skipBad && err instanceof DatasetError) {
            this.skipped.add(err);
            skipped++;
            continue;
          }
          throw err;
        }
        const rel = `${this.ids[i]!}.png`;
        await mkdir(dirname(join(tmp, rel)), { recursive: true });
        await writeFile(join(tmp, rel), png);
        written++;
      }
      await writeFile(
        join(tmp, 'classes.json'),
        `${JSON.stringify({ classes: this.classNames, categoryIds: this.categoryIds }, null, 2)}\n`,
      );
      if (!existsSync(target)) {
        await rename(tmp, target);
      } else {
        for (const f of await readdir(tmp, { recursive: true })) {
          const from = join(tmp, f);
          if (f.endsWith('.png') || f === 'classes.json') {
            await mkdir(dirname(join(target, f)), { recursive: true });
            await rename(from, join(target, f));
          }
        }
        await rm(tmp, { recursive: true, force: true });
      }
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    return { written, skipped };
  }
}
