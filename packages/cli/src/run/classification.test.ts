import { describe, expect, it } from 'vitest';
import { averagePrecision, ClassificationMeter } from './classification.js';

describe('classification metrics', () => {
  it('average precision equals hand-computed values (scikit-learn average_precision_score), ties included', () => {
    // sklearn: average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333…
    expect(averagePrecision([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBeCloseTo(5 / 6, 12);
    // perfect ranking, and the worst one (positives last): P at the positives 1/3, 2/4 → (1/3 + 1/2) / 2
    expect(averagePrecision([0.9, 0.8, 0.1], [true, true, false])).toBe(1);
    expect(averagePrecision([0.9, 0.8, 0.2, 0.1], [false, false, true, true])).toBeCloseTo(
      (1 / 3 + 1 / 2) / 2,
      12,
    );
    // a tie of a positive and a negative counts as one threshold: P = 1/2 there (sklearn gives 0.5 for this)
    expect(averagePrecision([0.5, 0.5], [true, false])).toBe(0.5);
    expect(averagePrecision([0.3, 0.2], [false, false])).toBeNaN();
  });

  it('mAP over the classes that occur, micro F1 and per-class F1 at the threshold', () => {
    const m = new ClassificationMeter(3);
    m.add([0.9, 0.2, 0.05], [1]); // class 1 right; nothing else predicted
    m.add([0.4, 0.8, 0.01], [2]); // class 1 false positive at 0.3, class 2 right
    m.add([0.1, 0.25, 0.02], [1, 2]); // class 1 missed, class 2 missed (0.25 ≤ 0.3)
    const s = m.summary(0.3);
    // class 1: scores .9 (+) .4 (−) .1 (+) → P@.9 = 1, then .4 (−), P@.1 = 2/3 → AP = (1 + 2/3) / 2
    expect(s.perClass[0]!.ap).toBeCloseTo((1 + 2 / 3) / 2, 12);
    // class 2: .8 (+) .25 (+) .2 (−) → AP 1
    expect(s.perClass[1]!.ap).toBe(1);
    expect(s.perClass[2]!.ap).toBeNaN(); // class 3 never occurs
    expect(s.map).toBeCloseTo(((1 + 2 / 3) / 2 + 1) / 2, 12);
    // at 0.3: TP = 2 (img0 c1, img1 c2), FP = 1 (img1 c1), FN = 2 (img2 c1, c2)
    expect(s.precision).toBeCloseTo(2 / 3, 12);
    expect(s.recall).toBeCloseTo(2 / 4, 12);
    expect(s.f1).toBeCloseTo((2 * 2) / (2 * 2 + 1 + 2), 12);
    expect(s.perClass[0]!.f1).toBeCloseTo(2 / (2 + 1 + 1), 12);
    expect(s.perClass[2]!.f1).toBeNaN();
    expect(s.images).toBe(3);
    expect(() => m.add([0.1], [])).toThrow('1 scores, expected 3');
  });
});
