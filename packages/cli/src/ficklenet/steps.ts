/**
 * Training steps of the FickleNet + DSRG pipeline:
 * - the classifier (spec §5.2 item 3): a fresh random selection every step, multi-label soft-margin loss on the
 *   image-level labels;
 * - DSRG (spec §6.3): P = softmax + 1e-4, the CRF Q' of P on the image at score-map size, seeds grown on Q'
 *   (0.99 / 0.85), balanced seed loss on the grown seeds + boundary loss against Q'.
 */
import * as tf from '@tensorflow/tfjs-core';
import { wrn38OutputSize } from '@wsss/backbone-wrn38';
import {
  applyModel,
  GroupedOptimizer,
  type GroupedOptimizerOptions,
  multiLabelSoftMarginLoss,
  resizeBilinear,
} from '@wsss/core';
import type { CrfImage } from '@wsss/crf';
import { dsrgLoss, GROW_SEEDS_DEFAULTS, seedMapToMultiHot } from '@wsss/ficklenet';
import { readScalars } from '../train/step.js';
import type { DsrgNet, FickleClassifierNet, TrainableNet } from './model.js';

/**
 * Optimizer options of {@link FickleClassifierTrainer} and {@link DsrgTrainer}: the grouped optimizer (SGD or
 * Adam, base learning rate), the weight decay (default 5e-4) and the learning-rate multipliers of the four
 * reference groups (default {@link DSRG_LR_MULTS}) passed to the network's `paramGroups`.
 */
export interface StepOptimizerOptions {
  optimizer: GroupedOptimizerOptions;
  weightDecay?: number;
  lrMults?: readonly number[];
}

abstract class Trainer<N extends TrainableNet> {
  readonly optimizer: GroupedOptimizer;
  constructor(
    readonly net: N,
    o: StepOptimizerOptions,
  ) {
    this.optimizer = new GroupedOptimizer(
      net.paramGroups({ lrMults: o.lrMults, weightDecay: o.weightDecay }),
      o.optimizer,
    );
  }
  /** Disposes the optimizer's state (its slot variables); the network and its weights stay usable. */
  dispose(): void {
    this.optimizer.dispose();
  }
}

/** One classifier step per batch: normalised images (N,S,S,3) and multi-hot labels (N,K). */
export class FickleClassifierTrainer extends Trainer<FickleClassifierNet> {
  /**
   * One optimizer step on the multi-label soft-margin loss of the batch's class scores, in training mode (a
   * fresh random selection); resolves to the loss value.
   */
  async step(batch: { images: tf.Tensor4D; labels: tf.Tensor2D }): Promise<{ loss: number }> {
    const { loss } = this.optimizer.minimize(() => {
      const scores = applyModel(this.net.model, batch.images, { training: true }) as tf.Tensor2D;
      return { loss: multiLabelSoftMarginLoss(scores, batch.labels) };
    });
    const r = await readScalars({ loss });
    return { loss: r['loss']! };
  }
}

/**
 * A batch of {@link DsrgTrainer.step}: square crops of side S, their seed labels on the g×g score map
 * (g = ⌈S/8⌉) and their image labels.
 */
export interface DsrgBatch {
  /** Normalised images (N,S,S,3). */
  images: tf.Tensor4D;
  /** The same images in [0,1] (N,S,S,3): the CRF sees them at score-map size (spec §6.3 step 2). */
  raw: tf.Tensor4D;
  /** Seed labels on the score map, (N·g·g) class indices, 255 unlabelled (see `seedGrid`). */
  seeds: Uint8Array;
  /** Present foreground classes per image (1-based = their logit channels). */
  labels: readonly (readonly number[])[];
}

/**
 * Options of the DSRG loss in {@link DsrgTrainer}: the region-growing thresholds (default 0.99 background,
 * 0.85 foreground, `GROW_SEEDS_DEFAULTS` of `@wsss/ficklenet`) and whether the boundary loss differentiates
 * through the CRF.
 */
export interface DsrgStepOptions {
  /** Region-growing thresholds (spec §6.3 step 3: 0.99 background, 0.85 foreground). */
  thBg?: number;
  thFg?: number;
  /** The reference's approximate gradient through the CRF in the boundary loss (default true). */
  crfGradient?: boolean;
}

/** The images of a batch at the score map's size as 8-bit RGB, for the CRF (spec §6.3 step 2). */
export async function crfImages(raw: tf.Tensor4D, grid: number): Promise<CrfImage[]> {
  const [n] = raw.shape;
  const small = tf.tidy(() =>
    tf.round(tf.mul(tf.clipByValue(resizeBilinear(raw, [grid, grid], { alignCorners: true }), 0, 1), 255)),
  );
  const data = (await small.data()) as Float32Array;
  small.dispose();
  const per = grid * grid * 3;
  return Array.from({ length: n }, (_, b) => ({
    width: grid,
    height: grid,
    data: Uint8Array.from(data.subarray(b * per, (b + 1) * per)),
  }));
}

/** One DSRG step per batch (spec §6.3). */
export class DsrgTrainer extends Trainer<DsrgNet> {
  constructor(
    net: DsrgNet,
    o: StepOptimizerOptions,
    readonly dsrg: DsrgStepOptions = {},
  ) {
    super(net, o);
  }

  /**
   * One optimizer step on the DSRG loss of the batch (spec §6.3), in training mode; resolves to the total,
   * seed and boundary losses and the fractions of score-map cells seeded before and after growing. Throws
   * when `seeds` does not hold N·g·g labels.
   */
  async step(batch: DsrgBatch): Promise<{
    loss: number;
    seedLoss: number;
    boundaryLoss: number;
    /** Fraction of score-map cells seeded before and after growing. */
    seeded: number;
    grown: number;
  }> {
    const L = this.net.head.options.numClasses;
    const [n, S] = batch.images.shape;
    const g = wrn38OutputSize(S, 8); // the score map's side (spec §2.2)
    if (batch.seeds.length !== n * g * g)
      throw new Error(`DsrgTrainer: seeds must hold ${n}×${g}×${g} labels, got ${batch.seeds.length}`);
    const images = await crfImages(batch.raw, g);
    const seeds = tf.tidy(() => seedMapToMultiHot(tf.tensor3d(batch.seeds, [n, g, g], 'int32'), L));
    const { loss, aux } = this.optimizer.minimize(() => {
      const logits = applyModel(this.net.model, batch.images, { training: true }) as tf.Tensor4D;
      const r = dsrgLoss(logits, {
        seeds,
        labels: batch.labels,
        images,
        thBg: this.dsrg.thBg ?? GROW_SEEDS_DEFAULTS.thBg,
        thFg: this.dsrg.thFg ?? GROW_SEEDS_DEFAULTS.thFg,
        crfGradient: this.dsrg.crfGradient ?? true,
      });
      return {
        loss: r.loss,
        aux: { seedLoss: r.seedLoss, boundaryLoss: r.boundaryLoss, grown: tf.mean(tf.max(r.grownSeeds, -1)) },
      };
    });
    const seeded = tf.tidy(() => tf.mean(tf.max(seeds, -1)));
    seeds.dispose();
    const r = await readScalars({ loss, ...(aux as Record<string, tf.Tensor>), seeded });
    return {
      loss: r['loss']!,
      seedLoss: r['seedLoss']!,
      boundaryLoss: r['boundaryLoss']!,
      seeded: r['seeded']!,
      grown: r['grown']!,
    };
  }
}
