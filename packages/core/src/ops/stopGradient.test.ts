import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { stopGradient } from './stopGradient.js';

describe.each(TEST_BACKENDS)('stopGradient on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('passes the value and blocks the gradient: d/dx Σ stop(x)·x = x', () => {
    const x = tf.tensor1d([1, -2, 3]);
    expectClose(tf.grad((t) => tf.sum(tf.mul(stopGradient(t), t)))(x), [1, -2, 3]);
  });

  it('lets ops without gradients (thresholds, casts) consume a detached value inside a gradient computation', () => {
    const x = tf.tensor1d([1, -2, 3]);
    const g = tf.grad((t) => tf.sum(tf.mul(t, tf.cast(tf.greater(stopGradient(t), 0), 'float32'))))(x);
    expectClose(g, [1, 0, 1]);
  });

  it('shares the data without leaking it: disposing both frees the buffer', () => {
    const before = tf.memory().numBytes;
    const x = tf.tensor1d([1, 2, 3, 4]);
    const y = stopGradient(x);
    x.dispose();
    expectClose(y, [1, 2, 3, 4]);
    y.dispose();
    expect(tf.memory().numBytes).toBe(before);
  });
});
