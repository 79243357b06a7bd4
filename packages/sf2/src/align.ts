/**
 * Semantic-flow alignment (WS-FCN `AlignModule`, spec §4.3): learns a 2-D offset field from a shallow and a
 * deep feature and warps the deep feature onto the shallow grid — a learned replacement for bilinear
 * upsampling.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  gridSample,
  type Kwargs,
  type LayerArgs,
  type ModuleOps,
  pairShapes,
  paramOps,
  referenceModuleRules,
  registerWsssLayer,
  resizeBilinear,
  type Shape,
  type StateDictRule,
  WsssLayer,
} from '@wsss/core';

/**
 * `n` evenly spaced points from −1 to 1 (`torch.linspace(-1, 1, n)`), each computed in double precision from its
 * index, −1 + 2i/(n−1), and rounded once to float32. `tf.linspace` instead adds the step to a running float32 total,
 * so its points drift (its 81st point of 81 is 0.99999923, not 1): an align-corners warp built on it misses the
 * pixel centres at the far edges by up to 1e-4 of a pixel's value difference.
 */
export function unitGrid(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = n === 1 ? -1 : -1 + (2 * i) / (n - 1);
  return out;
}

/**
 * Warps `high` (N,h,w,C) onto an H×W grid displaced by `flow` (N,H,W,2) (channel 0 = x, 1 = y): sample points
 * `gx = −1 + 2j/(W−1) + flow_x/W`, `gy = −1 + 2i/(H−1) + flow_y/H` (the flow is divided by the *output* width and
 * height, spec §4.3; the base grid is exact, see {@link unitGrid}), bilinear with align-corners and zero padding.
 * With zero flow this is bilinear upsampling with align-corners. Differentiable in `high` and `flow`.
 */
export function flowWarp(high: tf.Tensor4D, flow: tf.Tensor4D): tf.Tensor4D {
  if (high.rank !== 4) throw new Error(`flowWarp: high must be rank 4 (N,h,w,C), got rank ${high.rank}`);
  if (flow.rank !== 4 || flow.shape[3] !== 2 || flow.shape[0] !== high.shape[0]) {
    throw new Error(`flowWarp: flow must have shape [${high.shape[0]}, H, W, 2], got [${flow.shape}]`);
  }
  return tf.tidy(() => {
    const [n, hh, ww] = flow.shape;
    const gx = tf.tensor4d(unitGrid(ww), [1, 1, ww, 1]);
    const gy = tf.tensor4d(unitGrid(hh), [1, hh, 1, 1]);
    const base = tf.concat([tf.tile(gx, [n, hh, 1, 1]), tf.tile(gy, [n, 1, ww, 1])], 3);
    const grid = tf.add(base, tf.div(flow, tf.tensor1d([ww, hh])));
    return gridSample(high, grid as tf.Tensor4D, { alignCorners: true });
  });
}

/** Options of {@link Align} (defaults {@link ALIGN_DEFAULTS}). */
export interface AlignOptions {
  /** Channels of the two 1×1 projections the flow is computed from (the reference's `outplane`). Default 128. */
  projectChannels: number;
}

/** Default options of {@link Align}: 128-channel projections, as the reference. */
export const ALIGN_DEFAULTS: AlignOptions = { projectChannels: 128 };

/**
 * The alignment over `ops`: `l = down_l(low)`, `h = resize(down_h(high), low's size, align-corners false)`,
 * `flow = flow_make(concat[h, l])` (3×3, pad 1), output `flowWarp(high, flow)` (the original high feature, not
 * its projection). Returns both the warped feature and the flow.
 */
export function alignForward(
  low: tf.Tensor4D,
  high: tf.Tensor4D,
  ops: ModuleOps,
): { warped: tf.Tensor4D; flow: tf.Tensor4D } {
  return tf.tidy(() => {
    const [, H, W] = low.shape;
    const l = ops.conv('down_l', low);
    const h = resizeBilinear(ops.conv('down_h', high), [H, W], { alignCorners: false });
    const flow = ops.conv('flow_make', tf.concat([h, l], 3) as tf.Tensor4D, { padding: 1 });
    return { warped: flowWarp(high, flow), flow };
  });
}

/** Functional twin of {@link Align} over a weight record (`down_l/kernel`, `down_h/kernel`, `flow_make/kernel`). */
export function align(low: tf.Tensor4D, high: tf.Tensor4D, params: Record<string, tf.Tensor>): tf.Tensor4D {
  return tf.tidy(() => alignForward(low, high, paramOps(params, 'batch', false)).warped);
}

/** The alignment layer: inputs `[low (N,H,W,Cl), high (N,h,w,Ch)]`, output (N,H,W,Ch). No BatchNorm, no bias. */
export class Align extends WsssLayer<AlignOptions> {
  static className = 'WsssAlign';

  constructor(args: Partial<AlignOptions> & LayerArgs = {}) {
    super(args, ALIGN_DEFAULTS);
    this.requirePositiveInts('projectChannels');
  }

  private static shapes(inputShape: Shape | Shape[]): [Shape, Shape] {
    return pairShapes('WsssAlign', inputShape, ['low', 'high']);
  }

  /** `[low, high]` channels: those of the two projections `down_l` and `down_h`. */
  override inputShapeFromWeights(shapes: ReadonlyMap<string, readonly number[]>): Shape[] | null {
    const l = shapes.get('down_l/kernel');
    const h = shapes.get('down_h/kernel');
    return l && h
      ? [
          [null, null, null, l[2]!],
          [null, null, null, h[2]!],
        ]
      : null;
  }

  override build(inputShape: Shape | Shape[]): void {
    const [low, high] = Align.shapes(inputShape);
    const p = this.options.projectChannels;
    // Not re-initialised in the reference: PyTorch's default conv init (spec §1.7).
    this.addConv('down_l', { kernelSize: 1, inChannels: low[3]!, outChannels: p, init: 'torchDefault' });
    this.addConv('down_h', { kernelSize: 1, inChannels: high[3]!, outChannels: p, init: 'torchDefault' });
    this.addConv('flow_make', { kernelSize: 3, inChannels: 2 * p, outChannels: 2, init: 'torchDefault' });
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [low, high] = Align.shapes(inputShape);
    return [low[0] ?? null, low[1] ?? null, low[2] ?? null, high[3]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2)
      throw new Error('WsssAlign expects two inputs [low, high]');
    return tf.tidy(
      () =>
        alignForward(inputs[0] as tf.Tensor4D, inputs[1] as tf.Tensor4D, this.ops(this.isTraining(kwargs)))
          .warped,
    );
  }

  /** PyTorch state-dict rules (`align1.down_l.weight`, … — the WS-FCN instance name, spec §4.3). */
  stateDictRules(ptPrefix = 'align1.'): StateDictRule[] {
    return referenceModuleRules(this.name, ptPrefix, { convs: ['down_l', 'down_h', 'flow_make'], bns: [] });
  }
}
registerWsssLayer(Align);
