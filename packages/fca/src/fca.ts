/**
 * FCA — Flexible Context Aggregation (WS-FCN, spec §4.2), as one contract-conforming layer with a functional twin.
 *
 * x (N,h,w,Cin) → four strip-convolution branches (k×1∘1×k + 1×k∘k×1, no BN/ReLU/bias), each reweighted by ONE
 * shared channel attention (ratio 1: avg- and max-pooled vectors through the same 1×1→ReLU→1×1 MLP, summed,
 * sigmoid) → concat with the image-pool branch (GAP → 1×1 → BN → ReLU → broadcast) → 1×1 embedding + BN
 * (frozen statistics, trainable affine, **no ReLU**) → spatial attention `s·x + x` (s = sigmoid(3×3 conv of
 * [channel mean, channel max])) → dropout 0.5 → (N,h,w,C).
 *
 * Weight names mirror the reference checkpoint (`fca.fca2.conv1_1.weight` ↔ `<layer>/fca2/conv1_1/kernel`). Each
 * branch also owns the BatchNorm the reference constructs but never uses (`fca{i}.bn`): declared, not trainable,
 * not used, so checkpoints round-trip and parameter counts equal the reference's.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type BatchNormMode,
  conv2d,
  dropout,
  type Kwargs,
  type LayerArgs,
  type ModuleOps,
  paramOps,
  reduceMax,
  referenceModuleRules,
  registerWsssLayer,
  resizeBilinear,
  type Shape,
  type StateDictRule,
  WsssLayer,
} from '@wsss/core';

/** One strip-convolution branch: kernel length, dilation and padding along the long axis. */
export interface FcaBranch {
  kernel: number;
  dilation: number;
  padding: number;
}

/** The paper's branch table (spec §4.2): 1/1/0, 3/12/12, 5/24/48, 7/36/108. */
export const FCA_BRANCHES: readonly FcaBranch[] = [
  { kernel: 1, dilation: 1, padding: 0 },
  { kernel: 3, dilation: 12, padding: 12 },
  { kernel: 5, dilation: 24, padding: 48 },
  { kernel: 7, dilation: 36, padding: 108 },
];

/** Options of {@link Fca} (defaults {@link FCA_DEFAULTS}). */
export interface FcaOptions {
  /** Output channels (and of every branch). Default 256. */
  channels: number;
  /** The strip-convolution branches. Default {@link FCA_BRANCHES}. */
  branches: FcaBranch[];
  /** Element-wise dropout rate on the output while training. Default 0.5. */
  dropout: number;
  /** BatchNorm mode of the pool and embedding BNs: the reference's 'frozenStats' (spec §1.5). */
  bnMode: BatchNormMode;
  /** Spatial-attention kernel size. Default 3. */
  spatialKernel: number;
}

/**
 * Default options of {@link Fca}: 256 channels, the paper's four branches ({@link FCA_BRANCHES}), dropout
 * 0.5, frozen-statistics BatchNorm, a 3×3 spatial-attention kernel.
 */
export const FCA_DEFAULTS: FcaOptions = {
  channels: 256,
  branches: FCA_BRANCHES.map((b) => ({ ...b })),
  dropout: 0.5,
  bnMode: 'frozenStats',
  spatialKernel: 3,
};

/**
 * Options of {@link fcaForward} and the functional twin {@link fca}: training mode (dropout), and the branch
 * table, dropout rate and spatial-attention kernel size (defaults {@link FCA_BRANCHES}, 0.5, 3).
 */
export interface FcaCallOptions {
  training: boolean;
  branches?: readonly FcaBranch[];
  dropout?: number;
  spatialKernel?: number;
}

/**
 * A strip convolution along one axis. Taps that can only ever read the zero padding (|offset| ≥ the map's size
 * along that axis — most of fca3/fca4 on a 41×41 map) contribute nothing; they are sliced off the kernel before
 * convolving. The result and gradients are identical; the cost falls with the number of live taps.
 */
