import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { countParameters, resizeBilinear } from '@wsss/core';
import {
  expectClose,
  gradCheck,
  saveLoadRoundTrip,
  seededTensor,
  seedWeights,
  TEST_BACKENDS,
  useBackend,
} from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { GciFusion, gciFusion } from './gci.js';

describe.each(TEST_BACKENDS)('skip + GCI fusion on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('equals a naive implementation of spec §3.2 (inference BN) and its gradients check', () => {
    const layer = new GciFusion({ channels: 4, skipChannels: 3 });
    layer.build([
      [null, 7, 9, 5],
      [null, 4, 5, 6],
    ]);
    seedWeights(layer, 3);
    const p = layer.weightRecord();
    const conv3 = seededTensor([2, 7, 9, 5], 1) as tf.Tensor4D;
    const ctx = seededTensor([2, 4, 5, 6], 2) as tf.Tensor4D;
    const [shallow, deep] = layer.apply([conv3, ctx]) as tf.Tensor[];
    const ref = tf.tidy(() => {
      const conv = (t: tf.Tensor4D, n: string, pad = 0) =>
        tf.conv2d(
          tf.pad(t, [
            [0, 0],
            [pad, pad],
            [pad, pad],
            [0, 0],
          ]) as tf.Tensor4D,
          p[`${n}/conv/kernel`] as tf.Tensor4D,
          1,
          'valid',
        );
      const bn = (t: tf.Tensor, n: string) =>
        tf.batchNorm(
          t,
          p[`${n}/bn/moving_mean`]!,
          p[`${n}/bn/moving_variance`]!,
          p[`${n}/bn/beta`],
          p[`${n}/bn/gamma`],
          1e-5,
        );
      const skip = tf.relu(bn(conv(conv3, 'fc8_skip'), 'fc8_skip')) as tf.Tensor4D;
      const d = tf.relu(
        bn(
          conv(
            tf.concat([resizeBilinear(ctx, [7, 9], { alignCorners: true }), skip], 3) as tf.Tensor4D,
            'fc8_x',
            1,
          ),
          'fc8_x',
        ),
      ) as tf.Tensor4D;
      const g = tf.max(tf.relu(bn(conv(d, 'gci/fc_deep'), 'gci/fc_deep')), [1, 2]).arraySync() as number[][];
      const gamma = tf.tensor4d(
        g.flatMap((r) => r.slice(0, 4)),
        [2, 1, 1, 4],
      );
      const beta = tf.tensor4d(
        g.flatMap((r) => r.slice(4)),
        [2, 1, 1, 4],
      );
      const s = tf.relu(
        tf.add(tf.mul(bn(conv(conv3, 'gci/fc_skip'), 'gci/fc_skip'), tf.add(gamma, 1)), beta),
      ) as tf.Tensor4D;
      return [tf.relu(bn(conv(s, 'gci/fc_out'), 'gci/fc_out')), d];
    });
    expectClose(shallow!, ref[0]!, { atol: 1e-5 });
    expectClose(deep!, ref[1]!, { atol: 1e-5 });
    expect(p['gci/fc_skip/bn/gamma']).toBeUndefined(); // affine-free BN (spec §1.7)
    gradCheck(
      (a, b) => tf.concat(gciFusion(a as tf.Tensor4D, b as tf.Tensor4D, p, { training: false }), 3),
      [conv3, ctx],
      { maxElements: 24, eps: 1e-3, atol: 3e-3 },
    );
  });

  it('round-trips in a tf.model', async () => {
    const a = tfl.input({ shape: [6, 6, 4] });
    const b = tfl.input({ shape: [3, 3, 4] });
    const outs = new GciFusion({ channels: 4, skipChannels: 2 }).apply([a, b]) as tfl.SymbolicTensor[];
    expect(outs.map((o) => o.shape)).toEqual([
      [null, 6, 6, 4],
      [null, 6, 6, 4],
    ]);
    const model = tfl.model({ inputs: [a, b], outputs: outs });
    const xs = [seededTensor([1, 6, 6, 4], 5), seededTensor([1, 3, 3, 4], 6)];
    const { loaded } = await saveLoadRoundTrip(model);
    const ys = model.predict(xs) as tf.Tensor[];
    for (const [i, y] of (loaded.predict(xs) as tf.Tensor[]).entries())
      expectClose(y, ys[i]!, { atol: 0, rtol: 0 });
  });
});

describe('GCI fusion parameter count', () => {
  beforeAll(() => useBackend('cpu'));
  it('full size: 976,992 (fc8_skip 12,384 + fc8_x 700,928 + GCI 263,680)', () => {
    const layer = new GciFusion();
    layer.build([
      [null, 81, 81, 256],
      [null, 41, 41, 256],
    ]);
    const count = countParameters(layer);
    expect(count).toBe(976_992);
  });
});
