/**
 * One WS-FCN training step (spec §3.8–§3.9, DESIGN §4): classification loss always (nGWP + focal scores,
 * multi-label soft margin); from epoch `pretrainEpochs` on also the self-supervised mask loss (PAMR on the
 * detached masks → clean with the image labels → pseudo ground truth → balanced cross-entropy on the logits).
 * Semi-supervised batches carry true masks for some images, which take the place of those images' pseudo ground
 * truth in the same loss.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  applyModel,
  backgroundSoftmax,
  balancedMaskLoss,
  classScores,
  cleanMasks,
  GroupedOptimizer,
  type GroupedOptimizerOptions,
  multiLabelSoftMarginLoss,
  noGrad,
  type PseudoGtOptions,
  pseudoGtMask,
  resizeBilinear,
} from '@wsss/core';
import { pamr } from '@wsss/pamr';
import type { WsFcn } from '../model/wsfcn.js';

/**
 * Loss settings of a WS-FCN training step (spec §3.8–§3.9): when the mask loss starts and its weight, the
 * focal penalty of the class scores (p, λ), PAMR's iterations and dilations, and the pseudo ground-truth
 * thresholds.
 */
export interface LossConfig {
  /** Mask loss from this (0-based) epoch on (TRAIN.PRETRAIN; WS-FCN 7). */
  pretrainEpochs: number;
  /** Weight of the mask loss (MASK_LOSS_BCE, 1.0). */
  maskLossWeight: number;
  focalP: number;
  focalLambda: number;
  pamrIterations: number;
  pamrDilations: number[];
  pseudo: PseudoGtOptions;
}

/**
 * Default loss settings of WS-FCN on VOC: mask loss from epoch 7 with weight 1, focal p 3 / λ 0.01, PAMR with
 * 10 iterations at dilations 1, 2, 4, 8, 12, 24, pseudo ground truth with factors 0.7 (background) / 0.6
 * (foreground) and floor 0.2.
 */
export const WSFCN_LOSS_DEFAULTS: LossConfig = {
  pretrainEpochs: 7,
  maskLossWeight: 1,
  focalP: 3,
  focalLambda: 0.01,
  pamrIterations: 10,
  pamrDilations: [1, 2, 4, 8, 12, 24],
  pseudo: { bgFactor: 0.7, fgFactor: 0.6, floor: 0.2 },
};

/**
 * A training batch: normalised images, the raw [0,1] images PAMR looks at (spec §1.2), multi-hot labels, and for
 * semi-supervised training the true masks of some images.
 */
export interface TrainBatch {
  images: tf.Tensor4D;
  raw: tf.Tensor4D;
  labels: tf.Tensor2D;
  /** (N,H,W) int32 true masks at the images' size, 255 = ignore; only the images flagged in `hasMask` have one. */
  masks?: tf.Tensor3D;
  /** With `masks`: 1 for the images whose mask replaces the PAMR pseudo ground truth in the mask loss. */
  hasMask?: Uint8Array;
}

/** What one step reports (plain numbers). */
export interface StepResult {
  loss: number;
  clsLoss: number;
  maskLoss: number | null;
  /** Fraction of images whose mask loss was gated on (spec §3.8.6); null in the pretraining phase. */
  maskGate: number | null;
}

/** What {@link wsFcnLosses} returns: the total, its parts, and the mask loss's per-image gate (spec §3.8.6). */
export interface LossTensors {
  loss: tf.Scalar;
  clsLoss: tf.Scalar;
  maskLoss?: tf.Scalar;
  gate?: tf.Tensor1D;
}

