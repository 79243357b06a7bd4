import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, sep } from 'node:path';
import { type RandomAccessDataset, streamRecords } from '../io/dataset.js';
import { DatasetError, SkipCounter } from '../io/errors.js';
import { readImage } from '../io/image.js';
import { assertRealInside, realRoot, resolveInside } from '../io/safePath.js';
import type { DataRecord } from '../io/types.js';
import { VOC_CLASSES } from '../voc/classes.js';

/** Image extensions an image folder picks up (case-insensitive). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

/** Options of {@link ImageFolderDataset.open}. */
export interface ImageFolderOptions {
  /** Folder of images. */
  root: string;
  /** Descend into sub-folders (default true). */
  recursive?: boolean;
  /**
   * Optional labels file. CSV: a header `image,labels`, then one row per image: the path relative to `root`
   * (or the id, i.e. that path without extension) and its labels separated by `;` or spaces. JSON: an object
   * mapping the same keys to arrays of labels. A label is a class name or a 1-based class index. Images
   * without a row get no labels.
   */
  labels?: string;
  /** Class names with background at 0 (default the VOC classes). */
  classNames?: readonly string[];
}

function listImages(root: string, recursive: boolean): string[] {
  const out: string[] = [];
  const rootReal = realRoot(root);
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (lstatSync(full).isSymbolicLink()) {
        // a link may point inside the folder, not out of it (the same rule as a `..` path)
        let target: string;
        try {
          target = realpathSync(full);
        } catch {
          continue; // a dangling link: nothing to read
        }
        const r = relative(rootReal, target);
        if (r.startsWith('..') || isAbsolute(r))
          throw new DatasetError(
            root,
            `path "${relative(root, full)}" leaves the dataset root ${root} (through a symbolic link, to ${target})`,
          );
        // a linked folder inside the root is listed where it really is (no duplicates, no cycles)
        if (statSync(full).isDirectory()) continue;
      }
      const st = statSync(full);
      if (st.isDirectory()) {
        if (recursive) walk(full);
      } else if (IMAGE_EXTENSIONS.includes(extname(name).toLowerCase())) {
        out.push(relative(root, full).split(sep).join('/'));
      }
    }
  };
  walk(root);
  return out;
}

/**
 * A folder of the user's own JPEG/PNG/WebP images, for inference or training with image-level labels.
 * Record ids are paths relative to the root without extension; records have no mask.
 */
export class ImageFolderDataset implements RandomAccessDataset {
  readonly ids: readonly string[];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** Image paths relative to the root, in id order. */
  readonly files: readonly string[];
  readonly skipped = new SkipCounter();

  private constructor(
    readonly root: string,
    files: string[],
    classNames: readonly string[],
    private readonly labelMap: Map<string, number[]>,
  ) {
    this.files = files;
    this.ids = files.map((f) => f.slice(0, f.length - extname(f).length));
    this.classNames = classNames;
    this.numClasses = classNames.length - 1;
  }

  get length(): number {
    return this.ids.length;
  }

  /** Lists the images and parses the labels file, if any. */
  static async open(options: ImageFolderOptions): Promise<ImageFolderDataset> {
    const { root } = options;
    if (!existsSync(root) || !statSync(root).isDirectory())
      throw new DatasetError(root, 'image folder does not exist');
    const classNames = options.classNames ?? VOC_CLASSES;
    const files = listImages(root, options.recursive ?? true);
    const labelMap = new Map<string, number[]>();
    if (options.labels) {
      const lf = options.labels;
      let text: string;
      try {
        text = await readFile(lf, 'utf8');
      } catch (err) {
        throw new DatasetError(lf, `unreadable labels file (${(err as NodeJS.ErrnoException).code})`, {
          cause: err,
        });
      }
      const rows: [string, unknown[]][] = [];
      if (lf.toLowerCase().endsWith('.json')) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          throw new DatasetError(lf, `invalid JSON (${(err as Error).message})`, { cause: err });
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          throw new DatasetError(lf, 'labels JSON must be an object mapping image paths to label arrays');
        }
        for (const [k, v] of Object.entries(parsed)) {
          if (!Array.isArray(v)) throw new DatasetError(lf, `labels of "${k}" must be an array`);
          rows.push([k, v]);
        }
      } else {
        const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
        if (!/^\s*image\s*,\s*labels\s*$/i.test(lines[0] ?? '')) {
          throw new DatasetError(lf, 'labels CSV must start with the header "image,labels"');
        }
        for (let i = 1; i < lines.length; i++) {
          const line = lines[i]!;
          const comma = line.indexOf(',');
          if (comma < 0) throw new DatasetError(lf, `line ${i + 1} has no comma`);
          const key = line.slice(0, comma).trim().replace(/^"|"$/g, '');
          const labels = line
            .slice(comma + 1)
            .replace(/^\s*"|"\s*$/g, '')
            .split(/[;\s]+/)
            .filter(Boolean);
          rows.push([key, labels]);
        }
      }
      const byKey = new Map<string, string>();
      files.forEach((f) => {
        byKey.set(f, f);
        byKey.set(f.slice(0, f.length - extname(f).length), f);
      });
      for (const [key, labels] of rows) {
        resolveInside(root, key, lf);
        const file = byKey.get(key);
        if (!file) throw new DatasetError(lf, `"${key}" names no image in ${root}`);
        const idx = new Set<number>();
        for (const l of labels) {
          let c: number;
          if (typeof l === 'number' || /^\d+$/.test(String(l))) c = Number(l);
          else c = classNames.indexOf(String(l));
          if (!Number.isInteger(c) || c < 1 || c >= classNames.length) {
            throw new DatasetError(
              lf,
              `label "${String(l)}" of "${key}" is not a class name or an index in 1..${classNames.length - 1}`,
            );
          }
          idx.add(c);
        }
        labelMap.set(
          file,
          [...idx].sort((a, b) => a - b),
        );
      }
    }
    return new ImageFolderDataset(root, files, classNames, labelMap);
  }

  /** Decodes image `index`; labels come from the labels file (empty without one). */
  async read(index: number): Promise<DataRecord> {
    const f = this.files[index];
    if (f === undefined)
      throw new RangeError(`ImageFolderDataset.read: index ${index} outside 0..${this.length - 1}`);
    await assertRealInside(this.root, join(this.root, f), this.root);
    const image = await readImage(join(this.root, f));
    return { id: this.ids[index]!, image, labels: this.labelMap.get(f) ?? [] };
  }

  /** Streams all records; with `skipBad` unreadable images are counted in {@link skipped} and skipped. */
  async *records(options: { skipBad?: boolean } = {}): AsyncGenerator<DataRecord> {
    yield* streamRecords(this, this.skipped, options);
  }
}
