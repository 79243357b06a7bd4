/**
 * Test utilities for wsss modules and for users writing their own contract-conforming layers:
 * finite-difference gradient checks, closeness assertions that name the worst element, leak checks,
 * and the list of backends every op is tested on.
 *
 * These helpers throw plain `Error`s, so they work under any test runner.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setBackend } from '../backend/setBackend.js';
import { seedRandom } from '../ops/random.js';

/** Backends every op test runs on (DESIGN §3): the reference `cpu` and the fast CPU path `wasm`. */
export const TEST_BACKENDS = ['cpu', 'wasm'] as const;
/** One of {@link TEST_BACKENDS}: `cpu` or `wasm`. */
export type TestBackend = (typeof TEST_BACKENDS)[number];

/** Switch to `name` (initialising it on first use) for the tests that follow. */
export async function useBackend(name: TestBackend): Promise<void> {
  await setBackend(name);
}

function toArray(x: tf.Tensor | ArrayLike<number> | number[]): Float32Array {
  if (x instanceof tf.Tensor) return x.dataSync() as Float32Array;
  return Float32Array.from(x as ArrayLike<number>);
}

/** Tolerances and message prefix of {@link expectClose}. */
export interface CloseOptions {
  /** Absolute tolerance. Default 1e-5. */
  atol?: number;
  /** Relative tolerance (of |expected|). Default 1e-4. */
  rtol?: number;
  /** Prefix for the error message. */
  what?: string;
}

/**
 * Asserts `|actual − expected| ≤ atol + rtol·|expected|` element-wise; shapes must match when both are tensors.
 * The error names the first offending flat index and both values.
 */
export function expectClose(
  actual: tf.Tensor | ArrayLike<number>,
  expected: tf.Tensor | ArrayLike<number>,
  opts: CloseOptions = {},
): void {
  const { atol = 1e-5, rtol = 1e-4, what = 'tensor' } = opts;
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor) {
    if (!tf.util.arraysEqual(actual.shape, expected.shape)) {
      throw new Error(`${what}: shape [${actual.shape}] != expected [${expected.shape}]`);
    }
  }
  const a = toArray(actual as tf.Tensor);
  const e = toArray(expected as tf.Tensor);
  if (a.length !== e.length) throw new Error(`${what}: ${a.length} elements != expected ${e.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i]! - e[i]!);
    const tol = atol + rtol * Math.abs(e[i]!);
    const bad = Number.isNaN(a[i]!) !== Number.isNaN(e[i]!) || diff > tol;
    if (bad && (worst < 0 || diff - tol > worstExcess || Number.isNaN(diff))) {
      worst = i;
      worstExcess = diff - tol;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} is ${a[worst]}, expected ${e[worst]} (|diff| ${Math.abs(a[worst]! - e[worst]!).toExponential(3)} > atol ${atol} + rtol ${rtol}·|expected|)`,
    );
  }
}

/**
 * 'none' when `a` and `b` hold the same float32 bits element for element, else how many differ and the first (a
 * count rather than a diff: printing a diff of 10⁵ floats takes minutes). For checks that two code paths agree
 * exactly.
 */
export function bitDifferences(a: Float32Array, b: Float32Array): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++)
    if (ua[i] !== ub[i]) {
      n++;
      if (first < 0) first = i;
    }
  return n === 0 ? 'none' : `${n} of ${a.length}, first at ${first}: ${a[first]} against ${b[first]}`;
}

/**
 * Options of {@link gradCheck}: the finite-difference step, the tolerances, how many elements (default 64)
 * and which inputs to check, and the seed of the projection weights (default 7).
 */
export interface GradCheckOptions {
  /** Finite-difference step. Default 1e-2 (float32: smaller steps drown in rounding). */
  eps?: number;
  /** Allowed |analytic − numeric| ≤ atol + rtol·|numeric|. Defaults 2e-3 / 2e-2. */
  atol?: number;
  rtol?: number;
  /** Check at most this many elements per input (chosen deterministically, spread over the tensor). */
  maxElements?: number;
  /** Which inputs to check (indices into `inputs`); default all. */
  wrt?: number[];
  /** Seed of the random projection weights. */
  seed?: number;
}

