/**
 * The module contract (DESIGN §2): every wsss module is one `tf.layers.Layer` subclass that owns its weights
 * directly (`addWeight`, no nested layers — tfjs does not track those), names them after the reference
 * checkpoint, has a `Wsss`-prefixed class name registered on import, round-trips its config, computes its output
 * shape exactly and reads `kwargs.training` for everything random. `WsssLayer` makes such a layer short to write.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BATCH_NORM_MODES, type BatchNormMode, batchNorm } from '../ops/batchNorm.js';
import { conv2d } from '../ops/conv2d.js';
import { checkpointed, recomputing } from '../training/recompute.js';
import { fanIn, INIT_NAMES, type InitName, initialValue } from './initializers.js';

/** tfjs-layers' constructor arguments (not exported by the package under a name). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
/** tfjs-layers' call keyword arguments. `training` switches dropout, gates and batch statistics. */
export type Kwargs = { [key: string]: any };
/**
 * A tensor shape as tfjs-layers gives it: one entry per axis, `null` where unknown (the batch size, free
 * spatial sizes); NHWC for images.
 */
export type Shape = (number | null)[];

/**
 * The two NHWC input shapes of a two-input module (`names` say what they are, for the error), each with known
 * channels.
 */
export function pairShapes(
  owner: string,
  inputShape: Shape | Shape[],
  names: [string, string],
): [Shape, Shape] {
  if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) {
    throw new Error(`${owner} expects two inputs [${names.join(', ')}], got ${JSON.stringify(inputShape)}`);
  }
  const [a, b] = inputShape as [Shape, Shape];
  if (a.length !== 4 || b.length !== 4 || !a[3] || !b[3]) {
    throw new Error(
      `${owner} expects NHWC inputs [${names.join(', ')}] with known channels, got ${JSON.stringify(inputShape)}`,
    );
  }
  return [a, b];
}

/** Keys tfjs-layers itself accepts in a layer's constructor arguments / config. */
const BASE_LAYER_KEYS = new Set([
  'customObjects', // passed by tfjs's fromConfig
  'inputShape',
  'batchInputShape',
  'batchSize',
  'dtype',
  'name',
  'trainable',
  'weights',
  'inputDType',
]);

/**
 * Splits constructor args into the base layer's and the module's own options, filling defaults.
 * Unknown keys are an error that lists the accepted ones (STYLE: "unknown options are an error").
 */
export function resolveOptions<O extends object>(
  className: string,
  args: Partial<O> & LayerArgs,
  defaults: O,
): { base: LayerArgs; options: O } {
  const base: Record<string, unknown> = {};
  const options: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(args ?? {})) {
    if (BASE_LAYER_KEYS.has(key)) base[key] = value;
    else if (key in defaults) {
      if (value !== undefined) options[key] = value;
    } else {
      throw new Error(
        `${className}: unknown option '${key}'; accepted options are ${[...Object.keys(defaults), ...BASE_LAYER_KEYS].join(', ')}`,
      );
    }
  }
  return { base: base as LayerArgs, options: options as O };
}

/**
 * Registers a layer class for (de)serialisation. Its `className` must start with `Wsss` so it can never clash
 * with tfjs's own classes or another library's.
 */
export function registerWsssLayer<
  T extends tf.serialization.SerializableConstructor<tf.serialization.Serializable>,
>(cls: T & { className: string }): T {
  if (!/^Wsss[A-Z]/.test(cls.className)) {
    throw new Error(`registerWsssLayer: className must start with 'Wsss', got '${cls.className}'`);
  }
  tf.serialization.registerClass(cls);
  return cls;
}

/** A convolution's weights as declared by `WsssLayer.addConv`. */
export interface ConvWeights {
  kernel: tfl.LayerVariable;
  bias?: tfl.LayerVariable;
}

