import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../testing/index.js';
import { noGrad } from './noGrad.js';

describe.each(TEST_BACKENDS)('noGrad on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('its result is a constant for the gradient, nothing inside is taped, temporaries are disposed', () => {
    const x = tf.tensor1d([0.5, -1, 2]);
    const engine = tf.engine() as unknown as { state: { activeTape: unknown[] } };
    let taped = -1;
    let inner = -1;
    const before = tf.memory().numTensors;
    // d/dx [x² · c(x)] with c(x) = x + 1 computed untaped: 2x·c (c's own dependence on x is cut)
    const g = tf.grad((t: tf.Tensor) => {
      const c = noGrad(() => {
        const k = tf.add(t, 1);
        inner = engine.state.activeTape.length;
        return tf.mul(k, 1);
      });
      taped = engine.state.activeTape.length;
      return tf.sum(tf.mul(tf.square(t), c));
    })(x);
    expect(inner).toBe(0); // no op inside was recorded
    expect(taped).toBe(0); // nor when it returned
    expect(Array.from(g.dataSync())).toEqual([2 * 0.5 * 1.5, 2 * -1 * 0, 2 * 2 * 3]);
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('a gradient computed inside leaves the outer one intact, and an error restores the tape', () => {
    const x = tf.scalar(3);
    const g = tf.grad((t: tf.Tensor) => {
      const inner = noGrad(() => tf.grad((u: tf.Tensor) => tf.square(u))(tf.scalar(5))); // 10
      expect(() =>
        noGrad(() => {
          throw new Error('inside');
        }),
      ).toThrow('inside');
      return tf.mul(tf.square(t), inner);
    })(x);
    expect(g.dataSync()[0]).toBe(2 * 3 * 10);
    tf.dispose([x, g]);
  });
});
