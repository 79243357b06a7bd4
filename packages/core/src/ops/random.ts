/**
 * Seeded randomness for training (dropout, stochastic gate). Unseeded by default (tfjs's Math.random-based
 * draws, like PyTorch without a seed). After `seedRandom(seed)` every random op that was not given its own seed
 * draws a fresh seed from a counter-based stream, so a run is reproducible and — with `randomState()` saved in a
 * checkpoint and `setRandomState()` on resume — continues exactly where it stopped.
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
