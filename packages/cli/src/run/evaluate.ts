/**
 * Evaluation passes over a data set: validation loss + single-scale mIoU during training, full inference
 * (spec §3.11, §4.9) for `wsss eval`, and the per-stage comparison of the report (raw masks → PAMR pseudo-labels
 * → final predictions, on the same images).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  applyModel,
  backgroundSoftmax,
  ConfusionMatrix,
  cleanMasks,
  pseudoGtMask,
  resizeBilinear,
} from '@wsss/core';
import {
  type Batch,
  batchToTensors,
  DataLoader,
  type DataRecord,
  normalizeImageNet,
  type PreparedSample,
  type RandomAccessDataset,
  resizeBicubic,
  resizeNearest,
  type SampleTransform,
  toUnitFloat,
} from '@wsss/datasets';
import { pamr } from '@wsss/pamr';
import type { WsssConfig } from '../config/schema.js';
import { predictWsFcn } from '../infer/predict.js';
import type { WsFcn } from '../model/wsfcn.js';
import { type LossConfig, WSFCN_LOSS_DEFAULTS, wsFcnLosses } from '../train/step.js';
import { ClassificationMeter, type ClassificationSummary } from './classification.js';
import type { Output } from './output.js';

/** A data set restricted to its first `n` records (all when n is 0 or larger than the set). */
export function firstRecords(ds: RandomAccessDataset, n: number): RandomAccessDataset {
  if (!n || n >= ds.length) return ds;
  return {
    ids: ds.ids.slice(0, n),
    length: n,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    read: (i) => ds.read(i),
  };
}

/** Resizes image (bicubic) and mask (nearest) to a `size` square: the deterministic eval-time transform. */
export function resizeTransform(size: number): SampleTransform {
  return (record: DataRecord): PreparedSample => {
    const { width, height } = record.image;
    const box = { x: 0, y: 0, w: width, h: height };
    const img =
      width === size && height === size ? record.image : resizeBicubic(record.image, box, size, size);
    const raw = toUnitFloat(img.data);
    const out: PreparedSample = { size, image: normalizeImageNet(raw), raw };
    if (record.mask) {
      out.mask =
        width === size && height === size
          ? record.mask.data
          : resizeNearest(record.mask, box, size, size).data;
    }
    return out;
  };
}

/** Batches of a data set in list order, resized to `size` squares. */
export function evalBatches(ds: RandomAccessDataset, size: number, batchSize: number): AsyncGenerator<Batch> {
  const loader = new DataLoader({
    dataset: ds,
    batchSize,
    shuffle: false,
    transform: resizeTransform(size),
    prefetch: 2,
  });
  return loader.batches(1);
}

export interface SegMetrics {
  miou: number;
  miouNoBackground: number;
  pixelAccuracy: number;
  /** Per class; NaN (null in JSON) for a class absent from ground truth and predictions when `over` is 'present'. */
  iou: number[];
  /** Which classes the means average over (`eval.miouOver`) and how many they were. */
  over: 'present' | 'all';
  classes: number;
}

/** mIoU etc. of a confusion matrix, averaged over the classes `over` says (spec §3.12; `eval.miouOver`). */
export function metricsOf(cm: ConfusionMatrix, over: 'present' | 'all' = 'present'): SegMetrics {
  const absentClasses = over === 'present' ? 'exclude' : 'zero';
  const iou = cm.iou({ absentClasses });
  return {
    miou: cm.meanIoU({ absentClasses }),
    miouNoBackground: cm.meanIoU({ withBackground: false, absentClasses }),
    pixelAccuracy: cm.pixelAccuracy(),
    iou,
    over,
    classes: iou.filter((x) => !Number.isNaN(x)).length,
  };
}

/** How the mIoU of `m` was averaged, in words ("over the 5 classes present", "over all 21 classes, …"). */
export function miouLabel(m: SegMetrics): string {
  return m.over === 'present'
    ? `over the ${m.classes} classes present in ground truth or predictions`
    : `over all ${m.iou.length} classes, absent ones as 0 (the reference code's average)`;
}

export function lossConfigOf(c: WsssConfig): LossConfig {
  return {
    pretrainEpochs: c.train.pretrainEpochs,
    maskLossWeight: c.train.maskLossWeight,
    focalP: c.train.focalP,
    focalLambda: c.train.focalLambda,
    pamrIterations: c.train.pamrIterations,
    pamrDilations: c.train.pamrDilations,
    pseudo: WSFCN_LOSS_DEFAULTS.pseudo,
  };
}

/**
 * The image side validation passes, the stage comparison and the report's pictures batch at: `eval.size` when set;
 * otherwise the synthetic set's native size (all its images share it, so held-out scores are at full resolution);
 * for a folder, the side of its first image when that is square and at most twice the crop (a prepared set of
 * square images keeps its resolution); else the training crop (VOC, COCO and photos differ in size and shape).
 * `wsss eval` always runs each image at its own size.
 */
