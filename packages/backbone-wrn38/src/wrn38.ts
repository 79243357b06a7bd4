/**
 * WideResNet-38 (ResNet-38d, "model A1") with output stride 8 (spec §2): pre-activation residual units,
 * bottlenecks with channel-wise dropout, dilation 2 in b5 and 4 in b6/b7, explicit symmetric padding, bn7 + ReLU.
 *
 * One contract-conforming layer (DESIGN §2) owning every weight under the reference's module names
 * (`b4_3/conv_branch2a/kernel`, `b4_3/bn_branch2a/gamma`, `bn7/moving_mean`), so a PyTorch state dict maps onto
 * it mechanically (`stateDict.ts`). Outputs the requested taps in order.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type BatchNormMode,
  type BatchNormWeights,
  type ConvWeights,
  channelDropout,
  checkpointed,
  countParameters,
  type InitName,
  type Kwargs,
  type LayerArgs,
  registerWsssLayer,
  type Shape,
  WsssLayer,
} from '@wsss/core';
import {
  TAP_STRIDE,
  type UnitSpec,
  unitSpecs,
  WRN38_CHANNELS,
  WRN38_TAPS,
  type Wrn38Depth,
  type Wrn38Tap,
  wrn38OutputSize,
} from './architecture.js';

/** Options of {@link WideResNet38} (see {@link WRN38_DEFAULTS}). */
export interface Wrn38Options {
  /** Width multiplier of every stage's channels (1 = the reference 64…4096). Default 1. */
  width: number;
  /** `full` = the reference 3/3/6/3/1/1 units in b2…b7; `light` = one unit per stage. Default 'full'. */
  depth: Wrn38Depth;
  /** Explicit channels [conv1a, b2, b3, b4, b5, b6, b7] overriding `width` (each a multiple of 4), or null. */
  channels: number[] | null;
  /** Taps to output, in this order. Default ['conv3', 'conv6']. */
  taps: Wrn38Tap[];
  /**
   * BatchNorm mode of every backbone BN: 'frozen' as the reference (ImageNet statistics, γ/β fixed, spec §1.5),
   * 'batch' when training from scratch. Default 'frozen'.
   */
  bnMode: BatchNormMode;
  /** Freeze conv1a and b2, b2_1, b2_2 as the reference does (spec §1.6). Default true. */
  freezeStem: boolean;
  /** Init of the convolutions before weights are loaded. Default 'kaimingNormal'. */
  init: InitName;
}

/**
 * Default options of {@link WideResNet38}: the reference ResNet-38d (width 1, full depth, taps conv3 and
 * conv6, frozen BatchNorm and stem, Kaiming-normal init).
 */
export const WRN38_DEFAULTS: Wrn38Options = {
  width: 1,
  depth: 'full',
  channels: null,
  taps: ['conv3', 'conv6'],
  bnMode: 'frozen',
  freezeStem: true,
  init: 'kaimingNormal',
};

/** A tap's channels and stride, as segmentation encoders report them. */
export interface TapInfo {
  name: Wrn38Tap;
  channels: number;
  stride: number;
}

/** Weight names inside a unit, as the reference modules are named (spec §2.1). */
export type UnitBn = 'bn2a' | 'bn2b1' | 'bn2b2';
/**
 * Convolution weights inside a unit: the 1×1 projection shortcut `branch1` and the residual branch's
 * `conv2a`, `conv2b1` and (bottlenecks only) `conv2b2`.
 */
export type UnitConv = 'branch1' | 'conv2a' | 'conv2b1' | 'conv2b2';

/** How `residualUnit` reaches a unit's weights: the layer passes its own, tests pass plain tensors. */
export interface UnitOps {
  /** BatchNorm `name`, then ReLU (every BN of a unit is followed by one, spec §2). */
  bnRelu(name: UnitBn, x: tf.Tensor4D): tf.Tensor;
  /**
   * Convolution `name` (the reference's have no bias) with `args`' stride, explicit symmetric zero
   * padding and dilation (defaults 1, 0, 1).
   */
  conv(
    name: UnitConv,
    x: tf.Tensor4D,
    args?: { stride?: number; padding?: number; dilation?: number },
  ): tf.Tensor4D;
}