/** Deterministic pseudo-random numbers in [-1, 1) (mulberry32), for test inputs that must not depend on tf's RNG. */
export function seededValues(n: number, seed = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** A float32 tensor of the given shape filled with `seededValues`, scaled by `scale`. */
export function seededTensor(shape: number[], seed = 1, scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = seededValues(n, seed);
  if (scale !== 1) for (let i = 0; i < n; i++) v[i]! *= scale;
  return tf.tensor(v, shape, 'float32');
}

/**
 * Compares `tf.grads` of `sum(w ⊙ f(...inputs))` (w fixed pseudo-random weights, so every output element
 * matters with a different sign and size) against central finite differences, element by element.
 * Throws naming the input, the element and both values on the first mismatch; returns the largest
 * absolute difference seen.
 */
export function gradCheck(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  opts: GradCheckOptions = {},
): number {
  const { eps = 1e-2, atol = 2e-3, rtol = 2e-2, maxElements = 64, seed = 7 } = opts;
  const wrt = opts.wrt ?? inputs.map((_, i) => i);
  return tf.tidy(() => {
    const out0 = f(...inputs);
    const weights = seededTensor(out0.shape, seed);
    const scalarLoss = (...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), weights)) as tf.Scalar;
    const analytic = tf.grads(scalarLoss)(inputs);
    let maxDiff = 0;
    for (const i of wrt) {
      const x = inputs[i]!;
      const base = x.dataSync().slice() as Float32Array;
      const g = analytic[i]!.dataSync();
      const n = base.length;
      const count = Math.min(n, maxElements);
      for (let k = 0; k < count; k++) {
        const idx = count === n ? k : Math.floor(((k + 0.5) * n) / count);
        const evalAt = (delta: number) =>
          tf.tidy(() => {
            const v = base.slice();
            v[idx] = v[idx]! + delta;
            const xs = inputs.slice();
            xs[i] = tf.tensor(v, x.shape, 'float32');
            return scalarLoss(...xs).dataSync()[0]!;
          });
        const numeric = (evalAt(eps) - evalAt(-eps)) / (2 * eps);
        const diff = Math.abs(numeric - g[idx]!);
        maxDiff = Math.max(maxDiff, diff);
        if (!(diff <= atol + rtol * Math.abs(numeric))) {
          throw new Error(
            `gradient of input ${i} (shape [${x.shape}]) at element ${idx}: analytic ${g[idx]}, finite-difference ${numeric}`,
          );
        }
      }
    }
    return maxDiff;
  });
}

/**
 * Checks a module's activation recomputation (`layer.recompute`): two copies built by `make` with the same seeded
 * weights run `inputs` in training mode under the same random seed, one plainly and one recomputing; the loss (a
 * fixed weighting of the outputs), every trainable weight's gradient and every non-trainable weight afterwards (BatchNorm
 * running statistics, updated once) agree to `rtol`, and the recomputing copy's forward tapes a handful of ops (the
 * segment and what packs its inputs and outputs) where the plain one tapes every op of the module.
 */
export function expectRecomputeMatches(
  make: () => import('@tensorflow/tfjs-layers').layers.Layer & { recompute: boolean },
  inputs: tf.Tensor[],
  opts: { seed?: number; rtol?: number } = {},
): void {
  const { seed = 3, rtol = 1e-5 } = opts;
  const engine = tf.engine() as unknown as { state: { activeTape: unknown[] } };
  const run = (recompute: boolean) => {
    const layer = make();
    layer.apply(inputs.length === 1 ? inputs[0]! : inputs); // builds
    seedWeights(layer, 11);
    layer.recompute = recompute;
    seedRandom(seed);
    let taped = 0;
    const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => {
      const before = engine.state.activeTape.length;
      const out = layer.apply(inputs.length === 1 ? inputs[0]! : inputs, { training: true });
      taped = engine.state.activeTape.length - before;
      const outs = Array.isArray(out) ? out : [out];
      return tf.addN(
        outs.map((o, i) => tf.sum(tf.mul(o as tf.Tensor, seededTensor((o as tf.Tensor).shape, 40 + i)))),
      ) as tf.Scalar;
    }, vars);
    seedRandom(null);
    const fixed = layer.nonTrainableWeights.map((w) => Array.from(w.read().dataSync()));
    const g = vars.map((v) => Array.from(grads[v.name]!.dataSync()));
    const loss = value.dataSync()[0]!;
    tf.dispose([value, grads]);
    layer.dispose();
    return { loss, g, fixed, taped };
  };
  const plain = run(false);
  const ck = run(true);
  if (!(ck.taped <= 8 && ck.taped * 8 < plain.taped))
    throw new Error(`recompute: ${ck.taped} taped ops, where the plain forward tapes ${plain.taped}`);
  const close = (a: number, b: number, scale: number) => Math.abs(a - b) <= rtol * Math.max(scale, 1e-12);
  if (!close(ck.loss, plain.loss, Math.abs(plain.loss)))
    throw new Error(`recompute: loss ${ck.loss} ≠ ${plain.loss}`);
  const compare = (what: string, a: number[][], b: number[][]) =>
    b.forEach((want, i) => {
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      want.forEach((v, j) => {
        if (!close(a[i]![j]!, v, scale))
          throw new Error(`recompute: ${what} ${i}, element ${j}: ${a[i]![j]} ≠ ${v}`);
      });
    });
  compare('gradient of trainable weight', ck.g, plain.g);
  compare('non-trainable weight', ck.fixed, plain.fixed);
}