/** The WS-FCN losses for a batch (spec §3.8); call inside a gradient computation. */
export function wsFcnLosses(
  net: WsFcn,
  batch: TrainBatch,
  epoch: number,
  cfg: LossConfig,
  training = true,
): LossTensors {
  const z = applyModel(net.model, batch.images, { training }) as tf.Tensor4D;
  const { logits, masks } = backgroundSoftmax(z);
  const cls = classScores(logits, masks, { focalP: cfg.focalP, focalLambda: cfg.focalLambda });
  const clsLoss = multiLabelSoftMarginLoss(cls, batch.labels);
  if (epoch < cfg.pretrainEpochs) return { loss: clsLoss, clsLoss };
  const [, h, w] = masks.shape;
  const [, H, W] = batch.raw.shape;
  // The targets of the mask loss carry no gradient (spec §3.8): computed with the tape off, so tfjs keeps none of
  // the full-resolution tensors of PAMR, cleaning and thresholding for the backward pass (what leaves is G alone)
  const gt = noGrad((): { pseudo: tf.Tensor4D; trusted?: tf.Tensor1D } => {
    // PAMR sees the raw image at mask resolution and the masks (spec §3.6, §3.9)
    const rawSmall = resizeBilinear(batch.raw, [h, w], { alignCorners: true });
    const refined = pamr(rawSmall, masks, { iterations: cfg.pamrIterations, dilations: cfg.pamrDilations });
    const cleaned = cleanMasks(resizeBilinear(refined, [H, W], { alignCorners: true }), batch.labels);
    const pseudo = pseudoGtMask(cleaned, cfg.pseudo);
    // semi-supervised: an image with a true mask trains on it instead of its pseudo ground truth (one-hot; 255 →
    // no class, ignored), and is never gated off
    if (!batch.masks || !batch.hasMask?.some((v) => v === 1)) return { pseudo };
    const n = batch.hasMask.length;
    const trusted = tf.tensor1d(Float32Array.from(batch.hasMask));
    const pick = tf.reshape(trusted, [n, 1, 1, 1]);
    const truth = tf.oneHot(batch.masks, pseudo.shape[3], 1, 0, 'float32') as tf.Tensor4D;
    return { pseudo: tf.add(tf.mul(truth, pick), tf.mul(pseudo, tf.sub(1, pick))) as tf.Tensor4D, trusted };
  });
  const { loss: maskLoss, gate } = balancedMaskLoss(
    logits,
    gt.pseudo,
    batch.labels,
    gt.trusted ? { trusted: gt.trusted } : {},
  );
  return {
    loss: tf.add(clsLoss, tf.mul(maskLoss, cfg.maskLossWeight)) as tf.Scalar,
    clsLoss,
    maskLoss,
    gate,
  };
}

/**
 * Reads scalar tensors asynchronously (webgpu in Node has no synchronous read-back), then disposes them all.
 */
export async function readScalars(t: Record<string, tf.Tensor>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    for (const [k, v] of Object.entries(t)) out[k] = (await v.data())[0]!;
  } finally {
    tf.dispose(Object.values(t));
  }
  return out;
}

/** Sizes of `parts` micro-batches of `n` images: as equal as possible, the larger ones first (7 in 3: 3, 2, 2). */
export function microBatchSizes(n: number, parts: number): number[] {
  const m = Math.max(1, Math.min(parts, n));
  return Array.from({ length: m }, (_, j) => Math.floor(n / m) + (j < n % m ? 1 : 0));
}

/** Images [start, start + n) of a batch (tensors the caller disposes, or a tidy scope does). */
export function sliceBatch(b: TrainBatch, start: number, n: number): TrainBatch {
  const four = (t: tf.Tensor4D) => tf.slice(t, [start, 0, 0, 0], [n, -1, -1, -1]);
  return {
    images: four(b.images),
    raw: four(b.raw),
    labels: tf.slice(b.labels, [start, 0], [n, -1]),
    ...(b.masks ? { masks: tf.slice(b.masks, [start, 0, 0], [n, -1, -1]) } : {}),
    ...(b.hasMask ? { hasMask: b.hasMask.subarray(start, start + n) } : {}),
  };
}

/** Trains a WS-FCN with the reference's parameter groups and losses, one batch at a time. */
export class WsFcnTrainer {
  readonly optimizer: GroupedOptimizer;
  readonly loss: LossConfig;
  /** Micro-batches per optimizer step (gradient accumulation). */
  readonly accumulate: number;
  private readonly training: boolean;

