import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectClose,
  expectNoTensorGrowth,
  gradCheck,
  seededTensor,
  TEST_BACKENDS,
  useBackend,
} from '../testing/index.js';
import { padReplicate, padReplicateComposite } from './padReplicate.js';

describe.each(TEST_BACKENDS)('padReplicate on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('replicates edges and corners (hand-computed, asymmetric padding, 2 channels)', () => {
    // channel 0: [[1,2,3],[4,5,6]]; channel 1: negated
    const x = tf.tensor4d([1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6], [1, 2, 3, 2]);
    const y = padReplicate(x, { top: 1, bottom: 2, left: 2, right: 1 });
    expect(y.shape).toEqual([1, 5, 6, 2]);
    const c0 = [
      [1, 1, 1, 2, 3, 3],
      [1, 1, 1, 2, 3, 3],
      [4, 4, 4, 5, 6, 6],
      [4, 4, 4, 5, 6, 6],
      [4, 4, 4, 5, 6, 6],
    ].flat();
    expectClose(
      y,
      c0.flatMap((v) => [v, -v]),
    );
  });

  it('a number pads every side; 0 returns a copy', () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    expectClose(padReplicate(x, 1), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    const same = padReplicate(x, 0);
    expect(same).not.toBe(x);
    expectClose(same, x);
  });

  it('gradient accumulates into the edge rows and columns (hand-computed: copy counts)', () => {
    // d sum(pad(x)) / dx = copies of each pixel = (copies of its row) × (copies of its column).
    // 2×3 input, pad 1: rows (2, 2), columns (2, 1, 2). Bottom 3, right 2: rows (1, 4), columns (1, 1, 3).
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]);
    const [g] = tf.grads((a: tf.Tensor) => tf.sum(padReplicate(a as tf.Tensor4D, 1)))([x]);
    expectClose(g!, [4, 2, 4, 4, 2, 4]);
    const [g2] = tf.grads((a: tf.Tensor) =>
      tf.sum(padReplicate(a as tf.Tensor4D, { top: 0, bottom: 3, left: 0, right: 2 })),
    )([x]);
    expectClose(g2!, [1, 1, 3, 4, 4, 12]);
  });

  it('finite-difference gradient at odd sizes', () => {
    const x = seededTensor([2, 3, 5, 3], 71);
    gradCheck((a) => padReplicate(a as tf.Tensor4D, { top: 2, bottom: 1, left: 3, right: 2 }), [x], {
      maxElements: 90,
    });
  });

  it('the composite fallback agrees with the kernel, values and gradients', () => {
    const x = seededTensor([2, 4, 3, 5], 73) as tf.Tensor4D;
    const pad = { top: 3, bottom: 0, left: 1, right: 4 };
    expectClose(padReplicateComposite(x, pad), padReplicate(x, pad), { atol: 0 });
    const w = seededTensor([2, 7, 8, 5], 74);
    const [g1] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(padReplicateComposite(a as tf.Tensor4D, pad), w)))([
      x,
    ]);
    const [g2] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(padReplicate(a as tf.Tensor4D, pad), w)))([x]);
    expectClose(g1!, g2!, { atol: 1e-5 });
  });

  it('checks its arguments', () => {
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    expect(() => padReplicate(tf.zeros([2, 2, 1]) as any, 1)).toThrow(
      /x must be rank 4 \(N,H,W,C\), got rank 3/,
    );
    expect(() => padReplicate(x, -1)).toThrow(/p.top must be a non-negative integer, got -1/);
    expect(() => padReplicate(x, { top: 1, bottom: 1, left: 1.5, right: 0 })).toThrow(
      /p.left must be a non-negative integer, got 1.5/,
    );
    expect(() => padReplicate(x, { top: 1, bottom: 1, left: 1, right: 1, front: 1 } as any)).toThrow(
      /unknown key 'front'/,
    );
  });

  it('leaves no tensors behind over repeated gradient steps', async () => {
    const x = seededTensor([1, 4, 3, 2], 72);
    await expectNoTensorGrowth(() => {
      const [g] = tf.grads((a: tf.Tensor) => tf.sum(padReplicate(a as tf.Tensor4D, 2)))([x]);
      g!.dispose();
      padReplicate([[[[1]], [[2]]]], 1).dispose();
    });
  });
});
