import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { type RandomAccessDataset, streamRecords } from '../io/dataset.js';
import { DatasetError, type DatasetProblem, SkipCounter } from '../io/errors.js';
import { readImage } from '../io/image.js';
import { readIndexPng } from '../io/indexPng.js';
import { checkMask } from '../io/maskCheck.js';
import { assertRealInside, realRoot, resolveInside } from '../io/safePath.js';
import type { DataRecord } from '../io/types.js';
import { VOC_CLASSES } from '../voc/classes.js';
import { type LabelRow, parseLabelsFile } from './labelsFile.js';

/** The name of class 0. */
const BACKGROUND = 'background';

/** Image extensions an image folder picks up (case-insensitive). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

/** Options of {@link ImageFolderDataset.open}. */
export interface ImageFolderOptions {
  /** Folder of images. */
  root: string;
  /** Descend into sub-folders (default true). */
  recursive?: boolean;
  /**
   * A labels file of image-level labels (CSV, JSON or JSON lines; see {@link parseLabelsFile}): an absolute path,
   * or one relative to `root` (`{ root: 'photos', labels: 'labels.csv' }` reads `photos/labels.csv`). The images
   * it names are paths relative to `root`, or ids (that path without extension); a label is a class name or a
   * 1-based class index.
   */
  labels?: string;
  /**
   * Class names with background at 0 (see {@link readClassNames} to read them from a file). Without them: with
   * `labels`, every class name used in the labels file, sorted (`Array.prototype.sort`), after `background`
   * (a file that uses class indices then needs `classNames`); without `labels`, the VOC classes. Give them
   * whenever `masks` are used, so that class indices mean what the mask values mean.
   */
  classNames?: readonly string[];
  /**
   * A folder of index masks (absolute, or relative to `root`): `<path relative to root without extension>.png`
   * per image, palette or grayscale
   * PNG, values `0..numClasses` or 255 (ignore), the size of the image as read (after EXIF orientation when
   * `orient` is on). Any image may lack one. The folder may lie inside `root`; it is not listed for images then.
   */
  masks?: string;
  /**
   * Keep only the images that have a row in the labels file (default true with `labels`). Images without a row
   * are counted in {@link ImageFolderDataset.unlisted}; with `false` they are records too, with no labels.
   * Ignored without `labels`.
   */
  listedOnly?: boolean;
  /** Turn images upright from their EXIF orientation (default true here; see `DecodeImageOptions.orient`). */
  orient?: boolean;
  /**
   * Called for each rejected row of the labels file — a class name that is not a class, an index outside
   * `1..numClasses`, a second row for an image (the reason names both lines), a path naming no image in the
   * folder or leaving the root — with the labels file as `file` and `line N: …` as `reason`. The row is skipped,
   * and its image is not a record (its labels are unknown). Without `onProblem` the first such row throws a
   * {@link DatasetError}. Syntax errors of the file always throw.
   */
  onProblem?: (p: DatasetProblem) => void;
}

/**
 * Image files under `root` (paths relative to it with `/`, sorted per folder), refusing symbolic links that leave
 * it; the folder whose real path is `skipDir` (the mask folder) is not entered.
 */
function listImages(root: string, recursive: boolean, skipDir: string | null): string[] {
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
        if (recursive && realpathSync(full) !== skipDir) walk(full);
      } else if (IMAGE_EXTENSIONS.includes(extname(name).toLowerCase())) {
        out.push(relative(root, full).split(sep).join('/'));
      }
    }
  };
  walk(root);
  return out;
}

/** The class names a labels file uses when none are given: background, then its names sorted. */
function classNamesOf(rows: readonly LabelRow[], lf: string): string[] {
  const names = new Set<string>();
  for (const r of rows) {
    for (const l of r.labels) {
      if (/^\d+$/.test(l)) {
        throw new DatasetError(
          lf,
          `line ${r.line}: label "${l}" of "${r.key}" is a class index; indices need the classNames option`,
        );
      }
      if (l !== BACKGROUND) names.add(l);
    }
  }
  if (names.size === 0)
    throw new DatasetError(lf, 'names no class (every row is background-only); give classNames');
  return [BACKGROUND, ...[...names].sort()];
}

/** The outcome of {@link matchRows}: labels per image file, and the files whose row was rejected. */
interface MatchedRows {
  rows: Map<string, number[]>;
  rejected: string[];
}

/**
 * Matches the rows of a labels file to the listed images and turns their labels into class indices. A row that
 * cannot be used is passed to `onProblem` and skipped, or thrown without it.
 */
