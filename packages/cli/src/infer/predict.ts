/**
 * WS-FCN inference (spec §3.11, §4.9): views at several scales, each also flipped; per view the softmax masks
 * (with the constant background logit) are upsampled to the view (align-corners true) and resized back to the
 * image (align-corners false); image labels are predicted as `max over views of sigmoid(score) > fpCut` (or
 * given); foreground channels of absent classes are zeroed and the views averaged; the background channel is the
 * constant `bgScore` (WS-FCN: 0.25) or, with `bgScore: 'model'`, the averaged predicted background.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { applyModel, backgroundSoftmax, classScores, resizeBilinear } from '@wsss/core';

/**
 * What {@link predictWsFcn} needs of a WS-FCN: the model (image → foreground logits) and its number of foreground
 * classes. A `WsFcn` from `createWsFcn` is one; so is `{ model: await tf.loadLayersModel(url), config:
 * { numClasses } }` for a model exported with `wsss export` (numClasses = classNames.length − 1 of its
 * wsss-model.json).
 */
export interface WsFcnPredictor {
  model: LayersModel;
  config: { numClasses: number };
}

/**
 * Options of {@link predictWsFcn}: the views (scales, flips, padding canvas), how image labels are decided
 * (`fpCut` or given `labels`), the background score, and the focal penalty of the class scores (`focalP`
 * default 3, `focalLambda` default 0.01).
 */
export interface PredictOptions {
  /** Scales of the views. Default [1]; the reference evaluates [1, 0.5, 1.5, 2] (spec §4.8). */
  scales?: number[];
  /** Also run each scale flipped. Default false; the reference: true. */
  flip?: boolean;
  /** Background score: a constant (WS-FCN 0.25, spec §4.9) or 'model' (the averaged predicted background). */
  bgScore?: number | 'model';
  /** Classes whose max sigmoid score over the views exceeds this are taken as present (FP_CUT_SCORE 0.1). */
  fpCut?: number;
  /** Ground-truth image labels (N,K) to use instead of predicted ones (USE_GT_LABELS; mark results made so). */
  labels?: tf.Tensor2D;
  /** Zero-pad each view (after normalisation, centred) to this square canvas before the forward (reference 1024). */
  canvas?: number | null;
  focalP?: number;
  focalLambda?: number;
}

/**
 * What {@link predictWsFcn} returns for N images of size H×W with K foreground classes; the caller owns (and
 * disposes) the four tensors.
 */
export interface Prediction {
  /** (N,K) max over views of sigmoid(class score). */
  scores: tf.Tensor2D;
  /** (N,K) image labels used to clean the masks. */
  labels: tf.Tensor2D;
  /** (N,H,W,K+1) merged class probabilities at input size (background first). */
  masks: tf.Tensor4D;
  /** (N,H,W) argmax class indices (0 = background). */
  classes: tf.Tensor3D;
}

/** Where a view sits on its padding canvas (top/left 0 without one). */
interface ViewPlacement {
  h: number;
  w: number;
  top: number;
  left: number;
}

/** The network input of a view: the view itself, or zero-padded (centred) onto the square canvas. */
function placeView(x: tf.Tensor4D, canvas: number | null): { input: tf.Tensor4D; at: ViewPlacement } {
  const [, h, w] = x.shape;
  if (!canvas) return { input: x, at: { h, w, top: 0, left: 0 } };
  if (h > canvas || w > canvas)
    throw new Error(`predictWsFcn: a ${h}×${w} view does not fit the ${canvas}×${canvas} canvas`);
  const top = Math.floor((canvas - h) / 2);
  const left = Math.floor((canvas - w) / 2);
  const input = tf.pad(x, [
    [0, 0],
    [top, canvas - h - top],
    [left, canvas - w - left],
    [0, 0],
  ]);
  return { input, at: { h, w, top, left } };
}

/** A view's logits z (eval mode) → (class scores (N,K), masks at the view's size (N,h,w,K+1)). */
function viewOutputs(
  z: tf.Tensor4D,
  input: tf.Tensor4D,
  at: ViewPlacement,
  opts: PredictOptions,
): [tf.Tensor2D, tf.Tensor4D] {
  return tf.tidy(() => {
    const { logits, masks } = backgroundSoftmax(z);
    const scores = classScores(logits, masks, { focalP: opts.focalP, focalLambda: opts.focalLambda });
    // test mode: masks upsampled to the network input with align-corners (spec §3.5.4), then cut out
    let up = resizeBilinear(masks, [input.shape[1], input.shape[2]], { alignCorners: true });
    if (input.shape[1] !== at.h || input.shape[2] !== at.w)
      up = tf.slice(up, [0, at.top, at.left, 0], [-1, at.h, at.w, -1]);
    return [scores, up];
  });
}