function stripConv(
  ops: ModuleOps,
  name: string,
  x: tf.Tensor4D,
  axis: 'h' | 'w',
  b: FcaBranch,
  kernel: tf.Tensor4D,
): tf.Tensor4D {
  const size = axis === 'h' ? x.shape[1] : x.shape[2];
  let k = b.kernel;
  let pad = b.padding;
  let trim = 0;
  if (2 * b.padding === (b.kernel - 1) * b.dilation) {
    // symmetric ("same") padding: offsets t·d − p are symmetric, so trim equally from both ends
    while (trim < (b.kernel - 1) / 2 && Math.abs(trim * b.dilation - b.padding) >= size) trim++;
    k = b.kernel - 2 * trim;
    pad = b.padding - trim * b.dilation;
  }
  const args =
    axis === 'h'
      ? { padding: [pad, 0] as [number, number], dilation: [b.dilation, 1] as [number, number] }
      : { padding: [0, pad] as [number, number], dilation: [1, b.dilation] as [number, number] };
  if (trim === 0) return ops.conv(name, x, args);
  const w =
    axis === 'h'
      ? tf.slice(kernel, [trim, 0, 0, 0], [k, 1, -1, -1])
      : tf.slice(kernel, [0, trim, 0, 0], [1, k, -1, -1]);
  return conv2d(x, w as tf.Tensor4D, args);
}

/**
 * The FCA computation over `ops` (see `ModuleOps`): used by the layer and by the functional twin {@link fca}.
 */
export function fcaForward(x: tf.Tensor4D, ops: ModuleOps, opts: FcaCallOptions): tf.Tensor4D {
  const branches = opts.branches ?? FCA_BRANCHES;
  const sk = opts.spatialKernel ?? 3;
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const mlp = (v: tf.Tensor4D) =>
      ops.conv('ca/sharedMLP/2', tf.relu(ops.conv('ca/sharedMLP/0', v)) as tf.Tensor4D);
    const outs = branches.map((b, i) => {
      const name = `fca${i + 1}`;
      const kern = (c: string) => ops.weight(`${name}/${c}/kernel`) as tf.Tensor4D;
      const pathA = stripConv(
        ops,
        `${name}/conv1_2`,
        stripConv(ops, `${name}/conv1_1`, x, 'h', b, kern('conv1_1')),
        'w',
        b,
        kern('conv1_2'),
      );
      const pathB = stripConv(
        ops,
        `${name}/conv2_2`,
        stripConv(ops, `${name}/conv2_1`, x, 'w', b, kern('conv2_1')),
        'h',
        b,
        kern('conv2_2'),
      );
      const y = tf.add(pathA, pathB) as tf.Tensor4D;
      const att = tf.sigmoid(
        tf.add(mlp(tf.mean(y, [1, 2], true) as tf.Tensor4D), mlp(reduceMax(y, [1, 2], true) as tf.Tensor4D)),
      );
      return tf.mul(y, att);
    });
    const pooled = tf.relu(
      ops.bn('global_avg_pool/2', ops.conv('global_avg_pool/1', tf.mean(x, [1, 2], true) as tf.Tensor4D)),
    );
    outs.push(resizeBilinear(pooled as tf.Tensor4D, [h, w], { alignCorners: true }));
    const e = ops.bn('bn1', ops.conv('conv1', tf.concat(outs, 3) as tf.Tensor4D)) as tf.Tensor4D;
    const desc = tf.concat([tf.mean(e, 3, true), reduceMax(e, 3, true)], 3) as tf.Tensor4D;
    const s = tf.sigmoid(ops.conv('sa/conv', desc, { padding: (sk - 1) / 2 }));
    const out = tf.add(tf.mul(e, s), e) as tf.Tensor4D;
    return dropout(out, opts.dropout ?? 0.5, { training: opts.training }) as tf.Tensor4D;
  });
}

/**
 * Functional FCA over a record of weights named like the layer's (`fca1/conv1_1/kernel`, `bn1/gamma`, …; see
 * `Fca.weightRecord()`). Pure: BatchNorms use their stored statistics (the reference's FCA never updates them).
 */
export function fca(
  x: tf.Tensor4D,
  params: Record<string, tf.Tensor>,
  opts: FcaCallOptions & { bnMode?: BatchNormMode },
): tf.Tensor4D {
  return fcaForward(x, paramOps(params, opts.bnMode ?? 'frozenStats', opts.training), opts);
}

/** The FCA layer. Input (N,h,w,Cin), output (N,h,w,channels). */
export class Fca extends WsssLayer<FcaOptions> {
  static className = 'WsssFca';

