/** One image through the network at its own size (spec §3.11): the shared path of eval, infer and pseudo-labels. */
import * as tf from '@tensorflow/tfjs-core';
import { applyModel } from '@wsss/core';
import { IMAGENET_MEAN, IMAGENET_STD, type IndexMask, type RgbImage } from '@wsss/datasets';
import type { WsssConfig } from '../config/schema.js';
import { ConfigError } from '../config/schema.js';
import type { NetForward } from '../infer/engine.js';
import { predictWsFcnWith } from '../infer/predict.js';
import type { WsFcn } from '../model/wsfcn.js';

export interface ImagePrediction {
  mask: IndexMask;
  /** sigmoid class scores (max over views), K values. */
  scores: Float32Array;
  /** Image labels used (1-based classes). */
  labels: number[];
}

/** (1,H,W,3) normalised image and (1,H,W,3) [0,1] image. */
export function imageTensors(img: RgbImage): { images: tf.Tensor4D; raw: tf.Tensor4D } {
  return tf.tidy(() => {
    const raw = tf.div(tf.tensor4d(img.data, [1, img.height, img.width, 3], 'int32'), 255) as tf.Tensor4D;
    const images = tf.div(
      tf.sub(raw, tf.tensor1d([...IMAGENET_MEAN])),
      tf.tensor1d([...IMAGENET_STD]),
    ) as tf.Tensor4D;
    return { images, raw };
  });
}

let crfModule: typeof import('@wsss/crf') | null = null;
/** @wsss/crf, loaded on first use (`--crf`). */
export async function loadCrf(): Promise<typeof import('@wsss/crf')> {
  if (crfModule) return crfModule;
  try {
    crfModule = await import('@wsss/crf');
    return crfModule;
  } catch (e) {
    throw new ConfigError(
      `--crf needs the @wsss/crf package (npm install @wsss/crf): ${(e as Error).message}`,
    );
  }
}

/**
 * Predicts the class-index mask of one image with the config's inference settings; `gtLabels` (1-based) replace
 * the predicted labels when given; `crf` post-processes with WS-FCN's dense CRF (spec §4.9); `forward` runs the
 * network (an inference engine's; default the tfjs model on the current backend).
 */
export async function predictImage(
  net: WsFcn,
  img: RgbImage,
  ev: WsssConfig['eval'],
  opts: {
    gtLabels?: number[];
    crf?: boolean;
    focalP?: number;
    focalLambda?: number;
    forward?: NetForward;
  } = {},
): Promise<ImagePrediction> {
  const K = net.config.numClasses;
  const { images, raw } = imageTensors(img);
  raw.dispose();
  const labelsT = opts.gtLabels
    ? tf.tensor2d([Array.from({ length: K }, (_, c) => (opts.gtLabels!.includes(c + 1) ? 1 : 0))], [1, K])
    : undefined;
  // the reference pads every view to PAD_SIZE (spec §3.11.2); a view larger than the canvas is run unpadded
  const largest = Math.round(Math.max(img.width, img.height) * Math.max(...ev.scales));
  const canvas = ev.canvas > 0 && largest <= ev.canvas ? ev.canvas : null;
  const forward =
    opts.forward ??
    (async (x: tf.Tensor4D) => tf.tidy(() => applyModel(net.model, x, { training: false }) as tf.Tensor4D));
  const p = await predictWsFcnWith(forward, K, images, {
    canvas,
    scales: ev.scales,
    flip: ev.flip,
    bgScore: ev.bgScore,
    fpCut: ev.fpCut,
    ...(labelsT ? { labels: labelsT } : {}),
    ...(opts.focalP !== undefined ? { focalP: opts.focalP } : {}),
    ...(opts.focalLambda !== undefined ? { focalLambda: opts.focalLambda } : {}),
  });
  const scores = (await p.scores.data()) as Float32Array;
  const lab = await p.labels.data();
  const labels: number[] = [];
  for (let c = 0; c < K; c++) if (lab[c]! > 0.5) labels.push(c + 1);
  let data: Uint8Array;
  if (opts.crf) {
    const crf = await loadCrf();
    const fg = tf.tidy(() => tf.slice(p.masks, [0, 0, 0, 1], [-1, -1, -1, K]));
    const fgProbs = (await fg.data()) as Float32Array;
    fg.dispose();
    const r = crf.wsFcnCrf(img, fgProbs, labels);
    data = Uint8Array.from(r.labels);
  } else {
    data = Uint8Array.from((await p.classes.data()) as Int32Array);
  }
  tf.dispose([images, labelsT, p.scores, p.labels, p.masks, p.classes]);
  return { mask: { width: img.width, height: img.height, data }, scores: scores.slice(), labels };
}