/** One forward in eval mode → (class scores (N,K), masks at the view's size (N,h,w,K+1)). */
function forwardView(
  net: WsFcnPredictor,
  x: tf.Tensor4D,
  canvas: number | null,
  opts: PredictOptions,
): [tf.Tensor2D, tf.Tensor4D] {
  return tf.tidy(() => {
    const { input, at } = placeView(x, canvas);
    const z = applyModel(net.model, input, { training: false }) as tf.Tensor4D;
    return viewOutputs(z, input, at, opts);
  });
}

/** The reference network's test-mode outputs (its `forward(y)` without labels, spec §3.5, §4.6). */
export interface ReferenceTestOutputs {
  /** (N,K) class scores before the sigmoid: the reference's `cls` (nGWP + focal penalty, foreground classes). */
  classScores: tf.Tensor2D;
  /**
   * (N,H,W,K+1) softmax masks over background (channel 0, from the constant background logit) and the K classes,
   * upsampled to the input size with align-corners — the reference's `rescale_as(masks, y)`; no cleaning.
   */
  masks: tf.Tensor4D;
}

/**
 * What the reference WS-FCN returns in test mode for a batch of ImageNet-normalised images (N,H,W,3): the raw
 * class scores and the softmax masks at the input size, one forward in eval mode, no padding, no label cleaning,
 * no background constant — the outputs to compare with the official PyTorch code on the same weights (an imported
 * checkpoint: `wsss import`). {@link predictWsFcn} builds the final prediction from such views. The caller owns the
 * two tensors.
 */
export function referenceTestOutputs(
  net: WsFcnPredictor,
  images: tf.Tensor4D,
  opts: Pick<PredictOptions, 'focalP' | 'focalLambda'> = {},
): ReferenceTestOutputs {
  if (images.rank !== 4 || images.shape[3] !== 3)
    throw new Error(`referenceTestOutputs: images must be (N,H,W,3), got [${images.shape}]`);
  const [classScores, masks] = forwardView(net, images, null, opts);
  return { classScores, masks };
}

/** The views of {@link predictWsFcn}: each scale, unflipped then (with `flip`) flipped. */
interface ViewSpec {
  h: number;
  w: number;
  flipped: boolean;
}

/** Checks the arguments of a prediction and lists its views. */
function planViews(images: tf.Tensor4D, K: number, opts: PredictOptions): ViewSpec[] {
  const scales = opts.scales ?? [1];
  const flip = opts.flip ?? false;
  if (images.rank !== 4 || images.shape[3] !== 3)
    throw new Error(`predictWsFcn: images must be (N,H,W,3), got [${images.shape}]`);
  if (!scales.length || scales.some((s) => !(s > 0)))
    throw new Error(`predictWsFcn: scales must be positive numbers, got ${JSON.stringify(scales)}`);
  if (opts.labels && (opts.labels.shape[0] !== images.shape[0] || opts.labels.shape[1] !== K)) {
    throw new Error(
      `predictWsFcn: labels must have shape [${images.shape[0]}, ${K}], got [${opts.labels.shape}]`,
    );
  }
  const [, H, W] = images.shape;
  return scales.flatMap((s) => {
    const h = Math.max(1, Math.round(H * s));
    const w = Math.max(1, Math.round(W * s));
    return (flip ? [false, true] : [false]).map((flipped) => ({ h, w, flipped }));
  });
}

/** A view's input before the canvas: the images resized to h×w (align-corners false), flipped if asked. */
function viewImages(images: tf.Tensor4D, v: ViewSpec): tf.Tensor4D {
  const [, H, W] = images.shape;
  const xs = v.h === H && v.w === W ? images : resizeBilinear(images, [v.h, v.w], { alignCorners: false });
  return v.flipped ? (tf.reverse(xs, 2) as tf.Tensor4D) : xs;
}