/** A BatchNorm's weights and mode as declared by `WsssLayer.addBatchNorm`. */
export interface BatchNormWeights {
  mode: BatchNormMode;
  gamma?: tfl.LayerVariable;
  beta?: tfl.LayerVariable;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

/**
 * Arguments of `WsssLayer.addConv`: kernel size, channels, bias, initialisers and trainability of one
 * convolution's weights.
 */
export interface AddConvArgs {
  /** [kh, kw] or k for square kernels. */
  kernelSize: number | [number, number];
  inChannels: number;
  outChannels: number;
  /** Declare a bias. Default false (most reference convs have none). */
  bias?: boolean;
  /** Kernel init. Default 'kaimingNormal' (spec §1.7). */
  init?: InitName;
  /** Bias init. Default 'zeros'. */
  biasInit?: InitName;
  /** Default: the layer's `trainable`. */
  trainable?: boolean;
}

/**
 * Geometry of one convolution call (`WsssLayer.applyConv`, {@link ModuleOps.conv}): stride, explicit
 * symmetric zero padding (PyTorch `padding=`) and dilation. Scalars apply to both spatial axes, pairs are
 * [height, width]; defaults 1, 0, 1.
 */
export interface ConvCallArgs {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
}

/** Options of {@link ModuleOps.bn}. */
export interface BnCallArgs {
  /** Follow the BatchNorm with a ReLU (conv → BN → ReLU blocks). Default false. */
  relu?: boolean;
}

/**
 * How a module's math reaches its convolutions and BatchNorms by reference name (`fca2/conv1_1`, `bn1`). The
 * layer passes {@link WsssLayer.ops} (its own weights; BatchNorm statistics updated while training); a functional
 * twin passes {@link paramOps} over a plain record of tensors. One implementation serves both.
 */
export interface ModuleOps {
  /**
   * Convolution `name` on x (plus its bias when it has one), with `args`' stride, padding and dilation
   * (defaults 1, 0, 1).
   */
  conv(name: string, x: tf.Tensor4D, args?: ConvCallArgs): tf.Tensor4D;
  /** BatchNorm `name` on x; `{ relu: true }` returns max(0, BN(x)) (fused into one kernel on cpu/wasm). */
  bn(name: string, x: tf.Tensor, opts?: BnCallArgs): tf.Tensor;
  /** A raw weight by full name (e.g. `sa/conv/kernel`), for modules that use weights outside conv/bn. */
  weight(name: string): tf.Tensor;
}

/**
 * `ModuleOps` over a record of tensors named like a layer's weights (`<conv>/kernel`, `<conv>/bias`,
 * `<bn>/gamma`, `<bn>/beta`, `<bn>/moving_mean`, `<bn>/moving_variance`), for functional twins. Pure: in `batch`
 * mode while training it uses batch statistics but updates nothing. A missing weight is an error naming it.
 */
export function paramOps(
  params: Record<string, tf.Tensor>,
  bnModes: Record<string, BatchNormMode> | BatchNormMode,
  training: boolean,
): ModuleOps {
  const get = (name: string, optional = false): tf.Tensor | undefined => {
    const t = params[name];
    if (!t && !optional) {
      throw new Error(
        `missing weight '${name}' (have: ${Object.keys(params).slice(0, 8).join(', ')}${Object.keys(params).length > 8 ? ', …' : ''})`,
      );
    }
    return t;
  };
  return {
    conv: (name, x, args = {}) =>
      conv2d(x, get(`${name}/kernel`) as tf.Tensor4D, {
        ...args,
        bias: get(`${name}/bias`, true) as tf.Tensor1D | undefined,
      }),
    bn: (name, x, args = {}) => {
      const mode = typeof bnModes === 'string' ? bnModes : bnModes[name];
      if (!mode) throw new Error(`no BatchNorm mode given for '${name}'`);
      return batchNorm(
        x,
        {
          gamma: get(`${name}/gamma`, true) as tf.Tensor1D | undefined,
          beta: get(`${name}/beta`, true) as tf.Tensor1D | undefined,
          movingMean: get(`${name}/moving_mean`) as tf.Tensor1D,
          movingVariance: get(`${name}/moving_variance`) as tf.Tensor1D,
        },
        { mode, training, relu: args.relu ?? false },
      ).y;
    },
    weight: (name) => get(name)!,
  };
}

/**
 * Number of parameters as PyTorch counts them (`sum(p.numel() for p in parameters())`): every weight except
 * BatchNorm running statistics, trainable or not. Works on a layer or a model.
 */
export function countParameters(holder: { weights: tfl.LayerVariable[] }): number {
  let n = 0;
  for (const w of holder.weights) {
    if (!/moving_(mean|variance)(_\d+)?$/.test(w.originalName)) n += w.shape.reduce((a, b) => a! * b!, 1)!;
  }
  return n;
}

/** The kind of a weight by its name suffix: decides learning-rate group and weight decay (spec §1.6). */
export type WeightKind = 'kernel' | 'bias' | 'gamma' | 'beta' | 'moving_mean' | 'moving_variance' | 'other';

/**
 * The {@link WeightKind} of a weight from the last segment of its name, ignoring a tfjs `_<n>` uniquifying
 * suffix (`backbone/conv1a/kernel` → 'kernel'); names that are none of the known kinds give 'other'.
 */
export function weightKind(name: string): WeightKind {
  const last = name.split('/').pop()!.replace(/_\d+$/, '');
  switch (last) {
    case 'kernel':
    case 'bias':
    case 'gamma':
    case 'beta':
    case 'moving_mean':
    case 'moving_variance':
      return last;
    default:
      return 'other';
  }
}

/**
 * Base class of wsss modules. Subclasses: declare `static className = 'WsssX'`, call
 * `super(args, DEFAULTS)`, create weights in `build` with `addConv` / `addBatchNorm`, compute in `call` with
 * `applyConv` / `applyBatchNorm`, and register with `registerWsssLayer(X)` at module scope.
 */
export abstract class WsssLayer<O extends object = object> extends tfl.layers.Layer {
  /** The module's own options with defaults filled in; exactly what `getConfig` adds to the base config. */
  readonly options: O;
  private readonly declaredConvs = new Map<string, ConvWeights>();
  private readonly declaredBns = new Map<string, BatchNormWeights>();