export async function evalSize(config: WsssConfig, ds?: RandomAccessDataset | null): Promise<number> {
  if (config.eval.size > 0) return config.eval.size;
  if (config.data.dataset === 'synthetic') return config.data.synthetic.size;
  if (config.data.dataset === 'folder' && ds && ds.length > 0) {
    const { image } = await ds.read(0);
    if (image.width === image.height && image.width <= 2 * config.data.crop) return image.width;
  }
  return config.data.crop;
}

/** What a validation pass measures. */
export interface ValidationResult extends SegMetrics {
  /** Mean validation loss (the losses of training, in eval mode, on the pseudo labels: needs no masks). */
  loss: number;
  /** The number `train.bestBy` compares: 1 − loss, mIoU or mAP. */
  score: number;
  bestBy: WsssConfig['train']['bestBy'];
  /** Validation images, and how many of them have masks (the mIoU counts those only). */
  images: number;
  masked: number;
  /** Image-label quality: mAP and F1 at `eval.fpCut`. */
  map: number;
  f1: number;
  classification: ClassificationSummary;
}

/** The best-checkpoint rule of `train.bestBy`, in words. */
export function bestRule(bestBy: WsssConfig['train']['bestBy']): string {
  return bestBy === 'loss'
    ? '1 − mean validation loss (the reference rule, from the mask-loss phase on)'
    : bestBy === 'miou'
      ? 'validation mIoU (on the validation images that have masks)'
      : 'validation mAP of the image labels';
}

/**
 * The validation pass of training (spec §3.10): eval mode, with labels, the losses of `epoch` (so the mask loss
 * counts from `pretrainEpochs` on); single-scale predictions with predicted labels give the image-label quality
 * (mAP, F1 at `eval.fpCut`) on every image and the mIoU on the images that have masks; `score` is what
 * `train.bestBy` compares.
 */
export async function validationPass(
  net: WsFcn,
  ds: RandomAccessDataset,
  config: WsssConfig,
  epoch: number,
  out: Output,
): Promise<ValidationResult> {
  const cm = new ConfusionMatrix(ds.numClasses + 1);
  const meter = new ClassificationMeter(ds.numClasses);
  const lossCfg = lossConfigOf(config);
  let lossSum = 0;
  let n = 0;
  let masked = 0;
  const bar = out.progress('  validation', ds.length, 'img');
  for await (const b of evalBatches(ds, await evalSize(config, ds), config.train.batchSize)) {
    const t = batchToTensors(b);
    const [loss, classes, scores] = tf.tidy(() => {
      // the validation loss is the weak one (pseudo labels) whether or not the image has a mask
      const l = wsFcnLosses(
        net,
        { images: t.images, raw: t.raw, labels: t.labels },
        epoch,
        lossCfg,
        false,
      ).loss;
      const p = predictWsFcn(net, t.images, {
        scales: [1],
        flip: false,
        bgScore: config.eval.bgScore,
        fpCut: config.eval.fpCut,
        focalP: config.train.focalP,
        focalLambda: config.train.focalLambda,
      });
      tf.dispose([p.labels, p.masks]);
      return [l, p.classes, p.scores];
    });
    const k = b.ids.length;
    lossSum += (await loss.data())[0]! * k;
    n += k;
    const sc = (await scores.data()) as Float32Array;
    const K = ds.numClasses;
    for (let i = 0; i < k; i++) {
      const labels: number[] = [];
      for (let c = 0; c < K; c++) if (b.labels[i * K + c]! > 0.5) labels.push(c + 1);
      meter.add(sc.subarray(i * K, (i + 1) * K), labels);
    }
    if (b.masks) {
      cm.update((await classes.data()) as Int32Array, b.masks);
      masked += b.hasMask ? b.hasMask.reduce((s, v) => s + v, 0) : k;
    }
    tf.dispose([loss, classes, scores, t.images, t.raw, t.labels, t.masks]);
    bar.tick(k);
  }
  const loss = lossSum / Math.max(1, n);
  const seg = metricsOf(cm, config.eval.miouOver);
  const cls = meter.summary(config.eval.fpCut);
  const bestBy = config.train.bestBy;
  const score = bestBy === 'loss' ? 1 - loss : bestBy === 'miou' ? seg.miou : cls.map;
  bar.done(`loss ${loss.toFixed(4)}, mAP ${(cls.map * 100).toFixed(1)}%`);
  return {
    loss,
    score,
    bestBy,
    images: n,
    masked,
    ...seg,
    map: cls.map,
    f1: cls.f1,
    classification: cls,
  };
}

/** Masks of one batch at each stage (class-index maps, N×S×S) for the report and the stage comparison. */
export interface StageMaps {
  raw: Int32Array;
  pamr: Int32Array;
  /** PAMR pseudo ground truth with ambiguous pixels as 255 (what the mask loss trains on). */
  pseudo: Int32Array;
  pred: Int32Array;
}

