import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, gradCheck, seededTensor, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { reduceMax } from './reduceMax.js';

describe.each(TEST_BACKENDS)('reduceMax on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('equals tf.max over spatial axes, the channel axis and all axes, with and without keepDims', () => {
    const x = seededTensor([2, 3, 4, 5], 1);
    for (const [axes, keep] of [
      [[1, 2], true],
      [[1, 2], false],
      [3, true],
      [-1, false],
      [undefined, false],
    ] as const) {
      const y = reduceMax(x, axes as number | number[] | undefined, keep);
      const ref = tf.max(x, axes as number | number[] | undefined, keep);
      expect(y.shape).toEqual(ref.shape);
      expectClose(y, ref, { atol: 0 });
    }
    expect(() => reduceMax(x, 4)).toThrow(/axis 4 is out of range for a rank-4 tensor/);
  });

  it('gradient: dy at the maximum of each reduced slice, 0 elsewhere (hand values); finite differences', () => {
    // (1,2,2,2): channel 0 = [1, 5, 3, 2] (max 5 at pixel 1), channel 1 = [7, 0, -1, 4] (max 7 at pixel 0)
    const x = tf.tensor4d([1, 7, 5, 0, 3, -1, 2, 4], [1, 2, 2, 2]);
    const dy = tf.tensor4d([10, 20], [1, 1, 1, 2]);
    const [g] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(reduceMax(a, [1, 2], true), dy)))([x]);
    expectClose(g!, [0, 20, 10, 0, 0, 0, 0, 0], { atol: 0 });
    // over channels, without keepDims: pixel maxima 7, 5, 3, 4
    const [g2] = tf.grads((a: tf.Tensor) =>
      tf.sum(tf.mul(reduceMax(a, 3), tf.tensor3d([1, 2, 3, 4], [1, 2, 2]))),
    )([x]);
    expectClose(g2!, [0, 1, 2, 0, 3, 0, 0, 4], { atol: 0 });
    gradCheck((a) => reduceMax(a as tf.Tensor4D, [1, 2], true), [seededTensor([2, 3, 3, 2], 7)], {
      eps: 1e-3,
    });
  });
});
