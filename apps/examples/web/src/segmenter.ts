/**
 * An exported WS-FCN (`wsss export`) in the browser: load it over http, segment an image, optionally refine the
 * masks with PAMR and with the dense CRF, and time each step. Every tensor made for an image is disposed before
 * `segment` returns; only the model's weights stay.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
// '@wsss/cli' registers the WS-FCN layer classes (WsssWideResNet38, WsssFca, …) that model.json names.
import { predictWsFcn, type WsFcnPredictor } from '@wsss/cli';
import { wsFcnCrf } from '@wsss/crf';
import { PAMR_DEFAULTS, pamr } from '@wsss/pamr';

/** Per-channel ImageNet statistics the network's input is normalised with (spec §1.2). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** What `wsss export` writes beside the model as wsss-model.json (the fields the page reads). */
export interface ModelInfo {
  classNames: string[];
  /** Where the weights came from (`<run>/checkpoints/<file>`, as `npm run web:model` writes it). */
  checkpoint?: string;
  config: {
    eval: { scales: number[]; flip: boolean; bgScore: number | 'model'; fpCut: number };
  };
}

/** One stage's mask and the time it took. */
export interface StageResult {
  /** Class index per pixel, row-major H×W (0 = background). */
  classes: Uint8Array;
  /** Wall time of the step in milliseconds, including reading the result back from the backend. */
  ms: number;
}

export interface Segmentation {
  width: number;
  height: number;
  /** Image labels the masks were cleaned with: predicted classes (1-based) whose score passed fpCut. */
  labels: number[];
  /** sigmoid class score per foreground class (max over the views). */
  scores: number[];
  /** The network's prediction (views merged, spec §4.9 without CRF). */
  network: StageResult;
  /** The network's masks refined by PAMR (spec §3.6), when asked for. */
  pamr?: StageResult;
  /** WS-FCN's dense CRF on the network's foreground scores (spec §4.9), when asked for. */
  crf?: StageResult;
}

export interface SegmentOptions {
  pamr?: boolean;
  crf?: boolean;
}

export interface Segmenter {
  info: ModelInfo;
  segment(image: ImageData, opts?: SegmentOptions): Promise<Segmentation>;
  dispose(): void;
}

async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load ${url}: HTTP ${res.status}`);
  return res.json();
}

/**
 * Loads an exported model: `<modelRoot>/wsss-model.json` and `<modelRoot>/tfjs/model.json` (+ weights.bin), the
 * layout `wsss export --output <modelRoot>` writes.
 */
export async function loadSegmenter(modelRoot: string): Promise<Segmenter> {
  const root = modelRoot.endsWith('/') ? modelRoot : `${modelRoot}/`;
  const info = (await fetchJson(`${root}wsss-model.json`)) as ModelInfo;
  if (!Array.isArray(info.classNames) || info.classNames.length < 2 || !info.config?.eval)
    throw new Error(`${root}wsss-model.json: expected classNames (background first) and config.eval`);
  const model = await loadLayersModel(`${root}tfjs/model.json`);
  const net: WsFcnPredictor = { model, config: { numClasses: info.classNames.length - 1 } };
  const ev = info.config.eval;
  const K = net.config.numClasses;

  async function segment(image: ImageData, opts: SegmentOptions = {}): Promise<Segmentation> {
    const { width, height } = image;
    let t = performance.now();
    const { raw, input } = tf.tidy(() => {
      const raw = tf.div(tf.expandDims(tf.browser.fromPixels(image, 3), 0), 255) as tf.Tensor4D;
      const input = tf.div(tf.sub(raw, [...IMAGENET_MEAN]), [...IMAGENET_STD]) as tf.Tensor4D;
      return { raw, input };
    });
    // spec §4.9 / §3.11: the export's views (scales, flip), predicted labels (fpCut), constant background score
    const p = predictWsFcn(net, input, {
      scales: ev.scales,
      flip: ev.flip,
      bgScore: ev.bgScore,
      fpCut: ev.fpCut,
    });
    try {
      const [classes, labelBits, scores] = await Promise.all([
        p.classes.data(),
        p.labels.data(),
        p.scores.data(),
      ]);
      const network: StageResult = { classes: Uint8Array.from(classes), ms: performance.now() - t };
      const labels: number[] = [];
      for (let c = 0; c < K; c++) if (labelBits[c]! > 0.5) labels.push(c + 1);
      const result: Segmentation = { width, height, labels, scores: Array.from(scores), network };

      if (opts.pamr) {
        t = performance.now();
        // PAMR on the merged masks at image size, guided by the raw [0,1] image (spec §3.6: 10 iterations,
        // dilations 1, 2, 4, 8, 12, 24)
        const refined = tf.tidy(() => tf.argMax(pamr(raw, p.masks, PAMR_DEFAULTS), 3));
        const data = await refined.data();
        refined.dispose();
        result.pamr = { classes: Uint8Array.from(data), ms: performance.now() - t };
      }
      if (opts.crf) {
        t = performance.now();
        // spec §4.9: the label-cleaned foreground scores; the recipe adds bg = (1 − max fg)^5 and runs 10
        // mean-field iterations with bilateral (sxy 30, srgb 13, compat 10) and Gaussian (sxy 3, compat 3) kernels
        const fg = tf.slice(p.masks, [0, 0, 0, 1], [-1, -1, -1, K]);
        const fgProbs = (await fg.data()) as Float32Array;
        fg.dispose();
        const r = wsFcnCrf(image, fgProbs, labels);
        result.crf = { classes: Uint8Array.from(r.labels), ms: performance.now() - t };
      }
      return result;
    } finally {
      tf.dispose([raw, input, p.scores, p.labels, p.masks, p.classes]);
    }
  }

  return { info, segment, dispose: () => model.dispose() };
}