  constructor(args: Partial<O> & LayerArgs, defaults: O) {
    const className = (new.target as unknown as { className: string }).className;
    const { base, options } = resolveOptions(className, args ?? {}, defaults);
    super(base);
    this.options = options;
  }

  /**
   * Recompute this module's activations in the backward pass instead of keeping them (activation recomputation,
   * like `torch.utils.checkpoint`): while gradients are recorded the module keeps only its input, and runs again
   * inside the backward pass with its dropout draws replayed and BatchNorm statistics updated once — the same
   * gradients for one more forward of the module. A training option, not part of the model (not in `getConfig`).
   * Modules that support it run their forward through {@link checkpointedCall}.
   */
  recompute = false;

  /** `fn(x)`, as a checkpointed segment over this layer's trainable weights when training with {@link recompute}. */
  protected checkpointedCall<T extends tf.Tensor>(fn: (x: T) => T, x: T, training: boolean): T {
    if (!training || !this.recompute) return fn(x);
    return checkpointed(
      fn,
      x,
      this.trainableWeights.map((w) => w.read() as tf.Variable),
    );
  }

  /** Throws naming the option unless each of `keys` is a positive integer (for constructors). */
  protected requirePositiveInts(...keys: (keyof O & string)[]): void {
    for (const k of keys) {
      const v = this.options[k];
      if (!Number.isInteger(v) || (v as number) <= 0) {
        throw new Error(`${this.getClassName()}: ${k} must be a positive integer, got ${String(v)}`);
      }
    }
  }

  /**
   * The input shape that weights of these shapes imply (names without this layer's scope, e.g. `down_l/kernel`;
   * tfjs layouts), so that `loadStateDict` can build an unbuilt layer from a state dict. Null (the default) when the
   * weights cannot tell; modules whose first weights reveal their input channels override it.
   */
  inputShapeFromWeights(_shapes: ReadonlyMap<string, readonly number[]>): Shape | Shape[] | null {
    return null;
  }

  /** The last multi-output call on concrete tensors, for the executor's repeats (see {@link WsssLayer.apply}). */
  private lastCall?: {
    inputs: tf.Tensor[];
    kwargs: Kwargs | undefined;
    scope: unknown;
    outputs: tf.Tensor[];
    /** The weights' data after the call: a weight assigned since (an optimizer step) means a new call. */
    weights: unknown[];
    repeatsLeft: number;
  };