  constructor(args: Partial<FcaOptions> & LayerArgs = {}) {
    super(args, FCA_DEFAULTS);
    const o = this.options;
    this.requirePositiveInts('channels');
    if (!Array.isArray(o.branches) || o.branches.length === 0)
      throw new Error('WsssFca: branches must be a non-empty list');
    o.branches.forEach((b, i) => {
      if (
        !(
          Number.isInteger(b.kernel) &&
          b.kernel >= 1 &&
          b.kernel % 2 === 1 &&
          Number.isInteger(b.dilation) &&
          b.dilation >= 1 &&
          Number.isInteger(b.padding) &&
          b.padding >= 0
        )
      ) {
        throw new Error(
          `WsssFca: branches[${i}] must have an odd kernel ≥ 1, dilation ≥ 1 and padding ≥ 0, got ${JSON.stringify(b)}`,
        );
      }
      if (2 * b.padding !== (b.kernel - 1) * b.dilation) {
        throw new Error(
          `WsssFca: branches[${i}] must preserve the size: padding ${b.padding} ≠ (kernel − 1)·dilation/2 = ${((b.kernel - 1) * b.dilation) / 2}`,
        );
      }
    });
    if (!(o.dropout >= 0 && o.dropout < 1))
      throw new Error(`WsssFca: dropout must be in [0, 1), got ${o.dropout}`);
    if (!(Number.isInteger(o.spatialKernel) && o.spatialKernel % 2 === 1))
      throw new Error(`WsssFca: spatialKernel must be odd, got ${o.spatialKernel}`);
  }

  /** The input channels are those of the first branch's first strip convolution. */
  override inputShapeFromWeights(shapes: ReadonlyMap<string, readonly number[]>): Shape | null {
    const k = shapes.get('fca1/conv1_1/kernel');
    return k ? [null, null, null, k[2]!] : null;
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const cin = s[3];
    if (s.length !== 4 || !cin)
      throw new Error(`WsssFca expects NHWC input with known channels, got ${JSON.stringify(s)}`);
    const c = this.options.channels;
    const conv = (name: string, k: [number, number], i: number, o: number) =>
      this.addConv(name, { kernelSize: k, inChannels: i, outChannels: o });
    this.options.branches.forEach((b, i) => {
      const name = `fca${i + 1}`;
      conv(`${name}/conv1_1`, [b.kernel, 1], cin, c);
      conv(`${name}/conv1_2`, [1, b.kernel], c, c);
      conv(`${name}/conv2_1`, [1, b.kernel], cin, c);
      conv(`${name}/conv2_2`, [b.kernel, 1], c, c);
      this.addBatchNorm(`${name}/bn`, c, 'frozen'); // unused, as in the reference
    });
    conv('ca/sharedMLP/0', [1, 1], c, c);
    conv('ca/sharedMLP/2', [1, 1], c, c);
    const sk = this.options.spatialKernel;
    conv('sa/conv', [sk, sk], 2, 1);
    conv('global_avg_pool/1', [1, 1], cin, c);
    this.addBatchNorm('global_avg_pool/2', c, this.options.bnMode);
    conv('conv1', [1, 1], c * (this.options.branches.length + 1), c);
    this.addBatchNorm('bn1', c, this.options.bnMode);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0] ?? null, s[1] ?? null, s[2] ?? null, this.options.channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const o = this.options;
    const training = this.isTraining(kwargs);
    const forward = (t: tf.Tensor4D) =>
      fcaForward(t, this.ops(training), {
        training,
        branches: o.branches,
        dropout: o.dropout,
        spatialKernel: o.spatialKernel,
      });
    return this.checkpointedCall(forward, x, training);
  }

  /** PyTorch state-dict rules (`<ptPrefix>fca1.conv1_1.weight` …, default prefix `fca.` as in WS-FCN checkpoints). */
  stateDictRules(ptPrefix = 'fca.'): StateDictRule[] {
    const n = this.options.branches.length;
    const branches = Array.from({ length: n }, (_, i) => `fca${i + 1}`);
    return referenceModuleRules(this.name, ptPrefix, {
      convs: [
        ...branches.flatMap((b) => ['conv1_1', 'conv1_2', 'conv2_1', 'conv2_2'].map((c) => `${b}/${c}`)),
        'ca/sharedMLP/0',
        'ca/sharedMLP/2',
        'sa/conv',
        'global_avg_pool/1',
        'conv1',
      ],
      bns: [...branches.map((b) => `${b}/bn`), 'global_avg_pool/2', 'bn1'],
    });
  }
}
registerWsssLayer(Fca);
