/**
 * An exported WS-FCN (`wsss export`) in the browser: load it over http, segment an image, optionally refine the
 * masks with PAMR and with the dense CRF, and time each step. The network runs on one of two engines — TensorFlow.js
 * (`tfjs/model.json`) or ONNX Runtime Web (`model.onnx`, wasm or WebGPU) — and everything around its forward
 * (normalisation, views, softmax, scores, resizes, label cleaning, PAMR, CRF) is the same tfjs code for both.
 * Every tensor made for an image is disposed before `segment` returns; only the tfjs model's weights stay.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
// '@wsss/cli' registers the WS-FCN layer classes (WsssWideResNet38, WsssFca, …) that model.json names.
import { predictWsFcnWith } from '@wsss/cli';
import { applyModel } from '@wsss/core';
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
  /** The engine that ran the network ({@link Engine.label}). */
  engine: string;
  /** Forwards run for the image (scales × flips). */
  views: number;
  /**
   * Time spent in the network's forwards (all views) in milliseconds, part of `network.ms`; undefined where the
   * engine's forward returns before the computation ran (tfjs on webgl / webgpu queues GPU work).
   */
  forwardMs?: number;
  /** Image labels the masks were cleaned with: predicted classes (1-based) whose score passed fpCut. */
  labels: number[];
  /** sigmoid class score per foreground class (max over the views). */
  scores: number[];
  /**
   * The network's prediction (views merged, spec §4.9 without CRF); its `ms` is the time per image: normalisation,
   * every view's forward and the post-processing up to the class map read back.
   */
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

/** The engines the page runs the network on. */
export const ENGINES = ['tfjs', 'onnx'] as const;
/** `tfjs`: the tfjs LayersModel; `onnx`: `model.onnx` on ONNX Runtime Web. */
export type EngineName = (typeof ENGINES)[number];
/** ONNX Runtime Web's execution providers the page offers. */
export const ONNX_EPS = ['wasm', 'webgpu'] as const;
/** An ONNX Runtime Web execution provider of {@link ONNX_EPS}. */
export type OnnxEp = (typeof ONNX_EPS)[number];

/** What runs the network's forward; the rest of the segmentation is tfjs on the page's backend. */
/**
 * The network's forward for one view: ImageNet-normalised images (N,h,w,3) → foreground logits z (NHWC), what
 * `applyModel(model, x, { training: false })` returns. The caller owns (and disposes) the returned tensor.
 */
export type Forward = (x: tf.Tensor4D) => Promise<tf.Tensor4D>;

export interface Engine {
  name: EngineName;
  /** What ran, for the report: e.g. "TensorFlow.js 4.22.0 · wasm", "ONNX Runtime Web 1.30.0 · wasm (SIMD, 1 thread)". */
  label: string;
  /** The ONNX Runtime execution provider in use (onnx only). */
  ep?: OnnxEp;
  /** Why the engine runs otherwise than asked (WebGPU → wasm) and what limits it (threads), for the report. */
  notes: string[];
  /** Whether the forward's time is its computation's (false where tfjs only queues GPU work). */
  forwardTimed: boolean;
  forward: Forward;
  dispose(): void;
}

/** Which engine to load the model for. */
export interface EngineRequest {
  engine: EngineName;
  /** ONNX Runtime Web's execution provider (engine onnx); webgpu falls back to wasm without an adapter. */
  ep?: OnnxEp;
  /** The tfjs backend in use (`tf.getBackend()`), for the tfjs engine's label. */
  backend: string;
}

export interface Segmenter {
  info: ModelInfo;
  engine: Engine;
  segment(image: ImageData, opts?: SegmentOptions): Promise<Segmentation>;
  dispose(): void;
}