  /**
   * `Layer.apply`, except that a layer with k outputs is not run again for the k − 1 repeats tfjs-layers' executor
   * makes. The executor behind `model.fit`, `fitDataset`, `predict`, `evaluate` and `execute` (4.22) visits each
   * output of a layer separately and calls the layer once per visit, with the same input tensors and the same
   * kwargs object; a two-output module (Sf2, a two-tap backbone, FickleNet's selection with its score map) ran
   * twice per batch: twice the compute, two random draws, BatchNorm statistics updated twice. A repeat — same input
   * tensors (by identity), same kwargs object, same tidy scope, no weight assigned since, an output still alive, at
   * most k − 1 of them — gets
   * the first call's outputs, so every path gives what one call (and `applyModel`) gives.
   */
  override apply(
    inputs: tf.Tensor | tf.Tensor[] | tfl.SymbolicTensor | tfl.SymbolicTensor[],
    kwargs?: Kwargs,
  ): tf.Tensor | tf.Tensor[] | tfl.SymbolicTensor | tfl.SymbolicTensor[] {
    const xs = (Array.isArray(inputs) ? inputs : [inputs]) as unknown[];
    if (!xs.every((x) => x instanceof tf.Tensor)) return super.apply(inputs, kwargs);
    const scope = tf.engine().state.activeScope;
    const last = this.lastCall;
    if (
      last &&
      last.kwargs === kwargs &&
      last.scope === scope &&
      last.inputs.length === xs.length &&
      last.inputs.every((x, i) => x === xs[i] && !x.isDisposed) &&
      // the executor may already have freed an output whose consumers all ran (inference), never all of them
      last.outputs.some((o) => !o.isDisposed) &&
      this.weightData().every((d, i) => d === last.weights[i])
    ) {
      last.repeatsLeft--;
      if (last.repeatsLeft === 0) this.lastCall = undefined;
      return [...last.outputs];
    }
    const out = super.apply(inputs, kwargs) as tf.Tensor | tf.Tensor[];
    this.lastCall =
      Array.isArray(out) && out.length > 1
        ? {
            inputs: xs as tf.Tensor[],
            kwargs,
            scope,
            outputs: out,
            weights: this.weightData(),
            repeatsLeft: out.length - 1,
          }
        : undefined;
    return out;
  }

  private weightData(): unknown[] {
    return this.weights.map((w) => w.read().dataId);
  }

  /**
   * Whether the call runs in training mode: `kwargs.training === true` (dropout, gates and batch statistics
   * switch on it).
   */
  protected isTraining(kwargs: Kwargs | undefined): boolean {
    return kwargs?.['training'] === true;
  }

  /** Declares a conv kernel `<name>/kernel` (HWIO) and optionally `<name>/bias`. */
  protected addConv(name: string, a: AddConvArgs): ConvWeights {
    const [kh, kw] = typeof a.kernelSize === 'number' ? [a.kernelSize, a.kernelSize] : a.kernelSize;
    const shape = [kh, kw, a.inChannels, a.outChannels];
    for (const [k, v] of Object.entries({ kh, kw, inChannels: a.inChannels, outChannels: a.outChannels })) {
      if (!Number.isInteger(v) || v <= 0)
        throw new Error(
          `${this.getClassName()}.addConv('${name}'): ${k} must be a positive integer, got ${v}`,
        );
    }
    const trainable = a.trainable ?? this.trainable;
    const init = a.init ?? 'kaimingNormal';
    if (!INIT_NAMES.includes(init))
      throw new Error(`unknown init '${init}'; expected one of ${INIT_NAMES.join(', ')}`);
    const fan = fanIn(shape);
    const kernel = this.addWeight(
      `${name}/kernel`,
      shape,
      'float32',
      initializer(init, fan),
      undefined,
      trainable,
    );
    const weights: ConvWeights = { kernel };
    this.declaredConvs.set(name, weights);
    if (a.bias) {
      weights.bias = this.addWeight(
        `${name}/bias`,
        [a.outChannels],
        'float32',
        initializer(a.biasInit ?? 'zeros', fan),
        undefined,
        trainable,
      );
    }
    return weights;
  }

