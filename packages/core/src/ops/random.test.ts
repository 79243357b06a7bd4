import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stochasticGate } from '../layers/stochasticGate.js';
import { TEST_BACKENDS, useBackend } from '../testing/index.js';
import { channelDropout, dropout } from './dropout.js';
import { nextSeed, randomState, seedRandom, setRandomState, setUniformSource } from './random.js';

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

describe('setUniformSource', () => {
  beforeAll(() => useBackend('cpu'));
  afterEach(() => setUniformSource(null));

  it('feeds dropout, channel dropout and the gate its values, each turning them into a mask by its own rule', () => {
    const shapes: number[][] = [];
    setUniformSource((shape) => {
      shapes.push(shape);
      return tf.tensor(
        Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i % 4) / 4),
        shape,
      );
    });
    // u = 0, .25, .5, .75: dropout 0.5 keeps u ≥ 0.5 and scales by 2
    expect(
      Array.from(tf.tidy(() => dropout(tf.ones([1, 1, 2, 2]), 0.5, { training: true }).dataSync())),
    ).toEqual([0, 0, 2, 2]);
    // the gate (ψ 0.5) takes the deep feature, rescaled, where u < 1 − ψ: (1 − 0.5·0) / 0.5 = 2
    expect(
      Array.from(
        tf.tidy(() => stochasticGate(tf.ones([4]), tf.zeros([4]), { training: true, psi: 0.5 }).dataSync()),
      ),
    ).toEqual([2, 2, 0, 0]);
    // channel dropout draws (N,1,1,C) and keeps whole channels
    expect(
      Array.from(tf.tidy(() => channelDropout(tf.ones([1, 2, 1, 4]), 0.5, { training: true }).dataSync())),
    ).toEqual([0, 0, 2, 2, 0, 0, 2, 2]);
    expect(shapes).toEqual([[1, 1, 2, 2], [4], [1, 1, 1, 4]]);
    setUniformSource((shape) => tf.zeros([...shape, 1]));
    expect(() => dropout(tf.ones([2, 2]), 0.5, { training: true })).toThrow(
      'setUniformSource: the source gave shape [2,2,1] for a draw of shape [2,2]',
    );
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
