/**
 * Memory layouts of per-pixel, per-label arrays (probabilities, energies) for one image of H×W pixels and L labels.
 *
 * - `'labels-major'` (pydensecrf's `Q`, CHW): element (label l, row y, column x) at `l·H·W + y·W + x`.
 * - `'nhwc'` (tfjs `dataSync()` of an (H,W,L) or (1,H,W,L) tensor, HWC): element at `(y·W + x)·L + l`.
 */
export type Layout = 'labels-major' | 'nhwc';

import { assertArray, assertInteger } from './validate.js';

function check(name: string, data: Float32Array, nPixels: number, nLabels: number): void {
  assertInteger('nPixels', nPixels, 1);
  assertInteger('nLabels', nLabels, 1);
  assertArray(name, data, [Float32Array], nPixels * nLabels, `nPixels·nLabels = ${nPixels}·${nLabels}`);
}

/** Converts an NHWC (pixel-major, label fastest) array of one image to the labels-major layout (pydensecrf). */
export function nhwcToLabelsMajor(nhwc: Float32Array, nPixels: number, nLabels: number): Float32Array {
  check('nhwc', nhwc, nPixels, nLabels);
  return transpose(nhwc, nPixels, nLabels);
}

/** Converts a labels-major (pydensecrf `Q`) array of one image to NHWC (pixel-major, label fastest). */
export function labelsMajorToNhwc(labelsMajor: Float32Array, nPixels: number, nLabels: number): Float32Array {
  check('labelsMajor', labelsMajor, nPixels, nLabels);
  return transpose(labelsMajor, nLabels, nPixels);
}

/** Transposes a row-major rows×cols matrix. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = a[o + c]!;
  }
  return out;
}

/**
 * Per-pixel argmax over the labels of a probability (or score) array of one image; ties go to the lower label.
 * @returns label indices, one per pixel (raster order).
 */
export function argmaxLabels(
  probs: Float32Array,
  nPixels: number,
  nLabels: number,
  layout: Layout = 'labels-major',
): Int32Array {
  check('probs', probs, nPixels, nLabels);
  const out = new Int32Array(nPixels);
  if (layout === 'nhwc') {
    for (let i = 0; i < nPixels; i++) {
      const o = i * nLabels;
      let best = 0;
      let bv = probs[o]!;
      for (let l = 1; l < nLabels; l++) {
        const v = probs[o + l]!;
        if (v > bv) {
          bv = v;
          best = l;
        }
      }
      out[i] = best;
    }
    return out;
  }
  if (layout !== 'labels-major')
    throw new RangeError(`layout must be 'labels-major' or 'nhwc', got ${layout}`);
  const best = new Float32Array(probs.subarray(0, nPixels));
  for (let l = 1; l < nLabels; l++) {
    const o = l * nPixels;
    for (let i = 0; i < nPixels; i++) {
      const v = probs[o + i]!;
      if (v > best[i]!) {
        best[i] = v;
        out[i] = l;
      }
    }
  }
  return out;
}