  /**
   * Declares BatchNorm weights `<name>/{gamma,beta,moving_mean,moving_variance}` (Keras names; the PyTorch
   * mapping is weight→gamma, bias→beta, running_mean→moving_mean, running_var→moving_variance). In `frozen`
   * mode γ/β are not trainable (spec §1.5); statistics never are.
   */
  protected addBatchNorm(
    name: string,
    channels: number,
    mode: BatchNormMode,
    opts: { affine?: boolean } = {},
  ): BatchNormWeights {
    if (!BATCH_NORM_MODES.includes(mode)) {
      throw new Error(
        `${this.getClassName()}.addBatchNorm('${name}'): mode must be one of ${BATCH_NORM_MODES.join(', ')}, got '${mode}'`,
      );
    }
    const affine = opts.affine ?? true;
    const trainableAffine = mode !== 'frozen' && this.trainable;
    // Keras order (gamma, beta, moving_mean, moving_variance), so weight lists line up with tfjs's own BN.
    const gamma = affine
      ? this.addWeight(
          `${name}/gamma`,
          [channels],
          'float32',
          initializer('ones', 1),
          undefined,
          trainableAffine,
        )
      : undefined;
    const beta = affine
      ? this.addWeight(
          `${name}/beta`,
          [channels],
          'float32',
          initializer('zeros', 1),
          undefined,
          trainableAffine,
        )
      : undefined;
    const w: BatchNormWeights = {
      mode,
      movingMean: this.addWeight(
        `${name}/moving_mean`,
        [channels],
        'float32',
        initializer('zeros', 1),
        undefined,
        false,
      ),
      movingVariance: this.addWeight(
        `${name}/moving_variance`,
        [channels],
        'float32',
        initializer('ones', 1),
        undefined,
        false,
      ),
    };
    if (gamma && beta) Object.assign(w, { gamma, beta });
    this.declaredBns.set(name, w);
    return w;
  }

  /** Convolution with explicit symmetric zero padding (spec §1.4) through the differentiable `conv2d` op. */
  protected applyConv(w: ConvWeights, x: tf.Tensor4D, args: ConvCallArgs = {}): tf.Tensor4D {
    return conv2d(x, w.kernel.read() as tf.Tensor4D, {
      ...args,
      bias: w.bias?.read() as tf.Tensor1D | undefined,
    });
  }

  /**
   * BatchNorm in the declared mode (then ReLU with `relu`); in `batch` mode while training it updates the running
   * statistics.
   */
  protected applyBatchNorm(w: BatchNormWeights, x: tf.Tensor, training: boolean, relu = false): tf.Tensor {
    const r = batchNorm(
      x,
      {
        gamma: w.gamma?.read() as tf.Tensor1D | undefined,
        beta: w.beta?.read() as tf.Tensor1D | undefined,
        movingMean: w.movingMean.read() as tf.Tensor1D,
        movingVariance: w.movingVariance.read() as tf.Tensor1D,
      },
      { mode: w.mode, training, relu },
    );
    // a checkpointed segment running again in the backward pass has updated them in its forward already
    if (r.newMovingMean && r.newMovingVariance && recomputing()) {
      r.newMovingMean.dispose();
      r.newMovingVariance.dispose();
    } else if (r.newMovingMean && r.newMovingVariance) {
      w.movingMean.write(r.newMovingMean);
      w.movingVariance.write(r.newMovingVariance);
      r.newMovingMean.dispose();
      r.newMovingVariance.dispose();
    }
    return r.y;
  }

  /** `ModuleOps` over this layer's declared weights (see {@link ModuleOps}). */
  protected ops(training: boolean): ModuleOps {
    const find = <T>(map: Map<string, T>, name: string, what: string): T => {
      const w = map.get(name);
      if (!w) throw new Error(`${this.getClassName()}: no ${what} named '${name}' was declared`);
      return w;
    };
    return {
      conv: (name, x, args) => this.applyConv(find(this.declaredConvs, name, 'convolution'), x, args),
      bn: (name, x, args = {}) =>
        this.applyBatchNorm(find(this.declaredBns, name, 'BatchNorm'), x, training, args.relu ?? false),
      weight: (name) => {
        const w = this.weights.find((v) => v.originalName === name || v.originalName.endsWith(`/${name}`));
        if (!w) throw new Error(`${this.getClassName()}: no weight named '${name}'`);
        return w.read();
      },
    };
  }

  /** This layer's weights as a record keyed by their names without the layer prefix (for functional twins). */
  weightRecord(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    const prefix = `${this.name}/`;
    for (const w of this.weights) {
      const n = w.originalName.startsWith(prefix) ? w.originalName.slice(prefix.length) : w.originalName;
      out[n] = w.read();
    }
    return out;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...(this.options as tf.serialization.ConfigDict) };
  }
}

/** tfjs calls `initializer.apply(shape, dtype)` only; a small object avoids importing its private class. */
function initializer(init: InitName, fan: number): any {
  return {
    apply: (shape: number[]) => initialValue(init, shape, fan),
    getConfig: () => ({ init }),
    getClassName: () => `WsssInit_${init}`,
  };
}
