/**
 * Stochastic Gate (SSSS / WS-FCN, spec §3.3): mixes a deep and a shallow feature map.
 *
 * Training: an element-wise Bernoulli mask r with P(r = 1) = 1 − ψ over the full shape;
 *   out = r · (deep − ψ·shallow) / max(1e-8, 1 − ψ) + (1 − r) · shallow   (expectation: deep).
 * Eval: out = (1 − ψ)·deep + ψ·shallow.
 * The two formulas have different expectations; this is the reference code's behaviour and is kept for parity
 * (spec §9.6).
 */
import * as tf from '@tensorflow/tfjs-core';
import { uniformDraw } from '../ops/random.js';
import { type Kwargs, type LayerArgs, registerWsssLayer, type Shape, WsssLayer } from './contract.js';

/** Options of {@link StochasticGate}. */
export interface StochasticGateOptions {
  /** ψ: probability of taking the shallow stream while training (SG_PSI, spec §3.3). Default 0.3. */
  psi: number;
}

/** Default options of {@link StochasticGate}: ψ = 0.3. */
export const STOCHASTIC_GATE_DEFAULTS: StochasticGateOptions = { psi: 0.3 };

/**
 * Options of {@link stochasticGate}: ψ (default 0.3), training or eval mode, and for the training draw a
 * fixed mask or a seed (default: the next seed of {@link seedRandom}'s stream, else unseeded).
 */
export interface StochasticGateCallOptions {
  psi?: number;
  training: boolean;
  /** A {0,1} mask of deep's shape (1 = deep) replacing the random draw, for parity tests. */
  mask?: tf.Tensor;
  seed?: number;
}

function checkPsi(psi: number): void {
  if (!(psi >= 0 && psi <= 1)) throw new Error(`stochasticGate: psi must be in [0, 1], got ${psi}`);
}

/** Functional twin of {@link StochasticGate}. `deep` and `shallow` must have the same shape. */
export function stochasticGate(
  deep: tf.Tensor,
  shallow: tf.Tensor,
  opts: StochasticGateCallOptions,
): tf.Tensor {
  const psi = opts.psi ?? STOCHASTIC_GATE_DEFAULTS.psi;
  checkPsi(psi);
  if (!tf.util.arraysEqual(deep.shape, shallow.shape)) {
    throw new Error(
      `stochasticGate: deep [${deep.shape}] and shallow [${shallow.shape}] must have the same shape`,
    );
  }
  if (opts.mask && !tf.util.arraysEqual(opts.mask.shape, deep.shape)) {
    throw new Error(`stochasticGate: mask must have deep's shape [${deep.shape}], got [${opts.mask.shape}]`);
  }
  return tf.tidy(() => {
    if (!opts.training) return tf.add(tf.mul(deep, 1 - psi), tf.mul(shallow, psi));
    const r = opts.mask ?? tf.cast(tf.less(uniformDraw(deep.shape, opts.seed), 1 - psi), 'float32');
    const deepScaled = tf.div(tf.sub(deep, tf.mul(shallow, psi)), Math.max(1e-8, 1 - psi));
    // r·a + (1−r)·b written as b + r·(a − b): one fewer full-size temporary.
    return tf.add(shallow, tf.mul(r, tf.sub(deepScaled, shallow)));
  });
}

/**
 * The gate as a layer: inputs `[deep, shallow]` (same shape), output of that shape. No weights.
 * Random only when called with `{training: true}`.
 */
export class StochasticGate extends WsssLayer<StochasticGateOptions> {
  static className = 'WsssStochasticGate';

  constructor(args: Partial<StochasticGateOptions> & LayerArgs = {}) {
    super(args, STOCHASTIC_GATE_DEFAULTS);
    checkPsi(this.options.psi);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) {
      throw new Error(
        `WsssStochasticGate expects two inputs [deep, shallow], got shape ${JSON.stringify(inputShape)}`,
      );
    }
    const [a, b] = inputShape as Shape[];
    if (a!.length !== b!.length || a!.some((d, i) => d !== null && b![i] !== null && d !== b![i])) {
      throw new Error(
        `WsssStochasticGate: deep ${JSON.stringify(a)} and shallow ${JSON.stringify(b)} must have the same shape`,
      );
    }
    return a!.map((d, i) => d ?? b![i]!);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new Error('WsssStochasticGate expects two inputs [deep, shallow]');
    }
    return stochasticGate(inputs[0]!, inputs[1]!, {
      psi: this.options.psi,
      training: this.isTraining(kwargs),
    });
  }
}
registerWsssLayer(StochasticGate);
