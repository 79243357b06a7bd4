import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DatasetError, SkipCounter } from '../io/errors.js';
import { encodeIndexPng } from '../io/indexPng.js';
import { IGNORE_INDEX, type IndexMask } from '../io/types.js';
import { VOC_NUM_CLASSES, vocColorMap } from '../voc/classes.js';
import { type MatValue, parseMat5 } from './mat5.js';

/**
 * Reads the class segmentation of one SBD `cls/<id>.mat` file: the `GTcls.Segmentation` field (H×W,
 * column-major in the file) as a row-major index mask. Values must be 0..20 or 255.
 */
export async function readSbdClsMat(file: string): Promise<IndexMask> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DatasetError(
      file,
      code === 'ENOENT' ? 'mat file is missing' : `cannot read mat file (${code})`,
      { cause: err },
    );
  }
  let vars: Map<string, MatValue>;
  try {
    vars = parseMat5(bytes);
  } catch (err) {
    throw new DatasetError(file, `corrupt MAT file (${(err as Error).message})`, { cause: err });
  }
  const gt = vars.get('GTcls');
  if (gt?.kind !== 'struct' || gt.elements.length < 1)
    throw new DatasetError(file, 'no GTcls struct variable');
  const seg = gt.elements[0]!.Segmentation;
  if (seg?.kind !== 'numeric' || seg.dims.length !== 2) {
    throw new DatasetError(file, 'GTcls has no 2-D numeric Segmentation field');
  }
  const [h, w] = seg.dims as [number, number];
  if (seg.data.length !== h * w)
    throw new DatasetError(file, `Segmentation holds ${seg.data.length} values for ${h}x${w}`);
  const out = new Uint8Array(h * w);
  for (let c = 0; c < w; c++) {
    for (let r = 0; r < h; r++) {
      const v = seg.data[c * h + r]!;
      if (!Number.isInteger(v) || (v > VOC_NUM_CLASSES && v !== IGNORE_INDEX) || v < 0) {
        throw new DatasetError(
          file,
          `label value ${v} out of range (expected 0..${VOC_NUM_CLASSES} or 255) at row ${r}, column ${c}`,
        );
      }
      out[r * w + c] = v;
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * Converts SBD `cls/*.mat` files into VOC palette PNGs (`<outDir>/<id>.png`), e.g. to build
 * `SegmentationClassAug`. PNGs are staged in a temporary folder and moved into `outDir` only when every
 * file converted (or, with `skipBad`, was counted as skipped), so a failed run leaves nothing behind.
 * @param clsDir - the SBD `dataset/cls` folder.
 * @param outDir - where the PNGs go (created; its existing files are kept).
 * @param options - `ids`: convert only these ids (default: every `.mat` in `clsDir`); `skipBad`: count and skip
 *   unreadable files instead of failing.
 */
export async function convertSbdToPng(
  clsDir: string,
  outDir: string,
  options: { ids?: readonly string[]; skipBad?: boolean } = {},
): Promise<{ written: number; skipped: SkipCounter }> {
  if (!existsSync(clsDir)) throw new DatasetError(clsDir, 'SBD cls folder does not exist');
  const ids =
    options.ids ??
    (await readdir(clsDir))
      .filter((f) => f.endsWith('.mat'))
      .map((f) => f.slice(0, -4))
      .sort();
  const target = resolve(outDir);
  await mkdir(dirname(target), { recursive: true });
  const tmp = await mkdtemp(join(dirname(target), `.${basename(target)}.tmp-`));
  const palette = vocColorMap();
  const skipped = new SkipCounter();
  let written = 0;
  try {
    for (const id of ids) {
      if (!/^[\w.-]+$/.test(id) || id.startsWith('..'))
        throw new DatasetError(clsDir, `id "${id}" is not a plain file name`);
      let png: Uint8Array;
      try {
        png = encodeIndexPng(await readSbdClsMat(join(clsDir, `${id}.mat`)), palette);
      } catch (err) {
        if (options.skipBad && err instanceof DatasetError) {
          skipped.add(err);
          continue;
        }
        throw err;
      }
      await writeFile(join(tmp, `${id}.png`), png);
      written++;
    }
    if (!existsSync(target)) {
      await rename(tmp, target);
    } else {
      for (const f of await readdir(tmp)) await rename(join(tmp, f), join(target, f));
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { written, skipped };
}
