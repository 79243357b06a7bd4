/**
 * How well a network predicts image-level labels — what validation can always measure, with or without masks:
 * average precision per class (the area under the precision–recall curve of its scores over the images, as
 * scikit-learn's `average_precision_score`: the mean of the precision at each positive, ties broken so that no
 * positive gains from a tie), its mean over the classes that occur (mAP), and F1 at the decision threshold the
 * predictions use (`eval.fpCut`), per class and over all image–class pairs (micro).
 */

/** Per-class classification numbers. */
export interface ClassScores {
  /** Average precision; NaN for a class with no positive image (left out of mAP). */
  ap: number;
  /** F1 at the threshold; NaN for a class that is neither present nor predicted. */
  f1: number;
  /** Images that have the class. */
  positives: number;
}

export interface ClassificationSummary {
  /** Mean AP over the classes that occur in at least one image. */
  map: number;
  /** Micro F1 over all image–class pairs at the threshold. */
  f1: number;
  precision: number;
  recall: number;
  threshold: number;
  images: number;
  perClass: ClassScores[];
}

/** Collects per-image class scores and labels; `summary()` computes AP and F1. */
export class ClassificationMeter {
  private readonly scores: number[][];
  private readonly truth: boolean[][];
  private count = 0;

  /** @param numClasses foreground classes K (labels are 1..K). */
  constructor(readonly numClasses: number) {
    this.scores = Array.from({ length: numClasses }, () => []);
    this.truth = Array.from({ length: numClasses }, () => []);
  }

  /** One image: its K scores (probabilities) and its 1-based labels. */
  add(scores: ArrayLike<number>, labels: readonly number[]): void {
    if (scores.length !== this.numClasses)
      throw new Error(`ClassificationMeter.add: ${scores.length} scores, expected ${this.numClasses}`);
    const has = new Set(labels);
    for (let c = 0; c < this.numClasses; c++) {
      this.scores[c]!.push(scores[c]!);
      this.truth[c]!.push(has.has(c + 1));
    }
    this.count++;
  }

  get images(): number {
    return this.count;
  }

  summary(threshold: number): ClassificationSummary {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    const perClass = this.scores.map((s, c) => {
      const t = this.truth[c]!;
      let ctp = 0;
      let cfp = 0;
      let cfn = 0;
      for (let i = 0; i < s.length; i++) {
        const pred = s[i]! > threshold;
        if (pred && t[i]) ctp++;
        else if (pred) cfp++;
        else if (t[i]) cfn++;
      }
      tp += ctp;
      fp += cfp;
      fn += cfn;
      return {
        ap: averagePrecision(s, t),
        f1: ctp + cfp + cfn ? (2 * ctp) / (2 * ctp + cfp + cfn) : Number.NaN,
        positives: t.filter(Boolean).length,
      };
    });
    const aps = perClass.map((p) => p.ap).filter((x) => !Number.isNaN(x));
    return {
      map: aps.length ? aps.reduce((a, b) => a + b, 0) / aps.length : Number.NaN,
      f1: tp + fp + fn ? (2 * tp) / (2 * tp + fp + fn) : Number.NaN,
      precision: tp + fp ? tp / (tp + fp) : Number.NaN,
      recall: tp + fn ? tp / (tp + fn) : Number.NaN,
      threshold,
      images: this.count,
      perClass,
    };
  }
}

/**
 * Average precision of `scores` against `truth`: Σ over thresholds at each distinct score (descending) of
 * (R_k − R_{k−1}) · P_k — the step-wise area under the precision–recall curve. NaN without positives.
 */
export function averagePrecision(scores: readonly number[], truth: readonly boolean[]): number {
  const positives = truth.filter(Boolean).length;
  if (!positives) return Number.NaN;
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let tp = 0;
  let fp = 0;
  let ap = 0;
  let prevRecall = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    if (truth[i]) tp++;
    else fp++;
    // a threshold sits between distinct scores only: tied images enter together
    const next = order[k + 1];
    if (next !== undefined && scores[next] === scores[i]) continue;
    const recall = tp / positives;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  }
  return ap;
}
