/**
 * "Train until it fits": the stop rule of FickleNet's classifier stage (`ficklenet.classifierPatience`,
 * `ficklenet.classifierMinDelta`). FickleNet does not publish its classifier's schedule (spec §5.2), and a fixed
 * small epoch count stops some data sets mid-descent; the stage instead runs until its epoch-mean training loss
 * stops falling. A pure function of the losses of the completed epochs, so a resumed run takes the same decision
 * at the same epoch (the losses travel in the checkpoint).
 */

export interface PlateauRule {
  /** Epochs without an improvement before stopping; 0 turns the rule off. */
  patience: number;
  /** An improvement is a loss below the best so far by more than this fraction of it. */
  minDelta: number;
}

export interface PlateauVerdict {
  stop: boolean;
  /** 0-based epoch of the last improvement (the best loss so far), or -1 with no epochs. */
  bestEpoch: number;
  best: number;
}

/** Whether training stops after the epochs whose mean losses are `losses` (in order). */
export function plateau(losses: readonly number[], rule: PlateauRule): PlateauVerdict {
  let best = Number.POSITIVE_INFINITY;
  let bestEpoch = -1;
  losses.forEach((loss, e) => {
    if (bestEpoch < 0 || loss < best * (1 - rule.minDelta)) {
      best = loss;
      bestEpoch = e;
    }
  });
  const stop = rule.patience > 0 && bestEpoch >= 0 && losses.length - 1 - bestEpoch >= rule.patience;
  return { stop, bestEpoch, best };
}
