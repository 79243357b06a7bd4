/** An 8-bit RGB image, row-major HWC (`data.length === width * height * 3`). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * A class-index mask, row-major (`data.length === width * height`). Values are class indices; 255 = ignore
 * (spec §1.1).
 */
export interface IndexMask {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * One dataset record as every reader streams it. `labels` are the foreground class indices present (1-based,
 * ascending, background 0 excluded), see {@link multiHot} for the `(C,)` vector of spec §1.1.
 */
export interface DataRecord {
  id: string;
  image: RgbImage;
  labels: number[];
  mask?: IndexMask;
}

/** The ignore value of index masks (spec §1.1, §3.12). */
export const IGNORE_INDEX = 255;

/**
 * The multi-hot label vector of spec §1.1: entry `c - 1` is 1 when foreground class `c` is present.
 * @param labels - foreground class indices, 1-based.
 * @param numClasses - number of foreground classes (20 for VOC).
 */
export function multiHot(labels: readonly number[], numClasses: number): Float32Array {
  const v = new Float32Array(numClasses);
  for (const c of labels) {
    if (!Number.isInteger(c) || c < 1 || c > numClasses) {
      throw new RangeError(`multiHot: label ${c} is outside 1..${numClasses}`);
    }
    v[c - 1] = 1;
  }
  return v;
}

/**
 * Image-level labels derived from a mask as the reference does (spec §3.10): the distinct values minus 0
 * (background) and 255 (ignore), ascending.
 */
export function labelsFromMask(mask: IndexMask): number[] {
  const seen = new Uint8Array(256);
  const d = mask.data;
  for (let i = 0; i < d.length; i++) seen[d[i]!] = 1;
  const out: number[] = [];
  for (let v = 1; v < 255; v++) if (seen[v]) out.push(v);
  return out;
}
