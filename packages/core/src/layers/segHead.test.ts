import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, seededTensor, seedWeights, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { countParameters } from './contract.js';
import { SegHead } from './segHead.js';

describe.each(TEST_BACKENDS)('SegHead (last_conv) on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('is conv-BN-ReLU ×2 then a biased 1×1 conv (inference), with reference state-dict names', () => {
    const head = new SegHead({ numClasses: 3, channels: 4 });
    head.build([null, 5, 6, 2]);
    seedWeights(head, 1);
    const p = head.weightRecord();
    const x = seededTensor([2, 5, 6, 2], 2) as tf.Tensor4D;
    const ref = tf.tidy(() => {
      const cbr = (t: tf.Tensor4D, c: string, b: string) =>
        tf.relu(
          tf.batchNorm(
            tf.conv2d(
              tf.pad(t, [
                [0, 0],
                [1, 1],
                [1, 1],
                [0, 0],
              ]) as tf.Tensor4D,
              p[`${c}/kernel`] as tf.Tensor4D,
              1,
              'valid',
            ),
            p[`${b}/moving_mean`]!,
            p[`${b}/moving_variance`]!,
            p[`${b}/beta`],
            p[`${b}/gamma`],
            1e-5,
          ),
        ) as tf.Tensor4D;
      return tf.add(
        tf.conv2d(cbr(cbr(x, '0', '1'), '4', '5'), p['8/kernel'] as tf.Tensor4D, 1, 'valid'),
        p['8/bias']!,
      );
    });
    expectClose(head.apply(x) as tf.Tensor, ref, { atol: 1e-5 });
    expect(head.stateDictRules().map((r) => r.from)).toContain('last_conv.8.bias');
  });

  it('has the reference parameter count at full size (256 → 20): 1,185,812', () => {
    const head = new SegHead();
    head.build([null, 81, 81, 256]);
    expect(countParameters(head)).toBe(1_185_812);
  });
});