/**
 * One batch through every stage: raw masks (network softmax, cleaned with the image labels, as training sees
 * them), PAMR-refined masks (cleaned, argmax), the pseudo ground truth (ambiguous pixels = 255), and the final
 * prediction (predictWsFcn with the config's scales/flip and predicted labels).
 */
export async function stageMaps(
  net: WsFcn,
  t: ReturnType<typeof batchToTensors>,
  config: WsssConfig,
): Promise<StageMaps> {
  const [raw, refined, pseudo, pred] = tf.tidy(() => {
    const [, S] = t.images.shape;
    const z = applyModel(net.model, t.images, { training: false }) as tf.Tensor4D;
    const { masks } = backgroundSoftmax(z);
    const [, h, w] = masks.shape;
    const rawSmall = resizeBilinear(t.raw, [h, w], { alignCorners: true });
    const ref = pamr(rawSmall, masks, {
      iterations: config.train.pamrIterations,
      dilations: config.train.pamrDilations,
    });
    const up = (m: tf.Tensor4D) => cleanMasks(resizeBilinear(m, [S, S], { alignCorners: true }), t.labels);
    const rawUp = up(masks);
    const refUp = up(ref);
    const gt = pseudoGtMask(refUp);
    const pseudoIdx = tf.where(
      tf.greater(tf.sum(gt, 3), 0),
      tf.argMax(gt, 3),
      tf.fill(gt.shape.slice(0, 3) as [number, number, number], 255, 'int32'),
    );
    const p = predictWsFcn(net, t.images, {
      scales: config.eval.scales,
      flip: config.eval.flip,
      bgScore: config.eval.bgScore,
      fpCut: config.eval.fpCut,
      focalP: config.train.focalP,
      focalLambda: config.train.focalLambda,
    });
    return [tf.argMax(rawUp, 3), tf.argMax(refUp, 3), pseudoIdx, p.classes];
  });
  const res = {
    raw: (await raw.data()) as Int32Array,
    pamr: (await refined.data()) as Int32Array,
    pseudo: (await pseudo.data()) as Int32Array,
    pred: (await pred.data()) as Int32Array,
  };
  tf.dispose([raw, refined, pseudo, pred]);
  return res;
}

export interface StageComparison {
  images: number;
  raw: SegMetrics;
  pamr: SegMetrics;
  /** Share of pixels the pseudo ground truth labels (the rest is ignored by the mask loss). */
  pseudoCoverage: number;
  /** mIoU of the pseudo ground truth on the pixels it labels. */
  pseudoLabelled: SegMetrics;
  pred: SegMetrics;
}

/** The stage comparison over the images of a data set that have masks (at `evalSize`); the others are skipped. */
export async function compareStages(
  net: WsFcn,
  ds: RandomAccessDataset,
  config: WsssConfig,
  out: Output,
): Promise<StageComparison> {
  const K = ds.numClasses + 1;
  const cms = {
    raw: new ConfusionMatrix(K),
    pamr: new ConfusionMatrix(K),
    pseudo: new ConfusionMatrix(K),
    pred: new ConfusionMatrix(K),
  };
  let labelled = 0;
  let total = 0;
  const bar = out.progress('stage comparison', ds.length, 'img');
  let images = 0;
  for await (const b of evalBatches(ds, await evalSize(config, ds), config.train.batchSize)) {
    bar.tick(b.ids.length);
    if (!b.masks) continue; // no image of the batch has a mask: nothing to compare against (pixels of 255 are skipped)
    images += b.hasMask ? b.hasMask.reduce((s, v) => s + v, 0) : b.ids.length;
    const t = batchToTensors(b);
    const m = await stageMaps(net, t, config);
    tf.dispose([t.images, t.raw, t.labels, t.masks]);
    cms.raw.update(m.raw, b.masks);
    cms.pamr.update(m.pamr, b.masks);
    cms.pred.update(m.pred, b.masks);
    // the pseudo GT is judged where it labels a pixel: GT there, ignore elsewhere
    const gtMasked = Uint8Array.from(b.masks, (g, i) => (m.pseudo[i] === 255 ? 255 : g));
    const pseudoPred = Int32Array.from(m.pseudo, (v) => (v === 255 ? 0 : v));
    cms.pseudo.update(pseudoPred, gtMasked);
    const px = m.pseudo.length / b.ids.length;
    for (let k = 0; k < b.ids.length; k++) {
      if (b.hasMask && !b.hasMask[k]) continue; // an image without a mask is not in the comparison
      for (let i = k * px; i < (k + 1) * px; i++) if (m.pseudo[i] !== 255) labelled++;
      total += px;
    }
  }
  bar.done();
  return {
    images,
    raw: metricsOf(cms.raw, config.eval.miouOver),
    pamr: metricsOf(cms.pamr, config.eval.miouOver),
    pseudoCoverage: labelled / Math.max(1, total),
    pseudoLabelled: metricsOf(cms.pseudo, config.eval.miouOver),
    pred: metricsOf(cms.pred, config.eval.miouOver),
  };
}