/** Whether a unit has a 1×1 projection shortcut (`conv_branch1`): bottlenecks always, basic units on a shape change. */
export function hasProjection(u: UnitSpec): boolean {
  return u.kind === 'bottleneck' || u.inChannels !== u.outChannels || u.stride !== 1;
}

/**
 * One pre-activation residual unit (spec §2.1). Returns the output and `a` = ReLU(BN_2a(x)) (the "x_bn_relu"
 * tap). The identity shortcut adds the un-activated x; a projection shortcut convolves the activated a.
 * Bottlenecks apply channel-wise dropout (rate `u.dropout`) after both inner ReLUs when training.
 */
export function residualUnit(
  u: UnitSpec,
  x: tf.Tensor4D,
  training: boolean,
  ops: UnitOps,
): { y: tf.Tensor4D; a: tf.Tensor4D } {
  const a = ops.bnRelu('bn2a', x) as tf.Tensor4D;
  const shortcut = hasProjection(u) ? ops.conv('branch1', a, { stride: u.stride }) : x;
  let r: tf.Tensor4D;
  if (u.kind === 'basic') {
    r = ops.conv('conv2a', a, { stride: u.stride, padding: u.firstDilation, dilation: u.firstDilation });
    r = ops.bnRelu('bn2b1', r) as tf.Tensor4D;
    r = ops.conv('conv2b1', r, { padding: u.dilation, dilation: u.dilation });
  } else {
    r = ops.conv('conv2a', a, { stride: u.stride });
    r = ops.bnRelu('bn2b1', r) as tf.Tensor4D;
    r = channelDropout(r, u.dropout, { training });
    r = ops.conv('conv2b1', r, { padding: u.dilation, dilation: u.dilation });
    r = ops.bnRelu('bn2b2', r) as tf.Tensor4D;
    r = channelDropout(r, u.dropout, { training });
    r = ops.conv('conv2b2', r);
  }
  return { y: tf.add(shortcut, r) as tf.Tensor4D, a };
}

/** A unit's weights by their role (`bn2a`, `branch1`, `conv2a`, …); absent where the unit has none. */
export type UnitWeights = Partial<Record<UnitBn, BatchNormWeights> & Record<UnitConv, ConvWeights>>;

/** The trainable variables of a unit's weights (what a recomputed unit passes gradients to). */
function unitVariables(w: UnitWeights): tf.Variable[] {
  const out: tf.Variable[] = [];
  for (const v of Object.values(w)) {
    if (!v) continue;
    const parts = 'kernel' in v ? [v.kernel, v.bias] : [v.gamma, v.beta];
    for (const p of parts) if (p?.trainable) out.push(p.read() as tf.Variable);
  }
  return out;
}

/**
 * Declares a unit's weights under the reference module names (`bn_branch2a`, `conv_branch1`, `conv_branch2a`,
 * `bn_branch2b1`, `conv_branch2b1`, and for bottlenecks `bn_branch2b2`, `conv_branch2b2`) through `add`.
 */
export function declareUnitWeights(
  u: UnitSpec,
  add: {
    bn(name: string, channels: number): BatchNormWeights;
    conv(name: string, kernel: number, inChannels: number, outChannels: number): ConvWeights;
  },
): UnitWeights {
  if (u.kind === 'basic') {
    return {
      bn2a: add.bn('bn_branch2a', u.inChannels),
      branch1: hasProjection(u) ? add.conv('conv_branch1', 1, u.inChannels, u.outChannels) : undefined,
      conv2a: add.conv('conv_branch2a', 3, u.inChannels, u.midChannels),
      bn2b1: add.bn('bn_branch2b1', u.midChannels),
      conv2b1: add.conv('conv_branch2b1', 3, u.midChannels, u.outChannels),
    };
  }
  const q = u.outChannels / 4;
  const h = u.outChannels / 2;
  return {
    bn2a: add.bn('bn_branch2a', u.inChannels),
    branch1: add.conv('conv_branch1', 1, u.inChannels, u.outChannels),
    conv2a: add.conv('conv_branch2a', 1, u.inChannels, q),
    bn2b1: add.bn('bn_branch2b1', q),
    conv2b1: add.conv('conv_branch2b1', 3, q, h),
    bn2b2: add.bn('bn_branch2b2', h),
    conv2b2: add.conv('conv_branch2b2', 1, h, u.outChannels),
  };
}

