/**
 * The SSSS baseline's fusion (spec §3.2), for the ablations of WS-FCN's Table I: skip connection + Global Cue
 * Injection. Same interface as WS-FCN's Align + SF2: inputs `[conv3 (shallow), context (deep, lower
 * resolution)]`, outputs `[shallow, deep]` at conv3's resolution.
 *
 * - `fc8_skip`: 1×1 conv → BN → ReLU on conv3 (48 channels);
 * - deep = `fc8_x`: 3×3 conv → BN → ReLU on concat[context upsampled (align-corners), skip] (order: deep first);
 * - GCI: `g = ReLU(BN(1×1 conv(deep)))` globally max-pooled, γ = first half, β = second half;
 *   `s = BN_noaffine(1×1 conv(conv3))`, `s = ReLU(s·(γ + 1) + β)`; shallow = `ReLU(BN(1×1 conv(s)))`.
 * All BNs are train-mode (spec §1.5). Weights: `fc8_skip`, `fc8_x`, `gci/fc_deep`, `gci/fc_skip`, `gci/fc_out`
 * (each `<name>/conv` + `<name>/bn`). State-dict keys are those of 1-stage-wseg's `SoftMaxAE` (whose GCI module is
 * `shallow_mask` with `fc_deep`, `fc_skip`, `fc_cls`, each an `nn.Sequential` of conv `0` and BN `1`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type BatchNormMode,
  batchNormRules,
  type Kwargs,
  type LayerArgs,
  type ModuleOps,
  pairShapes,
  paramOps,
  reduceMax,
  registerWsssLayer,
  resizeBilinear,
  type Shape,
  type StateDictRule,
  WsssLayer,
} from '@wsss/core';

/**
 * Options of {@link GciFusion} (defaults {@link GCI_FUSION_DEFAULTS}); `bnMode` is the mode of every
 * BatchNorm.
 */
export interface GciFusionOptions {
  /** Channels of both outputs. Default 256. */
  channels: number;
  /** Channels of the skip projection of conv3. Default 48. */
  skipChannels: number;
  bnMode: BatchNormMode;
}

/**
 * Default options of {@link GciFusion}: 256 output channels, a 48-channel skip projection, train-mode
 * (`batch`) BatchNorm as the reference.
 */
export const GCI_FUSION_DEFAULTS: GciFusionOptions = { channels: 256, skipChannels: 48, bnMode: 'batch' };

/** The skip + GCI computation over `ops`, shared by the layer and {@link gciFusion}. */
export function gciFusionForward(
  conv3: tf.Tensor4D,
  context: tf.Tensor4D,
  ops: ModuleOps,
): [tf.Tensor4D, tf.Tensor4D] {
  return tf.tidy(() => {
    const [n, H, W] = conv3.shape;
    const cbr = (name: string, x: tf.Tensor4D, padding = 0) =>
      ops.bn(`${name}/bn`, ops.conv(`${name}/conv`, x, { padding }), { relu: true }) as tf.Tensor4D;
    const skip = cbr('fc8_skip', conv3);
    const up = resizeBilinear(context, [H, W], { alignCorners: true });
    const deep = cbr('fc8_x', tf.concat([up, skip], 3) as tf.Tensor4D, 1);
    const g = reduceMax(cbr('gci/fc_deep', deep), [1, 2]); // (N, 2C)
    const c = g.shape[1]! / 2;
    const gamma = tf.reshape(tf.slice(g, [0, 0], [n, c]), [n, 1, 1, c]);
    const beta = tf.reshape(tf.slice(g, [0, c], [n, c]), [n, 1, 1, c]);
    const s0 = ops.bn('gci/fc_skip/bn', ops.conv('gci/fc_skip/conv', conv3));
    const s = tf.relu(tf.add(tf.mul(s0, tf.add(gamma, 1)), beta)) as tf.Tensor4D;
    return [cbr('gci/fc_out', s), deep];
  });
}

