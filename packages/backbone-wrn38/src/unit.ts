/**
 * One ResNet-38d residual unit as a layer of its own (spec §2.1), for users who build their own backbones: the same
 * pre-activation unit the backbone stacks — basic (two 3×3 convolutions) or bottleneck (1×1, 3×3, 1×1 with
 * channel-wise dropout) — with the reference's weight names (`bn_branch2a`, `conv_branch1`, `conv_branch2a`,
 * `bn_branch2b1`, `conv_branch2b1`, `bn_branch2b2`, `conv_branch2b2`), so that one unit of a PyTorch ResNet-38d
 * state dict (`b4_3.*`) loads into it with {@link Wrn38Unit.stateDictRules}.
 */
import type * as tf from '@tensorflow/tfjs-core';
import {
  type BatchNormMode,
  type InitName,
  type Kwargs,
  type LayerArgs,
  registerWsssLayer,
  type Shape,
  type StateDictRule,
  WsssLayer,
} from '@wsss/core';
import { type UnitSpec, unitSpecs } from './architecture.js';
import { declareUnitWeights, hasProjection, residualUnit, type UnitWeights } from './wrn38.js';

/**
 * Options of {@link Wrn38Unit}: the unit's kind, channels, stride, dilations and dropout (as in
 * {@link UnitSpec}), the BatchNorm mode of its BNs and the init of its convolutions.
 */
export interface Wrn38UnitOptions
  extends Pick<
    UnitSpec,
    | 'kind'
    | 'inChannels'
    | 'midChannels'
    | 'outChannels'
    | 'stride'
    | 'firstDilation'
    | 'dilation'
    | 'dropout'
  > {
  bnMode: BatchNormMode;
  init: InitName;
}

/**
 * Default options of {@link Wrn38Unit}: a basic 64→128→128 unit with stride 1, dilation 1, no dropout, frozen
 * BatchNorm and Kaiming-normal init.
 */
export const WRN38_UNIT_DEFAULTS: Wrn38UnitOptions = {
  kind: 'basic',
  inChannels: 64,
  midChannels: 128,
  outChannels: 128,
  stride: 1,
  firstDilation: 1,
  dilation: 1,
  dropout: 0,
  bnMode: 'frozen',
  init: 'kaimingNormal',
};

/** A residual unit layer: input (N,H,W,inChannels) → (N,H/stride,W/stride,outChannels). */
export class Wrn38Unit extends WsssLayer<Wrn38UnitOptions> {
  static className = 'WsssWrn38Unit';
  private w: UnitWeights = {};

  constructor(args: Partial<Wrn38UnitOptions> & LayerArgs = {}) {
    super(args, WRN38_UNIT_DEFAULTS);
    const o = this.options;
    if (o.kind !== 'basic' && o.kind !== 'bottleneck')
      throw new Error(`WsssWrn38Unit: kind must be 'basic' or 'bottleneck', got '${o.kind}'`);
    this.requirePositiveInts('inChannels', 'outChannels', 'stride', 'firstDilation', 'dilation');
    if (o.kind === 'basic') this.requirePositiveInts('midChannels');
    else if (o.outChannels % 4 !== 0)
      throw new Error(
        `WsssWrn38Unit: a bottleneck's outChannels must be a multiple of 4, got ${o.outChannels}`,
      );
    if (!(o.dropout >= 0 && o.dropout < 1))
      throw new Error(`WsssWrn38Unit: dropout must be in [0, 1), got ${o.dropout}`);
  }

  /** The unit's spec (as the backbone's `units` list gives it), named after this layer. */
  get spec(): UnitSpec {
    const o = this.options;
    return {
      name: this.name,
      stage: 0,
      kind: o.kind,
      inChannels: o.inChannels,
      midChannels: o.midChannels,
      outChannels: o.outChannels,
      stride: o.stride,
      firstDilation: o.firstDilation,
      dilation: o.dilation,
      dropout: o.dropout,
      frozenInReference: false,
    };
  }

