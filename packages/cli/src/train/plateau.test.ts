import { describe, expect, it } from 'vitest';
import { plateau } from './plateau.js';

describe('plateau: the classifier stage stops when its loss stops falling', () => {
  it('counts epochs since the last improvement by more than minDelta of the best', () => {
    const rule = { patience: 2, minDelta: 0.1 };
    // 1.0 → 0.8 (−20 %: improves) → 0.75 (−6 %: not) → 0.74 (not) → stop after the 4th epoch
    expect(plateau([1.0, 0.8, 0.75], rule)).toEqual({ stop: false, bestEpoch: 1, best: 0.8 });
    expect(plateau([1.0, 0.8, 0.75, 0.74], rule)).toEqual({ stop: true, bestEpoch: 1, best: 0.8 });
    // a fall just past 10 % resets the count; just short of it does not
    expect(plateau([1.0, 0.8, 0.75, 0.7199], rule).stop).toBe(false);
    expect(plateau([1.0, 0.8, 0.75, 0.7201], rule)).toMatchObject({ stop: true, bestEpoch: 1 });
    // a rise never counts as progress
    expect(plateau([0.5, 0.9, 0.95], rule)).toEqual({ stop: true, bestEpoch: 0, best: 0.5 });
  });

  it('never stops with patience 0, or before it has seen patience + 1 epochs', () => {
    expect(plateau([1, 1, 1, 1, 1], { patience: 0, minDelta: 0.1 }).stop).toBe(false);
    expect(plateau([], { patience: 1, minDelta: 0 })).toEqual({ stop: false, bestEpoch: -1, best: Infinity });
    expect(plateau([1], { patience: 1, minDelta: 0 }).stop).toBe(false);
    // minDelta 0: any fall counts
    expect(plateau([1, 0.999999, 0.999998], { patience: 1, minDelta: 0 }).stop).toBe(false);
    expect(plateau([1, 0.999999, 0.999999], { patience: 1, minDelta: 0 }).stop).toBe(true);
  });
});
