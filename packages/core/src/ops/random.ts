/**
 * Seeded randomness for training (dropout, stochastic gate). Unseeded by default (tfjs's Math.random-based
 * draws, like PyTorch without a seed). After `seedRandom(seed)` every random op that was not given its own seed
 * draws a fresh seed from a counter-based stream, so a run is reproducible and — with `randomState()` saved in a
 * checkpoint and `setRandomState()` on resume — continues exactly where it stopped.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * A position of the seeded random stream: the seed given to {@link seedRandom} and how many seeds were drawn
 * since. {@link randomState} returns it, {@link setRandomState} restores it.
 */
export interface RandomState {
  seed: number;
  /** Number of seeds drawn so far. */
  counter: number;
}

let state: RandomState | null = null;

/** Seeds the stream (any 32-bit integer), or turns seeding off with `null`. */
export function seedRandom(seed: number | null): void {
  if (seed !== null && !Number.isInteger(seed))
    throw new Error(`seedRandom: seed must be an integer or null, got ${seed}`);
  state = seed === null ? null : { seed: seed | 0, counter: 0 };
}

/** The current stream position (null when unseeded), to store in checkpoints. */
export function randomState(): RandomState | null {
  return state ? { ...state } : null;
}

/** Restores a position from {@link randomState}. */
export function setRandomState(s: RandomState | null): void {
  if (s !== null && !(Number.isInteger(s.seed) && Number.isInteger(s.counter) && s.counter >= 0)) {
    throw new Error(
      `setRandomState: expected { seed: integer, counter: integer ≥ 0 } or null, got ${JSON.stringify(s)}`,
    );
  }
  state = s ? { ...s } : null;
}

/** The next seed of the stream (a 31-bit integer), or undefined when unseeded. */
export function nextSeed(): number | undefined {
  if (!state) return undefined;
  state.counter++;
  // splitmix32-style mix of (seed, counter): consecutive counters give unrelated seeds
  let z = (state.seed ^ Math.imul(state.counter, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) & 0x7fffffff;
}

/** Gives uniform [0, 1) values of a draw's NHWC shape (see {@link setUniformSource}). */
export type UniformSource = (shape: number[]) => tf.Tensor;
let uniformSource: UniformSource | null = null;

/**
 * Replaces the uniform [0, 1) draws behind dropout, channel dropout and the stochastic gate by `source(shape)` —
 * the shape in NHWC order (dropout: the tensor's; channel dropout: (N,1,1,C); the gate: the features') — or
 * restores random draws with `null`. For reproducing a training step of another framework on the same draws (the
 * parity test with the PyTorch twin gives both sides the same formula): each op turns the values into its mask by
 * its own rule (dropout keeps u ≥ rate, the gate takes the deep feature where u < 1 − ψ).
 */
export function setUniformSource(source: UniformSource | null): void {
  uniformSource = source;
}

/** The draws of a recording or replay in progress ({@link recordUniformDraws}, {@link replayUniformDraws}). */
let tape: { draws: tf.Tensor[]; replay: boolean; next: number } | null = null;

/** Uniform [0, 1) values of `shape`: from {@link setUniformSource}'s source, else seeded or random draws. */
export function uniformDraw(shape: number[], seed?: number): tf.Tensor {
  if (tape?.replay) {
    const u = tape.draws[tape.next++];
    if (!u || !tf.util.arraysEqual(u.shape, shape))
      throw new Error(
        `replayUniformDraws: draw ${tape.next} has shape [${shape}], the recording ${u ? `[${u.shape}]` : 'has no such draw'}: the recomputation is not the recorded computation`,
      );
    return u.clone();
  }
  let u: tf.Tensor;
  if (uniformSource) {
    u = uniformSource(shape);
    if (!tf.util.arraysEqual(u.shape, shape))
      throw new Error(`setUniformSource: the source gave shape [${u.shape}] for a draw of shape [${shape}]`);
  } else u = tf.randomUniform(shape, 0, 1, 'float32', seed ?? nextSeed());
  if (tape) tape.draws.push(tf.keep(u.clone()));
  return u;
}

/**
 * Runs `fn`, keeping a copy of every uniform draw it makes (dropout masks, the gate's noise), for
 * {@link replayUniformDraws}: activation recomputation must see the forward's random numbers again. The caller
 * disposes the draws.
 */
export function recordUniformDraws<T>(fn: () => T): { result: T; draws: tf.Tensor[] } {
  const outer = tape;
  tape = { draws: [], replay: false, next: 0 };
  const draws = tape.draws;
  try {
    return { result: fn(), draws };
  } catch (e) {
    tf.dispose(draws);
    throw e;
  } finally {
    tape = outer;
  }
}

/** Runs `fn` with its uniform draws taken, in order, from `draws` (a recording of the same computation). */
export function replayUniformDraws<T>(draws: readonly tf.Tensor[], fn: () => T): T {
  const outer = tape;
  tape = { draws: [...draws], replay: true, next: 0 };
  try {
    return fn();
  } finally {
    tape = outer;
  }
}