/**
 * An identity op whose gradient first calls `onBackward` (then passes dy on): placed at the end of a computation it
 * sees the memory the forward pass left for the backward pass; at the start, what is still alive at its end.
 */
export function backwardProbe<T extends tf.Tensor>(onBackward: () => void): (x: T) => T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => {
      onBackward();
      return tf.clone(dy);
    },
  }));
  return (x: T) => op(x) as T;
}

/**
 * Runs `fn` `repeat` times and throws if the number of live tensors grows between the first and the last
 * run (the first run may allocate caches and variables).
 */
export async function expectNoTensorGrowth(fn: () => unknown | Promise<unknown>, repeat = 3): Promise<void> {
  await fn();
  const before = tf.memory().numTensors;
  for (let i = 1; i < repeat; i++) await fn();
  const after = tf.memory().numTensors;
  if (after !== before) {
    throw new Error(`tensor leak: ${after - before} tensors more after ${repeat - 1} further runs`);
  }
}

/**
 * Saves a model to memory (`model.save` with an in-memory handler) and loads it back with
 * `tf.loadLayersModel`, exercising serialisation exactly as files or HTTP would. Returns the loaded model and
 * the saved artifacts (e.g. to inspect the topology).
 */
export async function saveLoadRoundTrip(
  model: import('@tensorflow/tfjs-layers').LayersModel,
): Promise<{ loaded: import('@tensorflow/tfjs-layers').LayersModel; artifacts: tf.io.ModelArtifacts }> {
  const tfl = await import('@tensorflow/tfjs-layers');
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
  return { loaded, artifacts: artifacts! };
}

/**
 * Overwrites every weight of a built layer with deterministic values, so tests do not depend on the random
 * initialisers: kernels uniform with std √(2/fan_in) (fan_in = product of all but the last dimension), biases
 * and β small, γ near 1, moving means small and moving variances in [0.5, 1.5].
 */
export function seedWeights(
  layer: { weights: import('@tensorflow/tfjs-layers').LayerVariable[] },
  seed = 1,
): void {
  let s = seed;
  for (const w of layer.weights) {
    const shape = w.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    const u = seededValues(n, s++);
    const name = w.originalName;
    const v = new Float32Array(n);
    const fan = shape.length > 1 ? n / shape[shape.length - 1]! : 1;
    for (let i = 0; i < n; i++) {
      const x = u[i]!;
      if (/moving_variance$/.test(name)) v[i] = 1 + 0.5 * x;
      else if (/gamma$/.test(name)) v[i] = 1 + 0.2 * x;
      else if (/(beta|bias|moving_mean)$/.test(name)) v[i] = 0.1 * x;
      else v[i] = x * Math.sqrt(6 / fan); // uniform with variance 2/fan
    }
    const t = tf.tensor(v, shape, 'float32');
    w.write(t);
    t.dispose(); // the variable keeps its own reference to the data
  }
}

/** What {@link fitMatchesApplyModel} measured. */
export interface FitParity {
  /** Calls of each layer (by name) that has several outputs, per path: one batch each. */
  calls: Record<string, { fit: number; predict: number; evaluate: number; applyModel: number }>;
  /** Largest |difference| of any weight (BatchNorm statistics included) after one `fit` step vs one manual step. */
  weights: number;
  /** Largest |difference| between `predict`'s outputs and `applyModel`'s (inference). */
  predict: number;
  /** |fit's reported loss − the manual step's loss|. */
  loss: number;
}

/**
 * Trains a functional model one batch with `model.fit` (SGD, mean squared error on every output, summed — what
 * `fit` minimises) and a copy of it one step by hand with `applyModel` and the same optimiser, then compares the
 * weights (BatchNorm statistics included), the losses, and `predict` against `applyModel`; counts how often each
 * layer with several outputs ran on each path. Random layers draw the same seeds on both paths (`seedRandom(seed)`
 * before each), as long as the model has at most one of them. For a drop-in module: `fit` must call it once per
 * batch and train exactly as one call does.
 */
