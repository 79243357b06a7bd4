/**
 * SF2 cross fusion (WS-FCN `SF2`, spec §4.4): two streams — the shallow feature ("h") and the aligned deep
 * feature ("v") — each through two conv-BN-ReLU blocks, fused multiplicatively, then each refined with a residual
 * block: returns `[h4 (shallow), v4 (deep)]`. All convs 3×3 with bias, train-mode BatchNorm.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type BatchNormMode,
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

/** Options of {@link Sf2} (defaults {@link SF2_DEFAULTS}). */
export interface Sf2Options {
  /** Channels of both streams. Default 256. */
  channels: number;
  /** BatchNorm mode: ordinary train-mode BN in the reference (spec §1.5). */
  bnMode: BatchNormMode;
}

/**
 * Default options of {@link Sf2}: 256 channels per stream, train-mode (`batch`) BatchNorm as the reference.
 */
export const SF2_DEFAULTS: Sf2Options = { channels: 256, bnMode: 'batch' };

const BLOCKS = ['1h', '2h', '3h', '4h', '1v', '2v', '3v', '4v'] as const;

/**
 * The fusion over `ops` (spec §4.4): `h1 = CBR1h(left)`, `h2 = CBR2h(h1)`, `v1 = CBR1v(down)`, `v2 = CBR2v(v1)`,
 * `f = h2 ⊙ v2`, `h3 = CBR3h(f) + h1`, `h4 = CBR4h(h3)`, `v3 = CBR3v(f) + v1`, `v4 = CBR4v(v3)`. If `down`'s size
 * differs from `left`'s it is first resized to it (bilinear, align-corners false, as the reference's guard).
 */
export function sf2Forward(left: tf.Tensor4D, down: tf.Tensor4D, ops: ModuleOps): [tf.Tensor4D, tf.Tensor4D] {
  return tf.tidy(() => {
    const [, H, W] = left.shape;
    const d =
      down.shape[1] === H && down.shape[2] === W
        ? down
        : resizeBilinear(down, [H, W], { alignCorners: false });
    const cbr = (k: (typeof BLOCKS)[number], x: tf.Tensor4D) =>
      ops.bn(`bn${k}`, ops.conv(`conv${k}`, x, { padding: 1 }), { relu: true }) as tf.Tensor4D;
    const h1 = cbr('1h', left);
    const h2 = cbr('2h', h1);
    const v1 = cbr('1v', d);
    const v2 = cbr('2v', v1);
    const f = tf.mul(h2, v2) as tf.Tensor4D;
    const h4 = cbr('4h', tf.add(cbr('3h', f), h1) as tf.Tensor4D);
    const v4 = cbr('4v', tf.add(cbr('3v', f), v1) as tf.Tensor4D);
    return [h4, v4];
  });
}

/**
 * Functional twin of {@link Sf2} over a weight record (`conv1h/kernel`, `conv1h/bias`, `bn1h/gamma`, …). Pure:
 * while training it normalises with batch statistics but updates no running statistics (the layer does).
 */
export function sf2(
  left: tf.Tensor4D,
  down: tf.Tensor4D,
  params: Record<string, tf.Tensor>,
  opts: { training: boolean; bnMode?: BatchNormMode },
): [tf.Tensor4D, tf.Tensor4D] {
  return sf2Forward(left, down, paramOps(params, opts.bnMode ?? 'batch', opts.training));
}

/** The SF2 layer: inputs `[left (shallow), down (aligned deep)]`, outputs `[shallow, deep]`, same shape as left. */
export class Sf2 extends WsssLayer<Sf2Options> {
  static className = 'WsssSf2';

  constructor(args: Partial<Sf2Options> & LayerArgs = {}) {
    super(args, SF2_DEFAULTS);
    this.requirePositiveInts('channels');
  }

  private shapes(inputShape: Shape | Shape[]): [Shape, Shape] {
    const [left, down] = pairShapes('WsssSf2', inputShape, ['left', 'down']);
    const c = this.options.channels;
    if (left[3] !== c || down[3] !== c) {
      throw new Error(
        `WsssSf2: both inputs must have ${c} channels (option 'channels'), got ${left[3]} and ${down[3]}`,
      );
    }
    return [left, down];
  }

  /** Both inputs have `channels` channels (the option fixes them; the weights agree). */
  override inputShapeFromWeights(): Shape[] {
    const c = this.options.channels;
    return [
      [null, null, null, c],
      [null, null, null, c],
    ];
  }

  override build(inputShape: Shape | Shape[]): void {
    this.shapes(inputShape);
    const c = this.options.channels;
    for (const k of BLOCKS) {
      this.addConv(`conv${k}`, {
        kernelSize: 3,
        inChannels: c,
        outChannels: c,
        bias: true,
        init: 'kaimingNormal',
        biasInit: 'zeros',
      });
      this.addBatchNorm(`bn${k}`, c, this.options.bnMode);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape[] {
    const [left] = this.shapes(inputShape);
    return [[...left], [...left]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor[] {
    if (!Array.isArray(inputs) || inputs.length !== 2)
      throw new Error('WsssSf2 expects two inputs [left, down]');
    const [left, down] = inputs as tf.Tensor4D[];
    const training = this.isTraining(kwargs);
    if (!training || !this.recompute) return sf2Forward(left!, down!, this.ops(training));
    // one checkpointed segment over both streams: in and out as channel concatenations
    const [cl, cd] = [left!.shape[3], down!.shape[3]];
    const both = this.checkpointedCall(
      (t: tf.Tensor4D) => {
        const [l, d] = tf.split(t, [cl, cd], 3) as tf.Tensor4D[];
        return tf.concat(sf2Forward(l!, d!, this.ops(training)), 3) as tf.Tensor4D;
      },
      tf.concat([left!, down!], 3) as tf.Tensor4D,
      training,
    );
    return tf.split(both, 2, 3);
  }

  /** PyTorch state-dict rules (`sf2.conv1h.weight`, `sf2.bn1h.running_mean`, …). */
  stateDictRules(ptPrefix = 'sf2.'): StateDictRule[] {
    return referenceModuleRules(this.name, ptPrefix, {
      convs: BLOCKS.map((k) => `conv${k}`),
      bns: BLOCKS.map((k) => `bn${k}`),
    });
  }
}
registerWsssLayer(Sf2);