/**
 * The WideResNet-38 backbone layer (create it with {@link wrn38}): input RGB (N,H,W,3), output one tensor per
 * requested tap, (N,⌈H/s⌉,⌈W/s⌉,C) at the tap's stride s, in the order of `taps`.
 */
export class WideResNet38 extends WsssLayer<Wrn38Options> {
  static className = 'WsssWideResNet38';
  /** The residual units of this configuration (reference names, channels, strides, dilations). */
  readonly units: UnitSpec[];
  private readonly stageChannels: number[];
  private conv1a?: ConvWeights;
  private unitWeights: UnitWeights[] = [];
  private bn7?: BatchNormWeights;
  /**
   * Stages (2…7: b2…b7) whose residual units recompute their activations in the backward pass instead of keeping
   * them (activation recomputation, `checkpointed` of @wsss/core): each unit keeps only its input while the forward
   * is recorded, at the price of running it again during the backward. Gradients are unchanged. A training-time
   * setting, not part of the layer's config; units whose pre-activation is a requested tap (conv4, conv5) run
   * plainly. Default: none.
   */
  recomputeStages: ReadonlySet<number> = new Set();

  constructor(args: Partial<Wrn38Options> & LayerArgs = {}) {
    super(args, WRN38_DEFAULTS);
    const o = this.options;
    if (!(o.width > 0)) throw new Error(`WsssWideResNet38: width must be > 0, got ${o.width}`);
    if (o.depth !== 'full' && o.depth !== 'light') {
      throw new Error(`WsssWideResNet38: depth must be 'full' or 'light', got '${o.depth}'`);
    }
    if (
      o.channels &&
      (o.channels.length !== 7 || o.channels.some((c) => !Number.isInteger(c) || c < 4 || c % 4 !== 0))
    ) {
      throw new Error(
        `WsssWideResNet38: channels must be 7 multiples of 4 [conv1a, b2, …, b7], got ${JSON.stringify(o.channels)}`,
      );
    }
    if (!Array.isArray(o.taps) || o.taps.length === 0 || o.taps.some((t) => !WRN38_TAPS.includes(t))) {
      throw new Error(
        `WsssWideResNet38: taps must be a non-empty list of ${WRN38_TAPS.join(', ')}, got ${JSON.stringify(o.taps)}`,
      );
    }
    this.units = unitSpecs(o.width, o.depth, o.channels ?? undefined);
    this.stageChannels = [
      this.units[0]!.inChannels,
      ...[2, 3, 4, 5, 6, 7].map((s) => this.lastUnit(s).outChannels),
    ];
  }

  private lastUnit(stage: number): UnitSpec {
    return this.units.filter((u) => u.stage === stage).pop()!;
  }

  /** Channels and output stride of each requested tap, in output order. */
  tapInfo(): TapInfo[] {
    const channels: Record<Wrn38Tap, number> = {
      conv2: this.stageChannels[1]!,
      conv3: this.stageChannels[2]!,
      conv4: this.stageChannels[3]!, // b5's input after its BN+ReLU: b4's output channels
      conv5: this.stageChannels[4]!, // b6's input after its BN+ReLU: b5's output channels
      conv6: this.stageChannels[6]!,
    };
    return this.options.taps.map((name) => ({ name, channels: channels[name], stride: TAP_STRIDE[name] }));
  }

  /** Channels of each output, in order (segmentation-encoder convention). */
  get outChannels(): number[] {
    return this.tapInfo().map((t) => t.channels);
  }

  /** The largest stride among the outputs (8 whenever conv4/5/6 is tapped). */
  get outputStride(): number {
    return Math.max(...this.tapInfo().map((t) => t.stride));
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    if (shape.length !== 4 || shape[3] !== 3) {
      throw new Error(`WsssWideResNet38 expects RGB NHWC input [N, H, W, 3], got ${JSON.stringify(shape)}`);
    }
    const o = this.options;
    const stemTrainable = !o.freezeStem;
    this.conv1a = this.addConv('conv1a', {
      kernelSize: 3,
      inChannels: 3,
      outChannels: this.stageChannels[0]!,
      init: o.init,
      trainable: stemTrainable,
    });
    this.unitWeights = this.units.map((u) => this.declareUnit(u, u.frozenInReference && o.freezeStem));
    this.bn7 = this.addBatchNorm('bn7', this.stageChannels[6]!, o.bnMode);
    this.built = true;
  }

