import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../testing/index.js';
import { ConfusionMatrix } from './confusion.js';

// Hand-computed example, K = 3. (gt, pred) pairs: (0,0) (0,1) (1,1) (1,1) (2,0) [255 skipped] (1,2) (0,0)
// matrix rows = gt: [2 1 0] [0 2 1] [1 0 0]; TP [2 2 0]; gt sums [3 3 1]; pred sums [3 3 1]
// IoU0 = 2/(3+3−2) = 0.5, IoU1 = 0.5, IoU2 = 0/(1+1) = 0; mIoU 1/3, without background 0.25; accuracy 4/7.
const GT = [0, 0, 1, 1, 2, 255, 1, 0];
const PRED = [0, 1, 1, 1, 0, 2, 2, 0];

describe('ConfusionMatrix', () => {
  it('accumulates a hand-computed matrix and its metrics', () => {
    const m = new ConfusionMatrix(3).update(Int32Array.from(PRED), Uint8Array.from(GT));
    expect(m.toJSON().matrix).toEqual([
      [2, 1, 0],
      [0, 2, 1],
      [1, 0, 0],
    ]);
    expect(m.total).toBe(7);
    expect(m.at(1, 2)).toBe(1);
    expect(m.iou()).toEqual([0.5, 0.5, 0]);
    expect(m.meanIoU()).toBeCloseTo(1 / 3, 12);
    expect(m.meanIoU({ withBackground: false })).toBeCloseTo(0.25, 12);
    expect(m.pixelAccuracy()).toBeCloseTo(4 / 7, 12);
    // A second image: every pixel right → counts add up over images.
    m.update([2, 2, 1], [2, 2, 1]);
    expect(m.toJSON().matrix).toEqual([
      [2, 1, 0],
      [0, 3, 1],
      [1, 0, 2],
    ]);
    // IoU1 = 3/(4+4−3) = 0.6, IoU2 = 2/(3+3−2) = 0.5
    expect(m.iou()).toEqual([0.5, 0.6, 0.5]);
  });

  it('absent classes: IoU 0 and counted (reference, spec §3.12) or excluded', () => {
    const m = new ConfusionMatrix(4).update(PRED, GT);
    expect(m.iou()).toEqual([0.5, 0.5, 0, 0]);
    expect(m.meanIoU()).toBeCloseTo(0.25, 12);
    const ex = m.iou({ absentClasses: 'exclude' });
    expect(ex.slice(0, 3)).toEqual([0.5, 0.5, 0]); // class 2 is present (in gt), so it stays at 0
    expect(ex[3]).toBeNaN();
    expect(m.meanIoU({ absentClasses: 'exclude' })).toBeCloseTo(1 / 3, 12);
    expect(m.meanIoU({ absentClasses: 'exclude', withBackground: false })).toBeCloseTo(0.25, 12);
    const empty = new ConfusionMatrix(2);
    expect(empty.meanIoU()).toBe(0);
    expect(empty.meanIoU({ absentClasses: 'exclude' })).toBeNaN();
    expect(empty.pixelAccuracy()).toBeNaN();
  });

  it('per class, merge, JSON round trip', () => {
    const a = new ConfusionMatrix(3).update(PRED, GT);
    expect(a.perClass(['bg', 'cat', 'dog'])[1]).toEqual({
      index: 1,
      name: 'cat',
      iou: 0.5,
      truePositives: 2,
      falsePositives: 1,
      falseNegatives: 1,
      gtPixels: 3,
      predPixels: 3,
    });
    expect(a.perClass()[2]!.name).toBe('2');
    expect(() => a.perClass(['bg'])).toThrow(/1 names given for 3 classes/);
    const b = new ConfusionMatrix(3).update([0, 0], [0, 2]);
    a.merge(b);
    expect(a.at(0, 0)).toBe(3);
    expect(a.at(2, 0)).toBe(2);
    expect(() => a.merge(new ConfusionMatrix(4))).toThrow(
      /other has numClasses 4, ignoreIndex 255; expected 3, 255/,
    );
    const json = JSON.parse(JSON.stringify(a));
    expect(json.meanIoU).toBeCloseTo(a.meanIoU(), 12);
    const back = ConfusionMatrix.fromJSON(json);
    expect(back.counts).toEqual(a.counts);
    expect(() => ConfusionMatrix.fromJSON({ ...json, matrix: [[1]] })).toThrow(
      /matrix must have 3 rows, got 1/,
    );
    a.reset();
    expect(a.total).toBe(0);
  });

  it('rejects bad labels and sizes, adding nothing', () => {
    const m = new ConfusionMatrix(21);
    expect(() => m.update([0, 1], [0, 21])).toThrow(
      /gt value 21 at index 1 is neither a class in \[0, 21\) nor the ignore index 255/,
    );
    expect(() => m.update([0, 1, 0], [0, 1, -1])).toThrow(/gt value -1 at index 2/);
    expect(() => m.update([0, 30], [0, 1])).toThrow(/pred value 30 at index 1 is not a class in \[0, 21\)/);
    expect(() => m.update([0, 1.5], [0, 1])).toThrow(/pred value 1.5 at index 1 is not an integer/);
    expect(() => m.update([0, 1, 2], [0, 1])).toThrow(
      /pred shape \[3\] \(3 values\) and gt shape \[2\] \(2 values\) differ in size/,
    );
    expect(m.total).toBe(0);
    // Predictions at ignored pixels may be anything (compute_jaccard even sets them to 255).
    m.update([255, 3], [255, 3]);
    expect(m.total).toBe(1);
    expect(() => new ConfusionMatrix(3, { ignoreIndex: 2 })).toThrow(
      /ignoreIndex must be an integer outside the class range \[0, 3\), got 2/,
    );
    expect(() => new ConfusionMatrix(0)).toThrow(/numClasses must be an integer in \[1, 4096\], got 0/);
  });

  it('updates a 500×375 image in about a millisecond', () => {
    const n = 500 * 375;
    const gt = new Uint8Array(n);
    const pred = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      gt[i] = i % 97 === 0 ? 255 : (i * 7) % 21;
      pred[i] = (i * 13) % 21;
    }
    const m = new ConfusionMatrix(21);
    for (let r = 0; r < 5; r++) m.update(pred, gt); // warm up the JIT
    const times: number[] = [];
    for (let r = 0; r < 15; r++) {
      const t0 = performance.now();
      m.update(pred, gt);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    // Typically ~0.3–0.6 ms; the bound leaves room for a loaded test machine.
    expect(times[7]).toBeLessThan(4);
    expect(m.total).toBe(20 * (n - Math.ceil(n / 97)));
  });
});

describe.each(TEST_BACKENDS)('ConfusionMatrix with tensors on %s', (backend) => {
  it('takes int32 and float32 tensors, naming shapes on mismatch', async () => {
    await useBackend(backend);
    const pred = tf.tensor(PRED, [2, 4], 'int32');
    const gt = tf.tensor(GT, [2, 4], 'float32');
    const m = new ConfusionMatrix(3).update(pred, gt);
    expect(m.iou()).toEqual([0.5, 0.5, 0]);
    const gt2 = tf.tensor(GT.slice(0, 6), [2, 3], 'int32');
    expect(() => m.update(pred, gt2)).toThrow(
      /pred shape \[2,4\] \(8 values\) and gt shape \[2,3\] \(6 values\) differ in size/,
    );
    tf.dispose([pred, gt, gt2]);
  });
});
