/**
 * `wsss pseudo-labels`: PAMR-refined pseudo masks for a training split (spec §3.6–§3.7) as palette PNGs, for
 * retraining a fully-supervised network: the network's masks at the image's own size, refined by PAMR on the
 * image, cleaned with the image-level labels, thresholded into pseudo ground truth (ambiguous pixels = 255, the
 * ignore value). With ground-truth masks, prints their mIoU.
 */
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  backgroundSoftmax,
  ConfusionMatrix,
  type ConfusionMatrixJSON,
  cleanMasks,
  pseudoGtMask,
  resizeBilinear,
} from '@wsss/core';
import { multiHot, type RandomAccessDataset, writePredictionPng } from '@wsss/datasets';
import { pamr } from '@wsss/pamr';
import type { WsssConfig } from '../config/schema.js';
import { type EngineRequest, type InferenceEngine, startEngine } from '../infer/engine.js';
import type { WsFcn } from '../model/wsfcn.js';
import { metricsOf, type SegMetrics } from '../run/evaluate.js';
import type { Output } from '../run/output.js';
import { openCheckpoint, openSplit, type SplitOutputOptions } from './common.js';
import { runSkipList } from './data.js';
import { imageTensors, loadCrf } from './predictImage.js';

export interface PseudoLabelOptions extends SplitOutputOptions {
  /** Inference engine (`--engine`, `--ep`): tfjs (default) or ONNX Runtime; PAMR and the rest run in tfjs. */
  engine?: EngineRequest;
  /** `--crf`: see {@link PseudoLabelContext.crf}. */
  crf?: boolean;
}

export interface PseudoLabelResult {
  split: string;
  images: number;
  output: string;
  /** Share of pixels labelled (not ignored). */
  coverage: number;
  /** Against ground truth, when the split has masks: on labelled pixels, and with ignored pixels as background. */
  labelled?: SegMetrics;
  ignoredAsBackground?: SegMetrics;
  /** What ran the network (see `EvalResult.engine`). */
  engine: string;
  /** Images per second over the split (reading, forward, PAMR, CRF, writing). */
  imagesPerSecond: number;
  /** Labels from the dense CRF (`--crf`) rather than the thresholds. */
  crf: boolean;
}

export async function runPseudoLabels(o: PseudoLabelOptions): Promise<PseudoLabelResult> {
  const opened = await openCheckpoint(o.checkpoint, o.overrides ?? [], o.out);
  let engine: InferenceEngine | undefined;
  try {
    engine = await startEngine(opened.net.model, o.engine ?? {}, {
      backend: opened.backend,
      threads: opened.config.threads,
      out: o.out,
    });
    return await pseudoLabels(o, opened, engine);
  } finally {
    await engine?.release();
    opened.net.model.dispose();
  }
}

/** An opened checkpoint, its split and engine: what every shard of a pseudo-label job reads from. */
export interface PseudoLabelContext {
  config: WsssConfig;
  ds: RandomAccessDataset;
  engine: InferenceEngine;
  output: string;
  /**
   * Dense CRF instead of the thresholds: the PAMR-refined, label-cleaned masks go through WS-FCN's CRF (spec §4.9)
   * and every pixel takes its label (none ignored), as the reference's pseudo ground truth for a second stage.
   */
  crf?: boolean;
}

/** What a range of images adds to the totals: labelled/all pixels and, with ground truth, two confusion matrices. */
export interface PseudoLabelPartial {
  images: number;
  labelled: number;
  total: number;
  /** Images without a ground-truth mask (no metrics when any). */
  withoutGt: number;
  onLabelled: ConfusionMatrixJSON;
  asBackground: ConfusionMatrixJSON;
}

/** Opens the split a pseudo-label job reads (the checkpoint's training split by default, its skip list applied). */
export async function openPseudoLabelSplit(
  opened: { file: string; config: WsssConfig; classNames: string[] },
  split: string | undefined,
  out: Output,
): Promise<{ split: string; ds: RandomAccessDataset }> {
  const name = split ?? opened.config.data.trainSplit;
  const runDir = resolve(opened.file, '..', '..');
  const ds = await openSplit(opened.config, name, runDir, out, {
    classNames: opened.classNames,
    ...(await runSkipList(runDir, opened.config)),
  });
  return { split: name, ds };
}

/**
 * Pseudo-labels images [start, end) of the split into `<output>/<id>.png` (written atomically) and returns what
 * they add to the totals: the single-process command runs one range, a scale-out worker one shard.
 */