function matchRows(
  rows: readonly LabelRow[],
  files: readonly string[],
  root: string,
  lf: string,
  classNames: readonly string[],
  onProblem: ((p: DatasetProblem) => void) | undefined,
): MatchedRows {
  const byKey = new Map<string, string[]>();
  const add = (k: string, f: string) => {
    const list = byKey.get(k);
    if (list) list.push(f);
    else byKey.set(k, [f]);
  };
  for (const f of files) {
    add(f, f);
    add(f.slice(0, f.length - extname(f).length), f);
  }
  const index = new Map<string, number>();
  classNames.forEach((n, i) => {
    if (i > 0 && !index.has(n)) index.set(n, i);
  });
  const k = classNames.length - 1;
  const out: MatchedRows = { rows: new Map(), rejected: [] };
  const lineOf = new Map<string, number>();
  const rootAbs = resolve(root);
  for (const row of rows) {
    const problem = (reason: string, file?: string) => {
      if (file !== undefined) out.rejected.push(file);
      if (!onProblem) throw new DatasetError(lf, `line ${row.line}: ${reason}`);
      onProblem({ file: lf, reason: `line ${row.line}: ${reason}` });
    };
    let rel: string;
    try {
      rel = relative(rootAbs, resolveInside(root, row.key, lf))
        .split(sep)
        .join('/');
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err;
      problem(err.problem);
      continue;
    }
    const matches = byKey.get(rel);
    if (!matches) {
      problem(`"${row.key}" names no image in ${root}`);
      continue;
    }
    if (matches.length > 1) {
      problem(
        `"${row.key}" matches ${matches.length} images (${matches.join(', ')}); name the file with its extension`,
      );
      continue;
    }
    const file = matches[0]!;
    const first = lineOf.get(file);
    if (first !== undefined) {
      problem(`"${row.key}" is listed again (first on line ${first})`);
      continue;
    }
    lineOf.set(file, row.line);
    const found = new Set<number>();
    let bad: string | null = null;
    for (const l of row.labels) {
      const c = /^\d+$/.test(l) ? Number(l) : (index.get(l) ?? -1);
      if (c >= 1 && c <= k) {
        found.add(c);
      } else {
        bad =
          l === classNames[0]
            ? `label "${l}" of "${row.key}" is not a foreground class (leave the labels empty for a background-only image)`
            : `label "${l}" of "${row.key}" is not a class name or an index in 1..${k}`;
        break;
      }
    }
    if (bad !== null) {
      problem(bad, file);
      continue;
    }
    out.rows.set(
      file,
      [...found].sort((a, b) => a - b),
    );
  }
  return out;
}

/** What {@link ImageFolderDataset.open} passes to the constructor, one entry per record. */
interface FolderRecords {
  files: string[];
  labels: number[][];
  maskFiles: (string | null)[];
}

/**
 * A folder of the user's own JPEG/PNG/WebP images, for inference or training with image-level labels (from a
 * labels file) and optional index masks. Record ids are paths relative to the root without extension, in sorted
 * path order.
 */
export class ImageFolderDataset implements RandomAccessDataset {
  readonly ids: readonly string[];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** Image paths relative to the root, in id order. */
  readonly files: readonly string[];
  readonly skipped = new SkipCounter();
  /**
   * Images in the folder that have no row in the labels file (0 without one). With `listedOnly` (the default)
   * they are not records; images whose row was rejected through `onProblem` are counted neither here nor as
   * records.
   */
  readonly unlisted: number;
  /** Records with no labels (background-only images; without a labels file, every record). */
  readonly backgroundOnly: number;
  private readonly labelLists: readonly number[][];
  private readonly maskFiles: readonly (string | null)[];

  private constructor(
    readonly root: string,
    recs: FolderRecords,
    classNames: readonly string[],
    unlisted: number,
    private readonly maskRoot: string | null,
    private readonly orient: boolean,
  ) {
    this.files = recs.files;
    this.ids = recs.files.map((f) => f.slice(0, f.length - extname(f).length));
    this.labelLists = recs.labels;
    this.maskFiles = recs.maskFiles;
    this.classNames = classNames;
    this.numClasses = classNames.length - 1;
    this.unlisted = unlisted;
    this.backgroundOnly = recs.labels.filter((l) => l.length === 0).length;
  }

  get length(): number {
    return this.ids.length;
  }