  private declareUnit(u: UnitSpec, frozen: boolean): UnitWeights {
    const o = this.options;
    return declareUnitWeights(u, {
      bn: (name, c) => this.addBatchNorm(`${u.name}/${name}`, c, frozen ? 'frozen' : o.bnMode),
      conv: (name, k, cin, cout) =>
        this.addConv(`${u.name}/${name}`, {
          kernelSize: k,
          inChannels: cin,
          outChannels: cout,
          init: o.init,
          trainable: !frozen,
        }),
    });
  }

  /** A state dict's weights imply RGB input: the backbone always takes NHWC images with 3 channels. */
  override inputShapeFromWeights(): Shape {
    return [null, null, null, 3];
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const [n, h, w] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const shapes = this.tapInfo().map((t): Shape => {
      const size = (s: number | null | undefined) =>
        s == null ? null : wrn38OutputSize(s, t.stride as 2 | 4 | 8);
      return [n ?? null, size(h), size(w), t.channels];
    });
    return shapes.length === 1 ? shapes[0]! : shapes;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    return tf.tidy(() => {
      const x0 = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (x0.rank !== 4 || x0.shape[3] !== 3) {
        throw new Error(`WsssWideResNet38 expects RGB NHWC input [N, H, W, 3], got [${x0.shape}]`);
      }
      const training = this.isTraining(kwargs);
      const wanted = new Set(this.options.taps);
      const taps: Partial<Record<Wrn38Tap, tf.Tensor>> = {};
      let x = this.applyConv(this.conv1a!, x0, { padding: 1 });
      this.units.forEach((u, i) => {
        const w = this.unitWeights[i]!;
        const ops: UnitOps = {
          bnRelu: (name, t) => this.applyBatchNorm(w[name]!, t, training, true),
          conv: (name, t, args) => this.applyConv(w[name]!, t, args),
        };
        const tapped = (u.name === 'b5' && wanted.has('conv4')) || (u.name === 'b6' && wanted.has('conv5'));
        if (training && !tapped && this.recomputeStages.has(u.stage)) {
          x = checkpointed((t) => residualUnit(u, t, training, ops).y, x, unitVariables(w));
        } else {
          const { y, a } = residualUnit(u, x, training, ops);
          if (u.name === 'b5' && wanted.has('conv4')) taps.conv4 = a;
          if (u.name === 'b6' && wanted.has('conv5')) taps.conv5 = a;
          x = y;
        }
        if (u === this.lastUnit(2) && wanted.has('conv2')) taps.conv2 = x;
        if (u === this.lastUnit(3) && wanted.has('conv3')) taps.conv3 = x;
      });
      if (wanted.has('conv6')) taps.conv6 = this.applyBatchNorm(this.bn7!, x, training, true);
      const out = this.options.taps.map((t) => taps[t]!);
      return out.length === 1 ? out[0]! : out;
    });
  }

  /** Number of trainable-or-not parameters as PyTorch counts them (`parameters()`: no BN running statistics). */
  countParameters(): number {
    if (!this.built)
      throw new Error('WsssWideResNet38.countParameters: build the layer first (apply it to an input)');
    return countParameters(this);
  }
}
registerWsssLayer(WideResNet38);

/**
 * Creates a WideResNet-38 backbone. `wrn38()` is the reference ResNet-38d (taps conv3, conv6; frozen BN and stem);
 * `wrn38({ width: 1/8, depth: 'light', bnMode: 'batch', freezeStem: false })` is a small variant for CPU training
 * from scratch with the same topology and taps.
 */
export function wrn38(options: Partial<Wrn38Options> & LayerArgs = {}): WideResNet38 {
  return new WideResNet38(options);
}

export { WRN38_CHANNELS };
