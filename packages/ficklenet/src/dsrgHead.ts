/**
 * DSRG's DeepLab-v2 head (spec §6.1, train-s.prototxt): four parallel branches, each a 3×3 conv with dilation
 * (= padding) d → ReLU → Dropout 0.5 → 1×1 → ReLU → Dropout 0.5 → 1×1 to L classes, the four class maps SUMMED →
 * logits (N,h,w,L). Dilations 6/12/18/24. Every conv has a bias (Caffe). The last conv of each branch is
 * initialised N(0, 0.01²), bias 0 (spec §6.1); the others with the project's kaiming normal until weights are
 * loaded. Weight names follow the DeepLab-v2 ASPP prototxt: `fc6_k`, `fc7_k`, `fc8-SEC_k` (k = 1…4).
 *
 * Drops onto any backbone's feature map, e.g. WRN-38's `conv6` (N,h,w,4096) at output stride 8.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  dropout,
  type Kwargs,
  type LayerArgs,
  type ModuleOps,
  nextSeed,
  paramOps,
  registerWsssLayer,
  type Shape,
  WsssLayer,
} from '@wsss/core';

/** Options of {@link DsrgHead} (defaults {@link DSRG_HEAD_DEFAULTS}). */
export interface DsrgHeadOptions {
  /** L: output classes including background. Default 21 (VOC). */
  numClasses: number;
  /** Channels of the hidden 3×3 and 1×1 convs. Default 1024 (spec §6.1). */
  channels: number;
  /** Dilation (and padding) of each branch's 3×3 conv. Default [6, 12, 18, 24] (spec §6.1). */
  dilations: number[];
  /** Element-wise dropout after both hidden convs while training. Default 0.5 (spec §6.1). */
  dropout: number;
}

/**
 * Default options of {@link DsrgHead} (spec §6.1): 21 classes (VOC with background), 1024 hidden channels,
 * dilations 6/12/18/24, dropout 0.5.
 */
export const DSRG_HEAD_DEFAULTS: DsrgHeadOptions = {
  numClasses: 21,
  channels: 1024,
  dilations: [6, 12, 18, 24],
  dropout: 0.5,
};

/** The head over `ops` (see `ModuleOps`), shared by the layer and {@link dsrgHead}. */
export function dsrgHeadForward(
  x: tf.Tensor4D,
  ops: ModuleOps,
  opts: { training: boolean; dilations?: readonly number[]; dropout?: number },
): tf.Tensor4D {
  const dilations = opts.dilations ?? DSRG_HEAD_DEFAULTS.dilations;
  const rate = opts.dropout ?? DSRG_HEAD_DEFAULTS.dropout;
  return tf.tidy(() => {
    const outs = dilations.map((d, i) => {
      const k = i + 1;
      let y = tf.relu(ops.conv(`fc6_${k}`, x, { padding: d, dilation: d })) as tf.Tensor4D;
      y = dropout(y, rate, { training: opts.training }) as tf.Tensor4D;
      y = tf.relu(ops.conv(`fc7_${k}`, y)) as tf.Tensor4D;
      y = dropout(y, rate, { training: opts.training }) as tf.Tensor4D;
      return ops.conv(`fc8-SEC_${k}`, y);
    });
    return (outs.length === 1 ? outs[0]! : tf.addN(outs)) as tf.Tensor4D;
  });
}

/** Functional twin over a weight record named like the layer's (`fc6_1/kernel`, …, `fc8-SEC_4/bias`). */
export function dsrgHead(
  x: tf.Tensor4D,
  params: Record<string, tf.Tensor>,
  opts: { training: boolean; dilations?: readonly number[]; dropout?: number },
): tf.Tensor4D {
  return dsrgHeadForward(x, paramOps(params, 'frozen', opts.training), opts);
}

/** The head as a layer: input (N,h,w,Cin), output logits (N,h,w,numClasses). */
export class DsrgHead extends WsssLayer<DsrgHeadOptions> {
  static className = 'WsssDsrgHead';

  constructor(args: Partial<DsrgHeadOptions> & LayerArgs = {}) {
    super(args, DSRG_HEAD_DEFAULTS);
    const o = this.options;
    for (const k of ['numClasses', 'channels'] as const) {
      if (!Number.isInteger(o[k]) || o[k] <= 0)
        throw new Error(`WsssDsrgHead: ${k} must be a positive integer, got ${o[k]}`);
    }
    if (
      !Array.isArray(o.dilations) ||
      o.dilations.length === 0 ||
      o.dilations.some((d) => !Number.isInteger(d) || d < 1)
    )
      throw new Error(
        `WsssDsrgHead: dilations must be a non-empty list of positive integers, got ${JSON.stringify(o.dilations)}`,
      );
    if (!(o.dropout >= 0 && o.dropout < 1))
      throw new Error(`WsssDsrgHead: dropout must be in [0, 1), got ${o.dropout}`);
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const cin = s[3];
    if (s.length !== 4 || !cin)
      throw new Error(`WsssDsrgHead expects NHWC input with known channels, got ${JSON.stringify(s)}`);
    const { channels: c, numClasses: l } = this.options;
    this.options.dilations.forEach((_, i) => {
      const k = i + 1;
      this.addConv(`fc6_${k}`, { kernelSize: 3, inChannels: cin, outChannels: c, bias: true });
      this.addConv(`fc7_${k}`, { kernelSize: 1, inChannels: c, outChannels: c, bias: true });
      const fc8 = this.addConv(`fc8-SEC_${k}`, { kernelSize: 1, inChannels: c, outChannels: l, bias: true });
      // from @wsss/core's seeded stream when it is seeded, so a seeded build is reproducible
      const init = tf.randomNormal([1, 1, c, l], 0, 0.01, 'float32', nextSeed());
      fc8.kernel.write(init);
      init.dispose();
    });
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0] ?? null, s[1] ?? null, s[2] ?? null, this.options.numClasses];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const training = this.isTraining(kwargs);
    return dsrgHeadForward(x, this.ops(training), {
      training,
      dilations: this.options.dilations,
      dropout: this.options.dropout,
    });
  }
}
registerWsssLayer(DsrgHead);
