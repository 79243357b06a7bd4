/**
 * The segmentation head of SSSS / WS-FCN (`last_conv`, spec §3.4): conv3×3 → BN → ReLU → Dropout(0.5) →
 * conv3×3 → BN → ReLU → Dropout(0.1) → conv1×1 with bias → foreground logits (N,H,W,K). Weight names keep the
 * reference's Sequential indices (`0`, `1`, `4`, `5`, `8`), so `last_conv.8.bias` ↔ `<layer>/8/bias`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { referenceModuleRules } from '../io/referenceRules.js';
import type { StateDictRule } from '../io/stateDict.js';
import { BATCH_NORM_MODES, type BatchNormMode } from '../ops/batchNorm.js';
import { dropout } from '../ops/dropout.js';
import {
  type Kwargs,
  type LayerArgs,
  type ModuleOps,
  paramOps,
  registerWsssLayer,
  type Shape,
  WsssLayer,
} from './contract.js';

/**
 * Options of {@link SegHead} (defaults {@link SEG_HEAD_DEFAULTS}); `bnMode` is the mode of both BatchNorms.
 */
export interface SegHeadOptions {
  /** Number of foreground classes K (background is added by `backgroundSoftmax`). Default 20 (VOC). */
  numClasses: number;
  /** Channels of the two 3×3 convs. Default 256. */
  channels: number;
  /** Dropout rates after the first and the second block. Default [0.5, 0.1]. */
  dropout: [number, number];
  bnMode: BatchNormMode;
}

/**
 * Default options of {@link SegHead}: 20 foreground classes (VOC), 256 channels, dropout 0.5 then 0.1,
 * train-mode (`batch`) BatchNorm.
 */
export const SEG_HEAD_DEFAULTS: SegHeadOptions = {
  numClasses: 20,
  channels: 256,
  dropout: [0.5, 0.1],
  bnMode: 'batch',
};

/** The head over `ops` (see `ModuleOps`). */
export function segHeadForward(
  x: tf.Tensor4D,
  ops: ModuleOps,
  opts: { training: boolean; dropout?: [number, number] },
): tf.Tensor4D {
  const [p1, p2] = opts.dropout ?? SEG_HEAD_DEFAULTS.dropout;
  return tf.tidy(() => {
    let y = ops.bn('1', ops.conv('0', x, { padding: 1 }), { relu: true }) as tf.Tensor4D;
    y = dropout(y, p1, { training: opts.training }) as tf.Tensor4D;
    y = ops.bn('5', ops.conv('4', y, { padding: 1 }), { relu: true }) as tf.Tensor4D;
    y = dropout(y, p2, { training: opts.training }) as tf.Tensor4D;
    return ops.conv('8', y);
  });
}

/** Functional twin over a weight record (`0/kernel`, `1/gamma`, …, `8/bias`); pure. */
export function segHead(
  x: tf.Tensor4D,
  params: Record<string, tf.Tensor>,
  opts: { training: boolean; dropout?: [number, number]; bnMode?: BatchNormMode },
): tf.Tensor4D {
  return segHeadForward(x, paramOps(params, opts.bnMode ?? 'batch', opts.training), opts);
}

export class SegHead extends WsssLayer<SegHeadOptions> {
  static className = 'WsssSegHead';

  constructor(args: Partial<SegHeadOptions> & LayerArgs = {}) {
    super(args, SEG_HEAD_DEFAULTS);
    const o = this.options;
    this.requirePositiveInts('numClasses', 'channels');
    if (!Array.isArray(o.dropout) || o.dropout.length !== 2 || o.dropout.some((r) => !(r >= 0 && r < 1))) {
      throw new Error(`WsssSegHead: dropout must be two rates in [0, 1), got ${JSON.stringify(o.dropout)}`);
    }
    if (!BATCH_NORM_MODES.includes(o.bnMode))
      throw new Error(`WsssSegHead: bnMode must be one of ${BATCH_NORM_MODES.join(', ')}`);
  }

  /** The input channels are those of the first 3×3 convolution (`0`). */
  override inputShapeFromWeights(shapes: ReadonlyMap<string, readonly number[]>): Shape | null {
    const k = shapes.get('0/kernel');
    return k ? [null, null, null, k[2]!] : null;
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    if (s.length !== 4 || !s[3])
      throw new Error(`WsssSegHead expects NHWC input with known channels, got ${JSON.stringify(s)}`);
    const { channels: c, numClasses: k, bnMode } = this.options;
    this.addConv('0', { kernelSize: 3, inChannels: s[3], outChannels: c });
    this.addBatchNorm('1', c, bnMode);
    this.addConv('4', { kernelSize: 3, inChannels: c, outChannels: c });
    this.addBatchNorm('5', c, bnMode);
    // kaiming normal weight; PyTorch's default bias init U(±1/√fan_in) (spec §1.7)
    this.addConv('8', {
      kernelSize: 1,
      inChannels: c,
      outChannels: k,
      bias: true,
      biasInit: 'torchDefaultBias',
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
    return segHeadForward(x, this.ops(training), { training, dropout: this.options.dropout });
  }

  /** PyTorch state-dict rules (`last_conv.0.weight`, …, `last_conv.8.bias`). */
  stateDictRules(ptPrefix = 'last_conv.'): StateDictRule[] {
    return referenceModuleRules(this.name, ptPrefix, { convs: ['0', '4', '8'], bns: ['1', '5'] });
  }
}
registerWsssLayer(SegHead);
