/**
 * Segmentation metrics from a confusion matrix accumulated over images (spec §3.12, `eval_seg.py`).
 *
 * Rows are ground-truth classes, columns predicted classes. IoU_c = TP/(TP+FN+FP). The reference adds 1e-20 to
 * the denominator, so a class absent from both ground truth and predictions scores IoU 0 and still counts in the
 * mean; that is the default here (`absentClasses: 'zero'`), for parity with published numbers. With
 * `absentClasses: 'exclude'` such classes get IoU NaN and are left out of means. Values are fractions in [0, 1];
 * the reference prints them ×100.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Class-index maps: typed arrays, plain arrays or tf tensors (read synchronously with `dataSync`). */
export type LabelMap =
  | Int32Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int8Array
  | Float32Array
  | readonly number[]
  | tf.Tensor;

/** Options of the {@link ConfusionMatrix} constructor. */
export interface ConfusionMatrixOptions {
  /** Ground-truth value to skip (VOC's boundary/void label). Default 255. */
  ignoreIndex?: number;
}

/**
 * Options of {@link ConfusionMatrix.iou} and {@link ConfusionMatrix.perClass}: how classes absent from both
 * maps count.
 */
export interface IoUOptions {
  /**
   * Classes with no pixel in ground truth or prediction: `'zero'` (the reference, spec §3.12: IoU 0, counted in
   * means) or `'exclude'` (IoU NaN, left out of means). Default `'zero'`.
   */
  absentClasses?: 'zero' | 'exclude';
}

/**
 * Options of {@link ConfusionMatrix.meanIoU}: those of {@link IoUOptions}, and whether the background class
 * is averaged.
 */
export interface MeanIoUOptions extends IoUOptions {
  /** Average over all classes (true, the standard VOC number) or over classes 1…K−1 only. Default true. */
  withBackground?: boolean;
}

/** Per-class numbers from `perClass`. */
export interface ClassMetrics {
  index: number;
  name: string;
  /** IoU as a fraction (NaN for an absent class with `absentClasses: 'exclude'`). */
  iou: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  /** Ground-truth pixels of this class (TP + FN). */
  gtPixels: number;
  /** Pixels predicted as this class (TP + FP). */
  predPixels: number;
}

/** What `toJSON` gives and `fromJSON` takes. */
export interface ConfusionMatrixJSON {
  numClasses: number;
  ignoreIndex: number;
  /** matrix[gt][pred] pixel counts. */
  matrix: number[][];
  iou: number[];
  meanIoU: number;
  meanIoUNoBackground: number;
  pixelAccuracy: number;
}

const INTEGER_ARRAYS = [Int32Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int8Array];

function isIntegerTyped(a: unknown): boolean {
  return INTEGER_ARRAYS.some((T) => a instanceof T);
}

/** The values of `x` as an integer array (floats must hold integers) and its shape for messages. */
function labelsOf(x: LabelMap, what: string): { data: ArrayLike<number>; shape: number[] } {
  if (x instanceof tf.Tensor) {
    const data = x.dataSync();
    return {
      data: isIntegerTyped(data) ? (data as Int32Array) : toIntegers(data as Float32Array, what),
      shape: x.shape,
    };
  }
  if (isIntegerTyped(x)) return { data: x as Int32Array, shape: [(x as Int32Array).length] };
  if (x instanceof Float32Array || Array.isArray(x)) return { data: toIntegers(x, what), shape: [x.length] };
  throw new Error(
    `ConfusionMatrix.update: ${what} must be a typed array, number[] or tf.Tensor of class indices`,
  );
}

function toIntegers(x: ArrayLike<number>, what: string): Int32Array {
  const out = new Int32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!Number.isInteger(v))
      throw new Error(
        `ConfusionMatrix.update: ${what} value ${v} at index ${i} is not an integer class index`,
      );
    out[i] = v;
  }
  return out;
}

/** A K×K confusion matrix accumulated over images, with IoU, mean IoU and pixel accuracy (spec §3.12). */
export class ConfusionMatrix {
  readonly numClasses: number;
  readonly ignoreIndex: number;
  /** counts[gt·K + pred]; float64 so totals stay exact past 2^31 pixels (up to 2^53). */
  readonly counts: Float64Array;
  /** Per-update counts: int32 increments are the fast path. */
  private readonly scratch: Int32Array;