export async function fitMatchesApplyModel(
  build: () => import('@tensorflow/tfjs-layers').LayersModel,
  x: tf.Tensor | tf.Tensor[],
  ys: tf.Tensor[],
  opts: { lr?: number; seed?: number } = {},
): Promise<FitParity> {
  const { applyModel } = await import('../layers/applyModel.js');
  const { seedRandom } = await import('../ops/random.js');
  const lr = opts.lr ?? 0.05;
  const seed = opts.seed ?? 11;
  const a = build();
  const b = build();
  b.setWeights(a.getWeights());
  // the layers with several outputs, by position (both copies have them at the same places), and their calls
  const multi = a.layers.flatMap((l, i) => ((l.inboundNodes[0]?.outputTensors.length ?? 0) > 1 ? [i] : []));
  const counted = new Map<number, number>();
  for (const model of [a, b])
    for (const i of multi) {
      const layer = model.layers[i]!;
      const call = layer.call.bind(layer);
      layer.call = (inputs, kwargs) => {
        counted.set(i, (counted.get(i) ?? 0) + 1);
        return call(inputs, kwargs);
      };
    }
  const take = () => {
    const c = multi.map((i) => counted.get(i) ?? 0);
    counted.clear();
    return c;
  };
  const n = (Array.isArray(x) ? x[0]! : x).shape[0]!;
  const fitOptimizer = tf.train.sgd(lr);
  a.compile({ optimizer: fitOptimizer, loss: ys.map(() => 'meanSquaredError') });
  seedRandom(seed);
  const history = await a.fit(x, ys.length === 1 ? ys[0]! : ys, {
    batchSize: n,
    epochs: 1,
    shuffle: false,
    verbose: 0,
  });
  const fitCalls = take();
  const opt = tf.train.sgd(lr);
  seedRandom(seed);
  const manual = opt.minimize(() => {
    const out = applyModel(b, x, { training: true });
    const outs = Array.isArray(out) ? out : [out];
    return tf.addN(outs.map((o, i) => tf.mean(tf.squaredDifference(ys[i]!, o)))) as tf.Scalar;
  }, true)!;
  const manualLoss = (await manual.data())[0]!;
  manual.dispose();
  opt.dispose();
  seedRandom(null);
  const applyCalls = take();
  let weights = 0;
  const wa = a.getWeights();
  const wb = b.getWeights();
  for (const [i, w] of wa.entries()) {
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(w, wb[i]!))).dataSync()[0]!);
    weights = Math.max(weights, d);
  }
  const p = a.predict(x) as tf.Tensor | tf.Tensor[];
  const predictCalls = take();
  const q = applyModel(a, x);
  take();
  const ps = Array.isArray(p) ? p : [p];
  const qs = Array.isArray(q) ? q : [q];
  let predict = 0;
  for (const [i, t] of ps.entries())
    predict = Math.max(
      predict,
      tf.tidy(() => tf.max(tf.abs(tf.sub(t, qs[i]!))).dataSync()[0]!),
    );
  tf.dispose([...ps, ...qs]);
  const ev = a.evaluate(x, ys.length === 1 ? ys[0]! : ys, { batchSize: n });
  tf.dispose(ev);
  const evaluateCalls = take();
  const calls: FitParity['calls'] = {};
  for (const [k, i] of multi.entries())
    calls[a.layers[i]!.name] = {
      fit: fitCalls[k]!,
      predict: predictCalls[k]!,
      evaluate: evaluateCalls[k]!,
      applyModel: applyCalls[k]!,
    };
  a.dispose();
  b.dispose();
  fitOptimizer.dispose();
  return { calls, weights, predict, loss: Math.abs((history.history['loss']![0] as number) - manualLoss) };
}

/**
 * {@link fitMatchesApplyModel} as an assertion: throws unless every layer with several outputs ran once per batch
 * on fit, predict, evaluate and applyModel, the weights after one step and predict's outputs agree within `tol`
 * (default 1e-5; the loss within 10·tol), and a further run leaves no tensor behind. Returns the measurements.
 */
export async function expectFitRunsOnce(
  build: () => import('@tensorflow/tfjs-layers').LayersModel,
  x: tf.Tensor | tf.Tensor[],
  ys: tf.Tensor[],
  opts: { lr?: number; seed?: number; tol?: number } = {},
): Promise<FitParity> {
  const tol = opts.tol ?? 1e-5;
  const r = await fitMatchesApplyModel(build, x, ys, opts);
  const problems: string[] = [];
  if (!Object.keys(r.calls).length) problems.push('the model has no layer with several outputs');
  for (const [name, c] of Object.entries(r.calls))
    if (Object.values(c).some((v) => v !== 1)) problems.push(`'${name}' ran ${JSON.stringify(c)} times`);
  if (!(r.weights <= tol)) problems.push(`weights after one step differ by ${r.weights} (tolerance ${tol})`);
  if (!(r.loss <= 10 * tol)) problems.push(`losses differ by ${r.loss} (tolerance ${10 * tol})`);
  if (!(r.predict <= tol))
    problems.push(`predict differs from applyModel by ${r.predict} (tolerance ${tol})`);
  if (problems.length) throw new Error(`model.fit is not one call per batch: ${problems.join('; ')}`);
  await expectNoTensorGrowth(() => fitMatchesApplyModel(build, x, ys, opts), 2);
  return r;
}
