/**
 * `wsss pseudo-labels`: PAMR-refined pseudo masks for a training split (spec §3.6–§3.7) as palette PNGs, for
 * retraining a fully-supervised network: the network's masks at the image's own size, refined by PAMR on the
 * image, cleaned with the image-level labels, thresholded into pseudo ground truth (ambiguous pixels = 255, the
 * ignore value). With ground-truth masks, prints their mIoU.
 */
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { backgroundSoftmax, ConfusionMatrix, cleanMasks, pseudoGtMask, resizeBilinear } from '@wsss/core';
import { multiHot, writePredictionPng } from '@wsss/datasets';
import { pamr } from '@wsss/pamr';
import type { WsssConfig } from '../config/schema.js';
import { type EngineRequest, type InferenceEngine, startEngine } from '../infer/engine.js';
import type { WsFcn } from '../model/wsfcn.js';
import { metricsOf, type SegMetrics } from '../run/evaluate.js';
import { openCheckpoint, openSplit, type SplitOutputOptions } from './common.js';
import { runSkipList } from './data.js';
import { imageTensors } from './predictImage.js';

export interface PseudoLabelOptions extends SplitOutputOptions {
  /** Inference engine (`--engine`, `--ep`): tfjs (default) or ONNX Runtime; PAMR and the rest run in tfjs. */
  engine?: EngineRequest;
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
  /** Images per second over the split (reading, forward, PAMR, writing). */
  imagesPerSecond: number;
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

async function pseudoLabels(
  o: PseudoLabelOptions,
  opened: { file: string; net: WsFcn; config: WsssConfig; classNames: string[] },
  engine: InferenceEngine,
): Promise<PseudoLabelResult> {
  const { file, config, classNames } = opened;
  const split = o.split ?? config.data.trainSplit;
  const runDir = resolve(file, '..', '..');
  const ds = await openSplit(config, split, runDir, o.out, {
    classNames,
    ...(await runSkipList(runDir, config)),
  });
  const n = o.limit ? Math.min(o.limit, ds.length) : ds.length;
  const K = ds.numClasses;
  const onLabelled = new ConfusionMatrix(K + 1);
  const asBg = new ConfusionMatrix(K + 1);
  let withGt = true;
  let labelled = 0;
  let total = 0;
  const bar = o.out.progress('pseudo-labels', n, 'img');
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const rec = await ds.read(i);
    const { images, raw } = imageTensors(rec.image);
    const labels = tf.tensor2d(multiHot(rec.labels, K), [1, K]);
    const z = await engine.forward(images);
    const idx = tf.tidy(() => {
      const { masks } = backgroundSoftmax(z);
      const [, h, w] = masks.shape;
      const refined = pamr(resizeBilinear(raw, [h, w], { alignCorners: true }), masks, {
        iterations: config.train.pamrIterations,
        dilations: config.train.pamrDilations,
      });
      const up = cleanMasks(
        resizeBilinear(refined, [rec.image.height, rec.image.width], { alignCorners: true }),
        labels,
      );
      const gt = pseudoGtMask(up);
      return tf.where(
        tf.greater(tf.sum(gt, 3), 0),
        tf.argMax(gt, 3),
        tf.fill([1, rec.image.height, rec.image.width], 255, 'int32'),
      );
    });
    const data = Uint8Array.from((await idx.data()) as Int32Array);
    tf.dispose([images, raw, labels, idx, z]);
    await writePredictionPng(join(o.output, `${rec.id}.png`), {
      width: rec.image.width,
      height: rec.image.height,
      data,
    });
    for (const v of data) if (v !== 255) labelled++;
    total += data.length;
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
    } else withGt = false;
    bar.tick(1);
  }
  bar.done();
  const seconds = (performance.now() - started) / 1000;
  return {
    split,
    images: n,
    output: o.output,
    coverage: labelled / Math.max(1, total),
    engine: engine.description,
    imagesPerSecond: n / Math.max(seconds, 1e-9),
    ...(withGt && n > 0
      ? {
          labelled: metricsOf(onLabelled, config.eval.miouOver),
          ignoredAsBackground: metricsOf(asBg, config.eval.miouOver),
        }
      : {}),
  };
}