async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load ${url}: HTTP ${res.status}`);
  return res.json();
}

/** The tfjs engine: `tfjs/model.json` (+ weights.bin) run with `applyModel`, the inference forward. */
async function loadTfjsEngine(root: string, backend: string): Promise<Engine> {
  const model = await loadLayersModel(`${root}tfjs/model.json`);
  return {
    name: 'tfjs',
    label: `TensorFlow.js ${tf.version_core} · ${backend}`,
    notes: [],
    // wasm and cpu run each op before returning; webgl and webgpu queue the work
    forwardTimed: backend === 'wasm' || backend === 'cpu',
    forward: async (x) => applyModel(model, x, { training: false }) as tf.Tensor4D,
    dispose: () => model.dispose(),
  };
}

/**
 * Loads an exported model for an engine: `<modelRoot>/wsss-model.json` and, for tfjs, `<modelRoot>/tfjs/model.json`
 * (+ weights.bin), the layout `wsss export --output <modelRoot>` writes; for onnx `<modelRoot>/model.onnx`, written
 * next to them by `npm run web:model`. ONNX Runtime Web is imported only for the onnx engine.
 */
export async function loadSegmenter(modelRoot: string, request: EngineRequest): Promise<Segmenter> {
  const root = modelRoot.endsWith('/') ? modelRoot : `${modelRoot}/`;
  const info = (await fetchJson(`${root}wsss-model.json`)) as ModelInfo;
  if (!Array.isArray(info.classNames) || info.classNames.length < 2 || !info.config?.eval)
    throw new Error(`${root}wsss-model.json: expected classNames (background first) and config.eval`);
  if (!ENGINES.includes(request.engine))
    throw new Error(`engine must be one of ${ENGINES.join(', ')}, got '${String(request.engine)}'`);
  const engine =
    request.engine === 'onnx'
      ? await (await import('./onnxEngine.js')).loadOnnxEngine(`${root}model.onnx`, request.ep ?? 'wasm')
      : await loadTfjsEngine(root, request.backend);
  const ev = info.config.eval;
  const K = info.classNames.length - 1;

  async function segment(image: ImageData, opts: SegmentOptions = {}): Promise<Segmentation> {
    const { width, height } = image;
    let t = performance.now();
    const { raw, input } = tf.tidy(() => {
      const raw = tf.div(tf.expandDims(tf.browser.fromPixels(image, 3), 0), 255) as tf.Tensor4D;
      const input = tf.div(tf.sub(raw, [...IMAGENET_MEAN]), [...IMAGENET_STD]) as tf.Tensor4D;
      return { raw, input };
    });
    let p: Awaited<ReturnType<typeof predictWsFcnWith>> | undefined;
    let views = 0;
    let forwardMs = 0;
    // the engine's forward, counted and timed; the rest of the prediction is @wsss/cli's code for every engine
    const forward: Forward = async (x) => {
      const start = performance.now();
      try {
        return await engine.forward(x);
      } finally {
        views++;
        forwardMs += performance.now() - start;
      }
    };
    try {
      // spec §4.9 / §3.11: the export's views (scales, flip), predicted labels (fpCut), constant background score
      p = await predictWsFcnWith(forward, K, input, {
        scales: ev.scales,
        flip: ev.flip,
        bgScore: ev.bgScore,
        fpCut: ev.fpCut,
      });
      const [classes, labelBits, scores] = await Promise.all([
        p.classes.data(),
        p.labels.data(),
        p.scores.data(),
      ]);
      const network: StageResult = { classes: Uint8Array.from(classes), ms: performance.now() - t };
      const labels: number[] = [];
      for (let c = 0; c < K; c++) if (labelBits[c]! > 0.5) labels.push(c + 1);
      const result: Segmentation = {
        width,
        height,
        engine: engine.label,
        views,
        ...(engine.forwardTimed ? { forwardMs } : {}),
        labels,
        scores: Array.from(scores),
        network,
      };
      const masks = p.masks;

      if (opts.pamr) {
        t = performance.now();
        // PAMR on the merged masks at image size, guided by the raw [0,1] image (spec §3.6: 10 iterations,
        // dilations 1, 2, 4, 8, 12, 24)
        const refined = tf.tidy(() => tf.argMax(pamr(raw, masks, PAMR_DEFAULTS), 3));
        const data = await refined.data();
        refined.dispose();
        result.pamr = { classes: Uint8Array.from(data), ms: performance.now() - t };
      }
      if (opts.crf) {
        t = performance.now();
        // spec §4.9: the label-cleaned foreground scores; the recipe adds bg = (1 − max fg)^5 and runs 10
        // mean-field iterations with bilateral (sxy 30, srgb 13, compat 10) and Gaussian (sxy 3, compat 3) kernels
        const fg = tf.slice(masks, [0, 0, 0, 1], [-1, -1, -1, K]);
        const fgProbs = (await fg.data()) as Float32Array;
        fg.dispose();
        const r = wsFcnCrf(image, fgProbs, labels);
        result.crf = { classes: Uint8Array.from(r.labels), ms: performance.now() - t };
      }
      return result;
    } finally {
      tf.dispose([raw, input]);
      if (p) tf.dispose([p.scores, p.labels, p.masks, p.classes]);
    }
  }

  return { info, engine, segment, dispose: () => engine.dispose() };
}
