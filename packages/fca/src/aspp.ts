/**
 * ASPP — the context module of the SSSS baseline (spec §3.1), for the ablations of WS-FCN's Table I.
 * x (N,h,w,Cin) → [1×1; 3×3 at dilation 12/24/36; image pool] each conv → BN → ReLU → concat → 1×1 → BN → ReLU →
 * dropout 0.5 → (N,h,w,C). Every BN is in frozen-statistics mode with trainable γ/β (spec §1.5).
 * Weight names follow the DeepLab-v3+ ASPP module the reference uses (`aspp2/atrous_conv`, `aspp2/bn`, …).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type BatchNormMode,
  dropout,
  type Kwargs,
  type LayerArgs,
  type ModuleOps,
  paramOps,
  referenceModuleRules,
  registerWsssLayer,
  resizeBilinear,
  type Shape,
  type StateDictRule,
  WsssLayer,
} from '@wsss/core';

/**
 * Options of {@link Aspp} (defaults {@link ASPP_DEFAULTS}): output channels, the dilations of the 3×3
 * branches, the dropout rate on the output while training and the mode of every BatchNorm.
 */
export interface AsppOptions {
  /** Output channels. Default 256. */
  channels: number;
  /** Dilations of the three 3×3 branches (output stride 8). Default [12, 24, 36]. */
  rates: number[];
  dropout: number;
  bnMode: BatchNormMode;
}

/**
 * Default options of {@link Aspp}: 256 channels, dilations 12/24/36, dropout 0.5, frozen-statistics BatchNorm
 * (spec §1.5).
 */
export const ASPP_DEFAULTS: AsppOptions = {
  channels: 256,
  rates: [12, 24, 36],
  dropout: 0.5,
  bnMode: 'frozenStats',
};

/** The ASPP computation over `ops`, shared by the layer and {@link aspp}. */
export function asppForward(
  x: tf.Tensor4D,
  ops: ModuleOps,
  opts: { training: boolean; rates?: readonly number[]; dropout?: number },
): tf.Tensor4D {
  const rates = opts.rates ?? ASPP_DEFAULTS.rates;
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const cbr = (name: string, t: tf.Tensor4D, rate: number, k: 1 | 3) =>
      ops.bn(
        `${name}/bn`,
        ops.conv(`${name}/atrous_conv`, t, k === 1 ? {} : { padding: rate, dilation: rate }),
        { relu: true },
      );
    const outs = [cbr('aspp1', x, 1, 1), ...rates.map((r, i) => cbr(`aspp${i + 2}`, x, r, 3))];
    const pooled = ops.bn(
      'global_avg_pool/2',
      ops.conv('global_avg_pool/1', tf.mean(x, [1, 2], true) as tf.Tensor4D),
      { relu: true },
    );
    outs.push(resizeBilinear(pooled as tf.Tensor4D, [h, w], { alignCorners: true }));
    const y = ops.bn('bn1', ops.conv('conv1', tf.concat(outs, 3) as tf.Tensor4D), { relu: true });
    return dropout(y, opts.dropout ?? 0.5, { training: opts.training }) as tf.Tensor4D;
  });
}

/** Functional ASPP over a weight record named like the layer's weights. */
export function aspp(
  x: tf.Tensor4D,
  params: Record<string, tf.Tensor>,
  opts: { training: boolean; rates?: number[]; dropout?: number; bnMode?: BatchNormMode },
): tf.Tensor4D {
  return asppForward(x, paramOps(params, opts.bnMode ?? 'frozenStats', opts.training), opts);
}

/** The ASPP layer. Input (N,h,w,Cin), output (N,h,w,channels). */
export class Aspp extends WsssLayer<AsppOptions> {
  static className = 'WsssAspp';

  constructor(args: Partial<AsppOptions> & LayerArgs = {}) {
    super(args, ASPP_DEFAULTS);
    const o = this.options;
    this.requirePositiveInts('channels');
    if (!Array.isArray(o.rates) || o.rates.some((r) => !Number.isInteger(r) || r < 1)) {
      throw new Error(`WsssAspp: rates must be positive integers, got ${JSON.stringify(o.rates)}`);
    }
  }

  /** The input channels are those of the 1×1 branch. */
  override inputShapeFromWeights(shapes: ReadonlyMap<string, readonly number[]>): Shape | null {
    const k = shapes.get('aspp1/atrous_conv/kernel');
    return k ? [null, null, null, k[2]!] : null;
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const cin = s[3];
    if (s.length !== 4 || !cin)
      throw new Error(`WsssAspp expects NHWC input with known channels, got ${JSON.stringify(s)}`);
    const c = this.options.channels;
    const n = this.options.rates.length + 1;
    for (let i = 1; i <= n; i++) {
      this.addConv(`aspp${i}/atrous_conv`, { kernelSize: i === 1 ? 1 : 3, inChannels: cin, outChannels: c });
      this.addBatchNorm(`aspp${i}/bn`, c, this.options.bnMode);
    }
    this.addConv('global_avg_pool/1', { kernelSize: 1, inChannels: cin, outChannels: c });
    this.addBatchNorm('global_avg_pool/2', c, this.options.bnMode);
    this.addConv('conv1', { kernelSize: 1, inChannels: c * (n + 1), outChannels: c });
    this.addBatchNorm('bn1', c, this.options.bnMode);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0] ?? null, s[1] ?? null, s[2] ?? null, this.options.channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const training = this.isTraining(kwargs);
    return asppForward(x, this.ops(training), {
      training,
      rates: this.options.rates,
      dropout: this.options.dropout,
    });
  }

  /** PyTorch state-dict rules (`aspp.aspp2.atrous_conv.weight`, … with the default prefix `aspp.`). */
  stateDictRules(ptPrefix = 'aspp.'): StateDictRule[] {
    const n = this.options.rates.length + 1;
    const idx = Array.from({ length: n }, (_, i) => `aspp${i + 1}`);
    return referenceModuleRules(this.name, ptPrefix, {
      convs: [...idx.map((a) => `${a}/atrous_conv`), 'global_avg_pool/1', 'conv1'],
      bns: [...idx.map((a) => `${a}/bn`), 'global_avg_pool/2', 'bn1'],
    });
  }
}
registerWsssLayer(Aspp);