  /**
   * Lists the images, parses the labels file and looks for the masks; images are decoded lazily by
   * {@link read}.
   * @throws DatasetError for a missing folder, an unreadable or malformed labels file, a labels file with no
   * row, a symbolic link leaving the root, and (without `onProblem`) the first rejected row.
   */
  static async open(options: ImageFolderOptions): Promise<ImageFolderDataset> {
    const { root } = options;
    const folder = (dir: string, what: string) => {
      if (!existsSync(dir)) throw new DatasetError(dir, `${what} does not exist`);
      if (!statSync(dir).isDirectory())
        throw new DatasetError(
          dir,
          `is a file; expected ${what === 'image folder' ? 'a folder of images' : `the ${what}`}`,
        );
    };
    folder(root, 'image folder');
    // relative paths of the files that come with the images are relative to the images' folder
    const besideRoot = (p: string) => (isAbsolute(p) ? p : join(root, p));
    const masks = options.masks === undefined ? null : besideRoot(options.masks);
    if (masks !== null) folder(masks, 'mask folder');
    const all = listImages(root, options.recursive ?? true, masks === null ? null : realpathSync(masks));
    let classNames = options.classNames ?? VOC_CLASSES;
    let files = all;
    let labelOf = (_f: string): number[] => [];
    let unlisted = 0;
    if (options.labels) {
      const lf = besideRoot(options.labels);
      let text: string;
      try {
        text = await readFile(lf, 'utf8');
      } catch (err) {
        throw new DatasetError(lf, `unreadable labels file (${(err as NodeJS.ErrnoException).code})`, {
          cause: err,
        });
      }
      const rows = parseLabelsFile(text, lf);
      if (rows.length === 0)
        throw new DatasetError(lf, 'labels file has no rows (expected "image,labels" lines)');
      if (!options.classNames) classNames = classNamesOf(rows, lf);
      const labelMap = matchRows(rows, all, root, lf, classNames, options.onProblem);
      const rejected = new Set(labelMap.rejected);
      unlisted = all.filter((f) => !labelMap.rows.has(f) && !rejected.has(f)).length;
      files = all.filter((f) => labelMap.rows.has(f) || (options.listedOnly === false && !rejected.has(f)));
      labelOf = (f) => labelMap.rows.get(f) ?? [];
    }
    const recs: FolderRecords = {
      files,
      labels: files.map(labelOf),
      maskFiles: files.map((f) => {
        if (masks === null) return null;
        const m = join(masks, `${f.slice(0, f.length - extname(f).length)}.png`);
        return existsSync(m) ? m : null;
      }),
    };
    return new ImageFolderDataset(root, recs, classNames, unlisted, masks, options.orient ?? true);
  }

  private check(index: number, what: string): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length)
      throw new RangeError(`ImageFolderDataset.${what}: index ${index} outside 0..${this.length - 1}`);
  }

  /** The labels of record `index` (1-based class indices, ascending), without decoding anything. */
  labelsOf(index: number): number[] {
    this.check(index, 'labelsOf');
    return this.labelLists[index]!.slice();
  }

  /** The mask file of record `index`, or null when it has none (looked up once, when the dataset was opened). */
  maskFileOf(index: number): string | null {
    this.check(index, 'maskFileOf');
    return this.maskFiles[index]!;
  }

  /**
   * Decodes record `index`: the image (upright when `orient`), its labels from the labels file (empty
   * without one), and its mask when it has a mask file.
   * @throws DatasetError for an unreadable image or mask, a link leaving the root or the mask folder, a mask of
   * another size than the image or with a value above `numClasses` other than 255.
   */
  async read(index: number): Promise<DataRecord> {
    this.check(index, 'read');
    const file = join(this.root, this.files[index]!);
    const maskFile = this.maskFiles[index]!;
    await Promise.all([
      assertRealInside(this.root, file, this.root),
      maskFile === null ? undefined : assertRealInside(this.maskRoot!, maskFile, this.maskRoot!),
    ]);
    const [image, decoded] = await Promise.all([
      readImage(file, { orient: this.orient }),
      maskFile === null ? undefined : readIndexPng(maskFile),
    ]);
    const id = this.ids[index]!;
    const labels = this.labelLists[index]!.slice();
    if (!decoded) return { id, image, labels };
    if (
      this.orient &&
      decoded.width === image.height &&
      decoded.height === image.width &&
      image.width !== image.height
    ) {
      throw new DatasetError(
        maskFile!,
        `mask size ${decoded.width}x${decoded.height} differs from image size ${image.width}x${image.height} (swapped: if the mask was drawn on the stored pixels of a photo with an EXIF rotation, open with orient: false)`,
      );
    }
    return { id, image, labels, mask: checkMask(decoded, image, this.numClasses, maskFile!) };
  }

  /** Streams all records; with `skipBad` unreadable images are counted in {@link skipped} and skipped. */
  async *records(options: { skipBad?: boolean } = {}): AsyncGenerator<DataRecord> {
    yield* streamRecords(this, this.skipped, options);
  }
}
