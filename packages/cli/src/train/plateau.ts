/**
 * "Train until it fits": the stop rule of FickleNet's classifier stage (`ficklenet.classifierPatience`,
 * `ficklenet.classifierMinDelta`). FickleNet does not publish its classifier's schedule (spec §5.2), and a fixed
 * small epoch count stops some data sets mid-descent; the stage instead runs until its epoch-mean training loss
 * stops falling — once it has fallen below what knowing the class frequencies alone achieves (a classifier whose
 * loss flattens at that level has learned which classes are common, not what they look like; on hard data the
 * loss can sit there for epochs before it starts to fall again). A pure function of the losses of the completed
 * epochs, so a resumed run takes the same decision at the same epoch (the losses travel in the checkpoint).
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
  /**
   * Whether the best loss lies below its epoch's prior loss (see {@link priorLoss}) by more than `minDelta` of it;
   * true where no prior is known. The rule stops only a fitted classifier.
   */
  fit: boolean;
}

/**
 * Whether training stops after the epochs whose mean losses are `losses` (in order). `priors[e]`, where given, is
 * epoch e's mean {@link priorLoss}: the rule does not stop while the best loss is not below it by `minDelta`.
 */
export function plateau(
  losses: readonly number[],
  rule: PlateauRule,
  priors: readonly number[] = [],
): PlateauVerdict {
  let best = Number.POSITIVE_INFINITY;
  let bestEpoch = -1;
  losses.forEach((loss, e) => {
    if (bestEpoch < 0 || loss < best * (1 - rule.minDelta)) {
      best = loss;
      bestEpoch = e;
    }
  });
  const prior = priors[bestEpoch];
  const fit =
    bestEpoch < 0 || prior === undefined || !Number.isFinite(prior) || best < prior * (1 - rule.minDelta);
  const stop = rule.patience > 0 && bestEpoch >= 0 && losses.length - 1 - bestEpoch >= rule.patience && fit;
  return { stop, bestEpoch, best, fit };
}

/** Epochs {@link targetReached} averages: one epoch's mean loss swings by ±50 % near zero, five together do not. */
export const TARGET_WINDOW = 5;

export interface TargetVerdict {
  stop: boolean;
  /** Mean loss of the last {@link TARGET_WINDOW} epochs (NaN before that many). */
  recent: number;
  /** The first epoch (1-based) whose {@link TARGET_WINDOW}-epoch mean was at most the target; 0 if none yet. */
  reachedEpoch: number;
  /** That mean (NaN if none). */
  reachedLoss: number;
}

/**
 * The loss-target stop (`ficklenet.classifierTargetLoss`): training is done once the mean of the last
 * {@link TARGET_WINDOW} epoch-mean losses is at most `targetLoss` — "until it fits" read as a level of the loss, which
 * a harder data set reaches later, where a fixed epoch count stops every data set at the same point. Reaching the
 * level is an event: a classifier held to a minimum number of epochs (`ficklenet.classifierMinEpochs`) that reached it
 * earlier stays fitted although one epoch's loss near zero swings by ±50 %. `fit` is {@link plateau}'s verdict on the
 * class-frequency level: a loss at the target but not below that level (data whose labels barely vary) does not
 * stop. 0 turns the rule off. A pure function of the completed epochs' losses, so a resumed run stops at the same
 * epoch.
 */
export function targetReached(losses: readonly number[], targetLoss: number, fit: boolean): TargetVerdict {
  let reachedEpoch = 0;
  let reachedLoss = Number.NaN;
  let recent = Number.NaN;
  for (let end = TARGET_WINDOW; end <= losses.length; end++) {
    let sum = 0;
    for (let e = end - TARGET_WINDOW; e < end; e++) sum += losses[e]!;
    recent = sum / TARGET_WINDOW;
    if (targetLoss > 0 && !reachedEpoch && recent <= targetLoss) {
      reachedEpoch = end;
      reachedLoss = recent;
    }
  }
  return { stop: reachedEpoch > 0 && fit, recent, reachedEpoch, reachedLoss };
}

/** Per-class counts of positive labels over some images (saved in a mid-epoch checkpoint). */
export interface LabelCountsState {
  images: number;
  positives: number[];
}

/**
 * Counts multi-hot image labels as batches go by, for {@link LabelCounts.priorLoss}: the multi-label soft-margin
 * loss (spec §5.2) of the best constant prediction for the images counted — each class scored at its frequency f,
 * a loss of −(f·ln f + (1 − f)·ln(1 − f)) per class, averaged over the classes (a class never or always present
 * costs 0). Over an epoch, it is the level a classifier that knows only which classes are common reaches.
 */
export class LabelCounts {
  images = 0;
  readonly positives: number[];

  constructor(
    readonly numClasses: number,
    saved?: LabelCountsState,
  ) {
    if (saved && saved.positives.length !== numClasses)
      throw new RangeError(
        `LabelCounts: saved counts have ${saved.positives.length} classes, not ${numClasses}`,
      );
    this.positives = saved ? [...saved.positives] : new Array<number>(numClasses).fill(0);
    this.images = saved?.images ?? 0;
  }

  /** Adds `n` rows of multi-hot labels (row-major, `numClasses` a row; a value above 0.5 is a positive). */
  add(labels: ArrayLike<number>, n: number): this {
    const k = this.numClasses;
    if (labels.length !== n * k)
      throw new RangeError(`LabelCounts: ${labels.length} labels are not ${n} rows of ${k} classes`);
    for (let i = 0; i < n; i++)
      for (let c = 0; c < k; c++) if (labels[i * k + c]! > 0.5) this.positives[c]!++;
    this.images += n;
    return this;
  }

  /** The loss of predicting each class at its frequency among the counted images (0 with none counted). */
  priorLoss(): number {
    if (this.images === 0 || this.numClasses === 0) return 0;
    let sum = 0;
    for (const pos of this.positives) {
      const f = pos / this.images;
      if (f > 0 && f < 1) sum -= f * Math.log(f) + (1 - f) * Math.log(1 - f);
    }
    return sum / this.numClasses;
  }

  state(): LabelCountsState {
    return { images: this.images, positives: [...this.positives] };
  }
}

/** {@link LabelCounts.priorLoss} of `n` rows of `k` multi-hot labels. */
export function priorLoss(labels: ArrayLike<number>, n: number, k: number): number {
  return new LabelCounts(k).add(labels, n).priorLoss();
}

/**
 * The classifier's learning rate at stage step `step` (`ficklenet.classifierDecayEpochs`): `lr` for the first
 * `totalSteps − decaySteps` steps, then a half cosine from `lr` down to 0, reached after the last step
 * (`decaySteps` is clamped to `totalSteps`; 0 keeps `lr` throughout). A function of the step alone, so a resumed run
 * continues the same schedule. Steps past `totalSteps` (none in a run) get 0.
 */
export function cosineTailLr(lr: number, step: number, totalSteps: number, decaySteps: number): number {
  const n = Math.min(decaySteps, totalSteps);
  const k = step - (totalSteps - n);
  if (n <= 0 || k < 0) return lr;
  if (k >= n) return 0;
  return 0.5 * lr * (1 + Math.cos((Math.PI * k) / n));
}
