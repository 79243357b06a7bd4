import { describe, expect, it } from 'vitest';
import { LabelCounts, plateau, priorLoss } from './plateau.js';

describe('plateau: the classifier stage stops when its loss stops falling', () => {
  it('counts epochs since the last improvement by more than minDelta of the best', () => {
    const rule = { patience: 2, minDelta: 0.1 };
    // 1.0 → 0.8 (−20 %: improves) → 0.75 (−6 %: not) → 0.74 (not) → stop after the 4th epoch
    expect(plateau([1.0, 0.8, 0.75], rule)).toEqual({ stop: false, bestEpoch: 1, best: 0.8, fit: true });
    expect(plateau([1.0, 0.8, 0.75, 0.74], rule)).toEqual({ stop: true, bestEpoch: 1, best: 0.8, fit: true });
    // a fall just past 10 % resets the count; just short of it does not
    expect(plateau([1.0, 0.8, 0.75, 0.7199], rule).stop).toBe(false);
    expect(plateau([1.0, 0.8, 0.75, 0.7201], rule)).toMatchObject({ stop: true, bestEpoch: 1 });
    // a rise never counts as progress
    expect(plateau([0.5, 0.9, 0.95], rule)).toEqual({ stop: true, bestEpoch: 0, best: 0.5, fit: true });
  });

  it('never stops with patience 0, or before it has seen patience + 1 epochs', () => {
    expect(plateau([1, 1, 1, 1, 1], { patience: 0, minDelta: 0.1 }).stop).toBe(false);
    expect(plateau([], { patience: 1, minDelta: 0 })).toEqual({
      stop: false,
      bestEpoch: -1,
      best: Infinity,
      fit: true,
    });
    expect(plateau([1], { patience: 1, minDelta: 0 }).stop).toBe(false);
    // minDelta 0: any fall counts
    expect(plateau([1, 0.999999, 0.999998], { patience: 1, minDelta: 0 }).stop).toBe(false);
    expect(plateau([1, 0.999999, 0.999999], { patience: 1, minDelta: 0 }).stop).toBe(true);
  });

  it('does not stop while the best loss is not below its epoch prior loss by minDelta', () => {
    const rule = { patience: 2, minDelta: 0.1 };
    // the loss flattens at 0.18 where predicting class frequencies gives 0.19: not fitted, it trains on
    const flat = [0.25, 0.18, 0.179, 0.178];
    const priors = [0.19, 0.19, 0.19, 0.19];
    expect(plateau(flat, rule)).toMatchObject({ stop: true, bestEpoch: 1, fit: true });
    expect(plateau(flat, rule, priors)).toEqual({ stop: false, bestEpoch: 1, best: 0.18, fit: false });
    // 0.1709 is 10.05 % under 0.19 (fit), 0.1711 is 9.9 % (not); the prior of the best epoch is the one used
    expect(plateau([0.25, 0.1709, 0.17, 0.17], rule, priors)).toMatchObject({ stop: true, fit: true });
    expect(plateau([0.25, 0.1711, 0.17, 0.17], rule, priors)).toMatchObject({ stop: false, fit: false });
    expect(plateau([0.25, 0.1711, 0.17, 0.17], rule, [0.19, 0.3, 0.1, 0.1])).toMatchObject({ stop: true });
    // a later fall after the flat stretch: it stops once that is fitted and flat in turn
    const later = [...flat, 0.15, 0.149, 0.148];
    expect(plateau(later, rule, [...priors, 0.19, 0.19, 0.19])).toMatchObject({ stop: true, bestEpoch: 4 });
    // unknown priors (NaN, e.g. epochs of an older checkpoint) count as fitted
    expect(plateau(flat, rule, [Number.NaN, Number.NaN])).toMatchObject({ stop: true, fit: true });
  });
});

describe('priorLoss: the loss of predicting each class at its frequency', () => {
  it('matches hand-computed binary entropies averaged over classes', () => {
    // 4 rows × 3 classes: class 0 in 1 of 4 rows, class 1 in 2, class 2 in none
    const labels = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    const h = (f: number) => -(f * Math.log(f) + (1 - f) * Math.log(1 - f));
    expect(priorLoss(labels, 4, 3)).toBeCloseTo((h(0.25) + h(0.5) + 0) / 3, 12);
    expect(h(0.25)).toBeCloseTo(0.5623351446, 9);
    // a class present everywhere costs nothing either
    expect(priorLoss([1, 1, 1, 1], 2, 2)).toBe(0);
    expect(priorLoss([], 0, 5)).toBe(0);
  });

  it('is the multi-label soft-margin loss of the constant logits log(f / (1 − f))', () => {
    const labels = [1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0]; // 6 rows × 3
    const n = 6;
    const k = 3;
    let loss = 0;
    for (let c = 0; c < k; c++) {
      let pos = 0;
      for (let i = 0; i < n; i++) pos += labels[i * k + c]!;
      const z = Math.log(pos / n / (1 - pos / n));
      for (let i = 0; i < n; i++) {
        const y = labels[i * k + c]!;
        // −[y log σ(z) + (1 − y) log σ(−z)]
        loss -= y * Math.log(1 / (1 + Math.exp(-z))) + (1 - y) * Math.log(1 / (1 + Math.exp(z)));
      }
    }
    expect(priorLoss(labels, n, k)).toBeCloseTo(loss / (n * k), 12);
  });

  it('names a size mismatch', () => {
    expect(() => priorLoss([1, 0, 1], 2, 2)).toThrow(/3 labels are not 2 rows of 2 classes/);
    expect(() => new LabelCounts(3, { images: 2, positives: [1, 1] })).toThrow(/2 classes, not 3/);
  });

  it('counts batch by batch to the same value as the whole set, and restores from its saved state', () => {
    const labels = [1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0]; // 6 rows × 3
    const a = new LabelCounts(3).add(labels.slice(0, 6), 2);
    const b = new LabelCounts(3, a.state()).add(labels.slice(6), 4);
    expect(b.state()).toEqual({ images: 6, positives: [3, 1, 4] });
    expect(b.priorLoss()).toBe(priorLoss(labels, 6, 3));
    // not the mean of per-batch values: a batch's frequencies fit the batch (2 rows: [1,0,1],[1,0,1] → 0)
    expect(new LabelCounts(3).add([1, 0, 1, 1, 0, 1], 2).priorLoss()).toBe(0);
    expect(new LabelCounts(3).priorLoss()).toBe(0);
  });
});
