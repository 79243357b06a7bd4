import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { channelDropout, dropout } from './dropout.js';

describe.each(TEST_BACKENDS)('dropout on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('is the identity outside training', () => {
    const x = tf.tensor([1, 2, 3]);
    expectClose(dropout(x, 0.5, { training: false }), [1, 2, 3]);
    expectClose(
      channelDropout(tf.ones([1, 2, 2, 3]) as tf.Tensor4D, 0.5, { training: false }),
      new Array(12).fill(1),
    );
  });

  it('element-wise: drops a fraction ≈ rate and scales the rest by 1/(1 − rate)', () => {
    const y = dropout(tf.ones([10000]), 0.3, { training: true, seed: 1 }).dataSync();
    const kept = y.filter((v) => v !== 0);
    expect(kept.length / y.length).toBeGreaterThan(0.68);
    expect(kept.length / y.length).toBeLessThan(0.72);
    for (const v of kept) expect(v).toBeCloseTo(1 / 0.7, 5);
  });

  it('channel-wise (Dropout2d): one draw per image and channel, constant over H×W', () => {
    const y = channelDropout(tf.ones([4, 3, 5, 64]) as tf.Tensor4D, 0.5, { training: true, seed: 2 });
    const v = y.arraySync() as number[][][][];
    let dropped = 0;
    for (let n = 0; n < 4; n++) {
      for (let c = 0; c < 64; c++) {
        const first = v[n]![0]![0]![c]!;
        expect([0, 2]).toContain(first);
        if (first === 0) dropped++;
        for (let h = 0; h < 3; h++) for (let w = 0; w < 5; w++) expect(v[n]![h]![w]![c]).toBe(first);
      }
    }
    expect(dropped).toBeGreaterThan(80);
    expect(dropped).toBeLessThan(176);
  });

  it('uses an injected mask exactly and refuses bad rates', () => {
    expectClose(
      dropout(tf.tensor([1, 2, 3, 4]), 0.5, { training: true, mask: tf.tensor([1, 0, 0, 1]) }),
      [2, 0, 0, 8],
    );
    expect(() => dropout(tf.ones([2]), 1, { training: true })).toThrow(/rate must be in \[0, 1\), got 1/);
  });
});