/** A view's outputs back in image space: sigmoid scores, masks resized to H×W (align-corners false), unflipped. */
function viewBack(
  images: tf.Tensor4D,
  v: ViewSpec,
  scores: tf.Tensor2D,
  m: tf.Tensor4D,
): { scores: tf.Tensor2D; masks: tf.Tensor4D } {
  const [, H, W] = images.shape;
  let back = v.h === H && v.w === W ? m : resizeBilinear(m, [H, W], { alignCorners: false });
  if (v.flipped) back = tf.reverse(back, 2) as tf.Tensor4D;
  return { scores: tf.sigmoid(scores) as tf.Tensor2D, masks: back };
}

/** Views → the prediction: max scores, image labels, label-cleaned mean masks with the background rule. */
function mergeViews(
  images: tf.Tensor4D,
  K: number,
  views: { scores: tf.Tensor2D; masks: tf.Tensor4D }[],
  opts: PredictOptions,
): Prediction {
  const bg = opts.bgScore ?? 0.25;
  const fpCut = opts.fpCut ?? 0.1;
  const [n, H, W] = images.shape;
  const scores = tf.max(tf.stack(views.map((v) => v.scores)), 0) as tf.Tensor2D;
  const labels = (
    opts.labels ? tf.cast(opts.labels, 'float32') : tf.cast(tf.greater(scores, fpCut), 'float32')
  ) as tf.Tensor2D;
  const gate = tf.reshape(tf.concat([tf.ones([n, 1]), labels], 1), [n, 1, 1, K + 1]);
  const mean = tf.div(tf.addN(views.map((v) => tf.mul(v.masks, gate))), views.length) as tf.Tensor4D;
  const fg = tf.slice(mean, [0, 0, 0, 1], [-1, -1, -1, K]);
  const bgChannel =
    bg === 'model' ? tf.slice(mean, [0, 0, 0, 0], [-1, -1, -1, 1]) : tf.fill([n, H, W, 1], bg);
  const masks = tf.concat([bgChannel, fg], 3) as tf.Tensor4D;
  return { scores, labels, masks, classes: tf.argMax(masks, 3) as tf.Tensor3D };
}

/**
 * Predicts masks for a batch of ImageNet-normalised images (N,H,W,3), merging scales and flips as the reference.
 */
export function predictWsFcn(
  net: WsFcnPredictor,
  images: tf.Tensor4D,
  opts: PredictOptions = {},
): Prediction {
  const K = net.config.numClasses;
  const views = planViews(images, K, opts);
  return tf.tidy(() => ({
    ...mergeViews(
      images,
      K,
      views.map((v) => {
        const [scores, m] = forwardView(net, viewImages(images, v), opts.canvas ?? null, opts);
        return viewBack(images, v, scores, m);
      }),
      opts,
    ),
  }));
}

/**
 * As {@link predictWsFcn}, with the network's eval-mode forward given as an async function (images → foreground
 * logits z): an ONNX Runtime session, a remote model, or `applyModel` itself. Everything around the forward is the
 * same code, so equal logits give equal predictions. The caller owns the four returned tensors.
 */
export async function predictWsFcnWith(
  forward: (x: tf.Tensor4D) => Promise<tf.Tensor4D>,
  numClasses: number,
  images: tf.Tensor4D,
  opts: PredictOptions = {},
): Promise<Prediction> {
  const views: { scores: tf.Tensor2D; masks: tf.Tensor4D }[] = [];
  try {
    for (const v of planViews(images, numClasses, opts)) {
      let at: ViewPlacement = { h: 0, w: 0, top: 0, left: 0 };
      const input = tf.tidy(() => {
        const placed = placeView(viewImages(images, v), opts.canvas ?? null);
        at = placed.at;
        // the caller's images are not ours to dispose: a view that is the images themselves gets a copy
        return placed.input === images ? tf.clone(images) : placed.input;
      });
      let z: tf.Tensor4D | undefined;
      try {
        z = await forward(input);
        const zz = z;
        views.push(
          tf.tidy(() => {
            const [scores, m] = viewOutputs(zz, input, at, opts);
            return viewBack(images, v, scores, m);
          }),
        );
      } finally {
        tf.dispose([input, ...(z ? [z] : [])]);
      }
    }
    return tf.tidy(() => ({ ...mergeViews(images, numClasses, views, opts) }));
  } finally {
    for (const v of views) tf.dispose([v.scores, v.masks]);
  }
}