/** Functional twin over a weight record; pure (no running-statistics update). */
export function gciFusion(
  conv3: tf.Tensor4D,
  context: tf.Tensor4D,
  params: Record<string, tf.Tensor>,
  opts: { training: boolean; bnMode?: BatchNormMode },
): [tf.Tensor4D, tf.Tensor4D] {
  return gciFusionForward(conv3, context, paramOps(params, opts.bnMode ?? 'batch', opts.training));
}

/** Skip + GCI fusion layer: inputs `[conv3, context]`, outputs `[shallow, deep]` at conv3's resolution. */
export class GciFusion extends WsssLayer<GciFusionOptions> {
  static className = 'WsssGciFusion';

  constructor(args: Partial<GciFusionOptions> & LayerArgs = {}) {
    super(args, GCI_FUSION_DEFAULTS);
    this.requirePositiveInts('channels', 'skipChannels');
  }

  private shapes(inputShape: Shape | Shape[]): [Shape, Shape] {
    return pairShapes('WsssGciFusion', inputShape, ['conv3', 'context']);
  }

  /** `[conv3, context]` channels: `fc8_skip`'s input, and `fc8_x`'s input minus the skip channels. */
  override inputShapeFromWeights(shapes: ReadonlyMap<string, readonly number[]>): Shape[] | null {
    const skip = shapes.get('fc8_skip/conv/kernel');
    const x = shapes.get('fc8_x/conv/kernel');
    return skip && x
      ? [
          [null, null, null, skip[2]!],
          [null, null, null, x[2]! - skip[3]!],
        ]
      : null;
  }

  override build(inputShape: Shape | Shape[]): void {
    const [a, b] = this.shapes(inputShape);
    const { channels: c, skipChannels: k, bnMode } = this.options;
    const cb = (name: string, kernel: number, cin: number, cout: number, affine = true) => {
      this.addConv(`${name}/conv`, { kernelSize: kernel, inChannels: cin, outChannels: cout });
      this.addBatchNorm(`${name}/bn`, cout, bnMode, { affine });
    };
    cb('fc8_skip', 1, a[3]!, k);
    cb('fc8_x', 3, b[3]! + k, c);
    cb('gci/fc_deep', 1, c, 2 * c);
    cb('gci/fc_skip', 1, a[3]!, c, false);
    cb('gci/fc_out', 1, c, c);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape[] {
    const [a] = this.shapes(inputShape);
    const s: Shape = [a[0] ?? null, a[1] ?? null, a[2] ?? null, this.options.channels];
    return [s, [...s]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor[] {
    if (!Array.isArray(inputs) || inputs.length !== 2)
      throw new Error('WsssGciFusion expects two inputs [conv3, context]');
    return gciFusionForward(
      inputs[0] as tf.Tensor4D,
      inputs[1] as tf.Tensor4D,
      this.ops(this.isTraining(kwargs)),
    );
  }

  /**
   * PyTorch state-dict rules with the reference's keys: `fc8_skip.0/.1`, `fc8_x.0/.1` and the GCI module
   * `shallow_mask.fc_deep.0/.1`, `shallow_mask.fc_skip.0/.1` (a BN without affine: statistics only),
   * `shallow_mask.fc_cls.0/.1` (our `gci/fc_out`).
   */
  stateDictRules(ptPrefix = ''): StateDictRule[] {
    const modules: [string, string][] = [
      ['fc8_skip', 'fc8_skip'],
      ['fc8_x', 'fc8_x'],
      ['gci/fc_deep', 'shallow_mask.fc_deep'],
      ['gci/fc_skip', 'shallow_mask.fc_skip'],
      ['gci/fc_out', 'shallow_mask.fc_cls'],
    ];
    return modules.flatMap(([tfName, pt]): StateDictRule[] => [
      { from: `${ptPrefix}${pt}.0.weight`, to: `${this.name}/${tfName}/conv/kernel`, transform: 'conv' },
      { from: `${ptPrefix}${pt}.0.bias`, to: `${this.name}/${tfName}/conv/bias` },
      ...batchNormRules(`${ptPrefix}${pt}.1`, `${this.name}/${tfName}/bn`),
    ]);
  }
}
registerWsssLayer(GciFusion);
