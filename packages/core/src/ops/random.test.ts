import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stochasticGate } from '../layers/stochasticGate.js';
import { TEST_BACKENDS, useBackend } from '../testing/index.js';
import { dropout } from './dropout.js';
import { nextSeed, randomState, seedRandom, setRandomState } from './random.js';

describe.each(TEST_BACKENDS)('seeded randomness on %s', (backend) => {
  beforeAll(() => useBackend(backend));
  afterEach(() => seedRandom(null));

  const draw = () =>
    tf.tidy(() => [
      ...dropout(tf.ones([64]), 0.5, { training: true }).dataSync(),
      ...stochasticGate(tf.ones([64]), tf.zeros([64]), { training: true }).dataSync(),
    ]);

  it('makes dropout and the gate reproducible, and a saved state continues the stream exactly', () => {
    seedRandom(42);
    const a1 = draw();
    const saved = randomState();
    const a2 = draw();
    seedRandom(42);
    expect(draw()).toEqual(a1);
    setRandomState(saved);
    expect(draw()).toEqual(a2);
    expect(a2).not.toEqual(a1);
  });

  it('is off by default and rejects bad states', () => {
    expect(nextSeed()).toBeUndefined();
    expect(() => setRandomState({ seed: 1.5, counter: 0 })).toThrow(/expected \{ seed: integer/);
  });
});

describe('seeded initialisation', () => {
  afterEach(() => seedRandom(null));
  it('builds identical weights from the same seed', async () => {
    const { initialValue } = await import('../layers/initializers.js');
    seedRandom(7);
    const a = initialValue('kaimingNormal', [3, 3, 2, 4], 18).dataSync();
    seedRandom(7);
    const b = initialValue('kaimingNormal', [3, 3, 2, 4], 18).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
  });
});