  constructor(
    readonly net: WsFcn,
    opts: {
      optimizer: GroupedOptimizerOptions;
      weightDecay?: number;
      lrMults?: readonly number[];
      loss?: Partial<LossConfig>;
      /**
       * Split each batch into this many micro-batches, run them one after the other and apply one update from
       * their summed gradients (`train.accumulate`): the memory of a micro-batch, the update of the whole batch.
       * The losses are means over images, so each micro-batch's loss is weighted by its share of the images and
       * the update equals the full batch's, but for the train-mode BatchNorms (SF2, the head: spec §1.5), which
       * normalise each micro-batch by its own statistics — as the reference's multi-GPU training normalised each
       * GPU's share, and PyTorch does without SyncBN — and update their running statistics once per micro-batch.
       * Default 1.
       */
      accumulate?: number;
      /**
       * Backbone stages (2…7) whose units recompute their activations in the backward pass instead of keeping them
       * (`train.recompute`, spec-neutral: the gradients are the same). Default none.
       */
      recompute?: readonly number[];
      /**
       * The context and fusion modules (FCA, SF2) recompute their activations in the backward pass too
       * (`train.recomputeModules`). Default false.
       */
      recomputeModules?: boolean;
      /**
       * false: dropout and the stochastic gate off, every BatchNorm on its running statistics — a deterministic
       * step (the gradient-accumulation test; fine-tuning with frozen statistics). Default true.
       */
      training?: boolean;
    },
  ) {
    this.loss = { ...WSFCN_LOSS_DEFAULTS, ...(opts.loss ?? {}) };
    this.optimizer = new GroupedOptimizer(
      net.paramGroups({ lrMults: opts.lrMults, weightDecay: opts.weightDecay }),
      opts.optimizer,
    );
    const a = opts.accumulate ?? 1;
    if (!Number.isInteger(a) || a < 1)
      throw new RangeError(`accumulate must be a whole number ≥ 1 (micro-batches per step), got ${a}`);
    this.accumulate = a;
    this.training = opts.training ?? true;
    const stages = opts.recompute ?? [];
    for (const st of stages)
      if (!Number.isInteger(st) || st < 2 || st > 7)
        throw new RangeError(`recompute: backbone stages are 2…7 (b2…b7), got ${st}`);
    net.backbone.recomputeStages = new Set(stages);
    net.context.recompute = net.fusion.recompute = opts.recomputeModules ?? false;
  }

  /**
   * One optimisation step (one update, however many micro-batches). Keeps the live tensor count flat.
   * Asynchronous because it reads the loss values with `data()`: webgpu in Node has no synchronous read-back.
   */
  async step(batch: TrainBatch, epoch: number): Promise<StepResult> {
    const n = batch.images.shape[0];
    const parts = (b: TrainBatch, share: number) => {
      const t = wsFcnLosses(this.net, b, epoch, this.loss, this.training);
      return {
        loss: t.loss,
        aux: {
          clsLoss: tf.mul(t.clsLoss, share),
          ...(t.maskLoss ? { maskLoss: tf.mul(t.maskLoss, share), gate: tf.div(tf.sum(t.gate!), n) } : {}),
        } as tf.NamedTensorMap,
      };
    };
    let loss: tf.Scalar;
    let aux: tf.NamedTensorMap;
    if (this.accumulate === 1 || n === 1) {
      const r = this.optimizer.minimize(() => parts(batch, 1));
      loss = r.loss;
      aux = r.aux!;
    } else {
      const sizes = microBatchSizes(n, this.accumulate);
      const starts = sizes.map((_, j) => sizes.slice(0, j).reduce((a, b) => a + b, 0));
      const r = this.optimizer.minimizeAccumulated(
        sizes.map((m) => m / n),
        (j) => parts(sliceBatch(batch, starts[j]!, sizes[j]!), sizes[j]! / n),
      );
      loss = r.loss;
      // the parts' weighted losses and gate counts add up to the batch's
      const all = r.aux as tf.NamedTensorMap[];
      aux = {};
      for (const k of Object.keys(all[0]!)) aux[k] = tf.addN(all.map((a) => a[k]!));
      tf.dispose(all);
    }
    const r = await readScalars({ loss, ...aux });
    return {
      loss: r['loss']!,
      clsLoss: r['clsLoss']!,
      maskLoss: r['maskLoss'] ?? null,
      maskGate: r['gate'] ?? null,
    };
  }

  /** Disposes the optimizer's state (its slot variables); the network and its weights stay usable. */
  dispose(): void {
    this.optimizer.dispose();
  }
}