  constructor(numClasses: number, opts: ConfusionMatrixOptions = {}) {
    const { ignoreIndex = 255 } = opts;
    if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 4096) {
      throw new Error(`ConfusionMatrix: numClasses must be an integer in [1, 4096], got ${numClasses}`);
    }
    if (!Number.isInteger(ignoreIndex) || (ignoreIndex >= 0 && ignoreIndex < numClasses)) {
      throw new Error(
        `ConfusionMatrix: ignoreIndex must be an integer outside the class range [0, ${numClasses}), got ${ignoreIndex}`,
      );
    }
    this.numClasses = numClasses;
    this.ignoreIndex = ignoreIndex;
    this.counts = new Float64Array(numClasses * numClasses);
    this.scratch = new Int32Array(numClasses * numClasses);
  }

  /**
   * Adds one image (or batch): `pred` and `gt` hold class indices and must have the same number of elements.
   * Ground-truth pixels equal to `ignoreIndex` are skipped (whatever the prediction there). Nothing is added
   * when it throws.
   * @throws naming both shapes when sizes differ, or the value and index of a ground-truth value that is
   *   neither a class nor the ignore index, or of a prediction outside [0, numClasses).
   */
  update(pred: LabelMap, gt: LabelMap): this {
    const p = labelsOf(pred, 'pred');
    const g = labelsOf(gt, 'gt');
    const n = g.data.length;
    if (p.data.length !== n) {
      throw new Error(
        `ConfusionMatrix.update: pred shape [${p.shape}] (${p.data.length} values) and gt shape [${g.shape}] (${n} values) differ in size`,
      );
    }
    const K = this.numClasses;
    const ignore = this.ignoreIndex;
    const c = this.scratch;
    const pd = p.data;
    const gd = g.data;
    let bad = -1;
    for (let i = 0; i < n; i++) {
      const gv = gd[i]!;
      if (gv === ignore) continue;
      const pv = pd[i]!;
      // `>>> 0` turns negatives into huge values, so one unsigned compare checks both ends of the range.
      if (gv >>> 0 >= K || pv >>> 0 >= K) {
        bad = i;
        break;
      }
      c[gv * K + pv]!++;
    }
    if (bad >= 0) {
      c.fill(0);
      const gv = gd[bad]!;
      if (gv >>> 0 >= K) {
        throw new Error(
          `ConfusionMatrix.update: gt value ${gv} at index ${bad} is neither a class in [0, ${K}) nor the ignore index ${ignore}`,
        );
      }
      throw new Error(
        `ConfusionMatrix.update: pred value ${pd[bad]} at index ${bad} is not a class in [0, ${K})`,
      );
    }
    const counts = this.counts;
    for (let k = 0; k < c.length; k++) {
      if (c[k] !== 0) {
        counts[k]! += c[k]!;
        c[k] = 0;
      }
    }
    return this;
  }

  /** Adds another matrix's counts (e.g. from another worker). Both must have the same classes and ignore index. */
  merge(other: ConfusionMatrix): this {
    if (other.numClasses !== this.numClasses || other.ignoreIndex !== this.ignoreIndex) {
      throw new Error(
        `ConfusionMatrix.merge: other has numClasses ${other.numClasses}, ignoreIndex ${other.ignoreIndex}; ` +
          `expected ${this.numClasses}, ${this.ignoreIndex}`,
      );
    }
    for (let k = 0; k < this.counts.length; k++) this.counts[k]! += other.counts[k]!;
    return this;
  }

  /** Clears all counts. */
  reset(): this {
    this.counts.fill(0);
    return this;
  }

  /** Pixels counted so far (ignored pixels excluded). */
  get total(): number {
    let s = 0;
    for (let k = 0; k < this.counts.length; k++) s += this.counts[k]!;
    return s;
  }

  /** Count of pixels with ground truth `gt` predicted as `pred`. */
  at(gt: number, pred: number): number {
    const K = this.numClasses;
    if (!Number.isInteger(gt) || gt < 0 || gt >= K || !Number.isInteger(pred) || pred < 0 || pred >= K) {
      throw new Error(`ConfusionMatrix.at: (${gt}, ${pred}) is outside [0, ${K})²`);
    }
    return this.counts[gt * K + pred]!;
  }

  private stats(): { tp: Float64Array; gtPixels: Float64Array; predPixels: Float64Array } {
    const K = this.numClasses;
    const tp = new Float64Array(K);
    const gtPixels = new Float64Array(K);
    const predPixels = new Float64Array(K);
    for (let g = 0; g < K; g++) {
      for (let p = 0; p < K; p++) {
        const v = this.counts[g * K + p]!;
        gtPixels[g]! += v;
        predPixels[p]! += v;
      }
      tp[g] = this.counts[g * K + g]!;
    }
    return { tp, gtPixels, predPixels };
  }

  /** IoU per class, TP/(TP+FN+FP), as fractions. See `IoUOptions` for classes absent from both maps. */
  iou(opts: IoUOptions = {}): number[] {
    const exclude = (opts.absentClasses ?? 'zero') === 'exclude';
    const { tp, gtPixels, predPixels } = this.stats();
    return Array.from(tp, (t, c) => {
      const union = gtPixels[c]! + predPixels[c]! - t; // TP + FN + FP
      if (union === 0 && exclude) return Number.NaN;
      return t / (union + 1e-20); // spec §3.12: the reference's 1e-20 makes absent classes 0
    });
  }

  /**
   * Mean IoU over all classes (`withBackground: true`, default — the standard VOC number, spec §3.12) or over
   * classes 1…K−1. NaN when no class is left to average.
   */
  meanIoU(opts: MeanIoUOptions = {}): number {
    const { withBackground = true } = opts;
    const ious = this.iou(opts).slice(withBackground ? 0 : 1);
    let sum = 0;
    let count = 0;
    for (const v of ious) {
      if (Number.isNaN(v)) continue;
      sum += v;
      count++;
    }
    return count === 0 ? Number.NaN : sum / count;
  }

  /** Correctly classified pixels over counted pixels; NaN before any pixel was counted. */
  pixelAccuracy(): number {
    const total = this.total;
    if (total === 0) return Number.NaN;
    let diag = 0;
    for (let c = 0; c < this.numClasses; c++) diag += this.counts[c * this.numClasses + c]!;
    return diag / total;
  }

  /** Per-class counts and IoU; `names` (one per class) label them, default the class index. */
  perClass(names?: readonly string[], opts: IoUOptions = {}): ClassMetrics[] {
    if (names !== undefined && names.length !== this.numClasses) {
      throw new Error(`ConfusionMatrix.perClass: ${names.length} names given for ${this.numClasses} classes`);
    }
    const { tp, gtPixels, predPixels } = this.stats();
    const ious = this.iou(opts);
    return ious.map((iou, c) => ({
      index: c,
      name: names?.[c] ?? String(c),
      iou,
      truePositives: tp[c]!,
      falsePositives: predPixels[c]! - tp[c]!,
      falseNegatives: gtPixels[c]! - tp[c]!,
      gtPixels: gtPixels[c]!,
      predPixels: predPixels[c]!,
    }));
  }

  /** Counts and the reference metrics (absent classes as IoU 0), for logs and resumable evaluation. */
  toJSON(): ConfusionMatrixJSON {
    const K = this.numClasses;
    return {
      numClasses: K,
      ignoreIndex: this.ignoreIndex,
      matrix: Array.from({ length: K }, (_, g) => Array.from(this.counts.subarray(g * K, (g + 1) * K))),
      iou: this.iou(),
      meanIoU: this.meanIoU(),
      meanIoUNoBackground: this.meanIoU({ withBackground: false }),
      pixelAccuracy: this.pixelAccuracy(),
    };
  }

  /** Rebuilds a matrix from `toJSON()` output (only `numClasses`, `ignoreIndex` and `matrix` are read). */
  static fromJSON(json: Pick<ConfusionMatrixJSON, 'numClasses' | 'ignoreIndex' | 'matrix'>): ConfusionMatrix {
    const m = new ConfusionMatrix(json.numClasses, { ignoreIndex: json.ignoreIndex });
    const K = json.numClasses;
    if (!Array.isArray(json.matrix) || json.matrix.length !== K) {
      throw new Error(
        `ConfusionMatrix.fromJSON: matrix must have ${K} rows, got ${Array.isArray(json.matrix) ? json.matrix.length : typeof json.matrix}`,
      );
    }
    json.matrix.forEach((row, g) => {
      if (!Array.isArray(row) || row.length !== K)
        throw new Error(`ConfusionMatrix.fromJSON: matrix row ${g} must have ${K} counts`);
      row.forEach((v, p) => {
        if (!Number.isInteger(v) || v < 0)
          throw new Error(`ConfusionMatrix.fromJSON: matrix[${g}][${p}] is ${v}, expected a count`);
        m.counts[g * K + p] = v;
      });
    });
    return m;
  }
}