  /** Whether the shortcut is a 1×1 projection (`conv_branch1`) rather than the identity. */
  get hasProjection(): boolean {
    return hasProjection(this.spec);
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const o = this.options;
    if (s.length !== 4 || s[3] !== o.inChannels)
      throw new Error(
        `WsssWrn38Unit expects NHWC input with ${o.inChannels} channels, got ${JSON.stringify(s)}`,
      );
    this.w = declareUnitWeights(this.spec, {
      bn: (name, c) => this.addBatchNorm(name, c, o.bnMode),
      conv: (name, k, cin, cout) =>
        this.addConv(name, { kernelSize: k, inChannels: cin, outChannels: cout, init: o.init }),
    });
    this.built = true;
  }

  /** The input channels are the first BatchNorm's (`bn_branch2a`). */
  override inputShapeFromWeights(shapes: ReadonlyMap<string, readonly number[]>): Shape | null {
    const bn = shapes.get('bn_branch2a/moving_mean');
    return bn ? [null, null, null, bn[0]!] : null;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, h, w] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const o = this.options;
    // 3×3 convs with padding = dilation keep the size; a stride of 2 gives floor((n − 1)/2) + 1 (spec §2.2)
    const size = (v: number | null | undefined) => (v == null ? null : Math.floor((v - 1) / o.stride) + 1);
    return [n ?? null, size(h), size(w), o.outChannels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const training = this.isTraining(kwargs);
    return residualUnit(this.spec, x, training, {
      bnRelu: (name, t) => this.applyBatchNorm(this.w[name]!, t, training, true),
      conv: (name, t, args) => this.applyConv(this.w[name]!, t, args),
    }).y;
  }

  /**
   * PyTorch state-dict rules for one unit of the reference backbone: `<ptPrefix>conv_branch2a.weight` →
   * `<layer>/conv_branch2a/kernel` (OIHW → HWIO), `<ptPrefix>bn_branch2a.running_mean` → `…/moving_mean`, …;
   * counters (`num_batches_tracked`) are ignored. `ptPrefix` is the unit's module, e.g. `b4_3.`.
   */
  stateDictRules(ptPrefix = ''): StateDictRule[] {
    const bn: Record<string, string> = {
      weight: 'gamma',
      bias: 'beta',
      running_mean: 'moving_mean',
      running_var: 'moving_variance',
    };
    const convs = ['conv_branch1', 'conv_branch2a', 'conv_branch2b1', 'conv_branch2b2'];
    const bns = ['bn_branch2a', 'bn_branch2b1', 'bn_branch2b2'];
    return [
      ...convs.map(
        (c): StateDictRule => ({
          from: `${ptPrefix}${c}.weight`,
          to: `${this.name}/${c}/kernel`,
          transform: 'conv',
        }),
      ),
      ...bns.flatMap((b) => [
        ...Object.entries(bn).map(
          ([pt, tfName]): StateDictRule => ({
            from: `${ptPrefix}${b}.${pt}`,
            to: `${this.name}/${b}/${tfName}`,
          }),
        ),
        { from: `${ptPrefix}${b}.num_batches_tracked`, to: null },
      ]),
    ];
  }
}
registerWsssLayer(Wrn38Unit);

/**
 * A residual unit layer. `wrn38Unit('b4_3')` is that unit of the reference backbone (its channels, stride and
 * dilations, spec §2.2); options override them, or describe a unit of your own.
 */
export function wrn38Unit(
  reference: string | null,
  options: Partial<Wrn38UnitOptions> & LayerArgs = {},
): Wrn38Unit {
  if (reference === null) return new Wrn38Unit(options);
  const u = unitSpecs(1, 'full').find((s) => s.name === reference);
  if (!u)
    throw new Error(
      `wrn38Unit: '${reference}' is not a unit of ResNet-38d; expected one of ${unitSpecs(1, 'full')
        .map((s) => s.name)
        .join(', ')}`,
    );
  const { name: _n, stage: _s, frozenInReference: _f, ...spec } = u;
  return new Wrn38Unit({ name: reference, ...spec, ...options });
}