export async function pseudoLabelRange(
  c: PseudoLabelContext,
  start: number,
  end: number,
  onImage?: () => void,
): Promise<PseudoLabelPartial> {
  const { config, ds, engine } = c;
  const K = ds.numClasses;
  const crf = c.crf ? await loadCrf() : null;
  const onLabelled = new ConfusionMatrix(K + 1);
  const asBg = new ConfusionMatrix(K + 1);
  const part = { images: 0, labelled: 0, total: 0, withoutGt: 0 };
  for (let i = start; i < end; i++) {
    const rec = await ds.read(i);
    const { images, raw } = imageTensors(rec.image);
    const labels = tf.tensor2d(multiHot(rec.labels, K), [1, K]);
    let z: tf.Tensor4D | undefined;
    let idx: tf.Tensor | undefined;
    let data: Uint8Array;
    try {
      z = await engine.forward(images);
      const zz = z;
      // with the CRF: the refined, label-cleaned foreground probabilities (background comes from them, spec §4.9)
      idx = tf.tidy(() => {
        const { masks } = backgroundSoftmax(zz);
        const [, h, w] = masks.shape;
        const refined = pamr(resizeBilinear(raw, [h, w], { alignCorners: true }), masks, {
          iterations: config.train.pamrIterations,
          dilations: config.train.pamrDilations,
        });
        const up = cleanMasks(
          resizeBilinear(refined, [rec.image.height, rec.image.width], { alignCorners: true }),
          labels,
        );
        if (crf) return tf.slice(up, [0, 0, 0, 1], [-1, -1, -1, K]);
        const gt = pseudoGtMask(up);
        return tf.where(
          tf.greater(tf.sum(gt, 3), 0),
          tf.argMax(gt, 3),
          tf.fill([1, rec.image.height, rec.image.width], 255, 'int32'),
        );
      });
      data = crf
        ? Uint8Array.from(crf.wsFcnCrf(rec.image, (await idx.data()) as Float32Array, rec.labels).labels)
        : Uint8Array.from((await idx.data()) as Int32Array);
    } finally {
      tf.dispose([images, raw, labels, ...(idx ? [idx] : []), ...(z ? [z] : [])]);
    }
    await writePredictionPng(join(c.output, `${rec.id}.png`), {
      width: rec.image.width,
      height: rec.image.height,
      data,
    });
    for (const v of data) if (v !== 255) part.labelled++;
    part.total += data.length;
    part.images++;
    if (rec.mask) {
      const g = rec.mask.data;
      onLabelled.update(
        Uint8Array.from(data, (v) => (v === 255 ? 0 : v)),
        Uint8Array.from(g, (x, j) => (data[j] === 255 ? 255 : x)),
      );
      asBg.update(
        Uint8Array.from(data, (v) => (v === 255 ? 0 : v)),
        g,
      );
    } else part.withoutGt++;
    onImage?.();
  }
  return { ...part, onLabelled: onLabelled.toJSON(), asBackground: asBg.toJSON() };
}

/** Sums shard totals into the command's result (the same numbers as one process over the whole split). */
export function pseudoLabelResult(
  parts: PseudoLabelPartial[],
  r: {
    split: string;
    output: string;
    engine: string;
    seconds: number;
    miouOver: WsssConfig['eval']['miouOver'];
    crf: boolean;
  },
): PseudoLabelResult {
  const sum = (k: 'images' | 'labelled' | 'total' | 'withoutGt') => parts.reduce((a, p) => a + p[k], 0);
  const n = sum('images');
  const merged = (k: 'onLabelled' | 'asBackground') =>
    parts.map((p) => ConfusionMatrix.fromJSON(p[k])).reduce((a, b) => a.merge(b));
  return {
    split: r.split,
    images: n,
    output: r.output,
    coverage: sum('labelled') / Math.max(1, sum('total')),
    engine: r.engine,
    imagesPerSecond: n / Math.max(r.seconds, 1e-9),
    crf: r.crf,
    ...(sum('withoutGt') === 0 && n > 0
      ? {
          labelled: metricsOf(merged('onLabelled'), r.miouOver),
          ignoredAsBackground: metricsOf(merged('asBackground'), r.miouOver),
        }
      : {}),
  };
}

async function pseudoLabels(
  o: PseudoLabelOptions,
  opened: { file: string; net: WsFcn; config: WsssConfig; classNames: string[] },
  engine: InferenceEngine,
): Promise<PseudoLabelResult> {
  const { split, ds } = await openPseudoLabelSplit(opened, o.split, o.out);
  const n = o.limit ? Math.min(o.limit, ds.length) : ds.length;
  const bar = o.out.progress('pseudo-labels', n, 'img');
  const started = performance.now();
  const part = await pseudoLabelRange(
    { config: opened.config, ds, engine, output: o.output, crf: !!o.crf },
    0,
    n,
    () => bar.tick(1),
  );
  bar.done();
  return pseudoLabelResult([part], {
    split,
    output: o.output,
    engine: engine.description,
    seconds: (performance.now() - started) / 1000,
    miouOver: opened.config.eval.miouOver,
    crf: !!o.crf,
  });
}
