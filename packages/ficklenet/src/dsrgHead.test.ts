import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { seedRandom } from '@wsss/core';
import {
  expectClose,
  expectNoTensorGrowth,
  gradCheck,
  saveLoadRoundTrip,
  seededTensor,
  seedWeights,
  TEST_BACKENDS,
  useBackend,
} from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { DsrgHead, dsrgHead } from './dsrgHead.js';

/** The head with raw tf ops (explicit padding, tf.conv2d with dilation): an independent reference of spec §6.1. */
function naiveHead(x: tf.Tensor4D, p: Record<string, tf.Tensor>, dilations: number[]): tf.Tensor4D {
  return tf.tidy(() => {
    const conv = (t: tf.Tensor4D, name: string, d: number) =>
      tf.add(
        tf.conv2d(
          tf.pad(t, [
            [0, 0],
            [d, d],
            [d, d],
            [0, 0],
          ]) as tf.Tensor4D,
          p[`${name}/kernel`] as tf.Tensor4D,
          1,
          'valid',
          'NHWC',
          Math.max(d, 1),
        ),
        p[`${name}/bias`]!,
      ) as tf.Tensor4D;
    const outs = dilations.map((d, i) => {
      const y = tf.relu(conv(x, `fc6_${i + 1}`, d)) as tf.Tensor4D;
      const z = tf.relu(conv(y, `fc7_${i + 1}`, 0)) as tf.Tensor4D;
      return conv(z, `fc8-SEC_${i + 1}`, 0);
    });
    return tf.addN(outs) as tf.Tensor4D;
  });
}

describe.each(TEST_BACKENDS)('DsrgHead on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('equals a naive implementation (sum of four dilated branches) and has the exact output shape', () => {
    const layer = new DsrgHead({ numClasses: 3, channels: 4, dilations: [1, 2, 3, 6] });
    layer.build([null, 7, 8, 5]);
    seedWeights(layer, 2);
    const x = seededTensor([2, 7, 8, 5], 1) as tf.Tensor4D;
    const y = layer.apply(x) as tf.Tensor;
    expectClose(y, naiveHead(x, layer.weightRecord(), [1, 2, 3, 6]), { atol: 1e-4, rtol: 1e-4 });
    expectClose(dsrgHead(x, layer.weightRecord(), { training: false, dilations: [1, 2, 3, 6] }), y, {
      atol: 1e-6,
    });
    expect(layer.computeOutputShape([null, 41, 41, 4096])).toEqual([null, 41, 41, 3]);
    expect(layer.weights.map((w) => w.originalName.split('/').slice(-2).join('/'))).toContain(
      'fc8-SEC_4/bias',
    );
  });

  it('gradients w.r.t. the input match finite differences; default dilations and fc8 init', () => {
    const layer = new DsrgHead({ numClasses: 2, channels: 3, dilations: [1, 2] });
    layer.build([null, 4, 4, 2]);
    seedWeights(layer, 3);
    const params = layer.weightRecord();
    gradCheck(
      (x) => dsrgHead(x as tf.Tensor4D, params, { training: false, dilations: [1, 2] }),
      [seededTensor([1, 4, 4, 2], 4)],
      { maxElements: 32, eps: 1e-3, atol: 3e-3 },
    );
    const full = new DsrgHead({ channels: 64 });
    full.build([null, 5, 5, 8]);
    expect(full.options.dilations).toEqual([6, 12, 18, 24]);
    const fc8 = full.weights.find((w) => w.originalName.endsWith('fc8-SEC_1/kernel'))!.read();
    const std = Math.sqrt(tf.moments(fc8).variance.dataSync()[0]!);
    expect(std).toBeGreaterThan(0.008);
    expect(std).toBeLessThan(0.012);
    // a seeded build is reproducible, fc8's N(0, 0.01²) draw included
    const build = () => {
      seedRandom(42);
      const h = new DsrgHead({ numClasses: 3, channels: 4, dilations: [1] });
      h.build([null, 3, 3, 2]);
      seedRandom(null);
      const w = h.weights
        .find((v) => v.originalName.endsWith('fc8-SEC_1/kernel'))!
        .read()
        .dataSync();
      return Array.from(w);
    };
    expect(build()).toEqual(build());
  });

  it('round-trips through save/load and trains (dropout on) without tensor growth', async () => {
    const name = `dsrg_head_${backend}`;
    const inp = tfl.input({ shape: [5, 5, 4] });
    const layer = new DsrgHead({ name, numClasses: 3, channels: 4, dilations: [1, 3] });
    const model = tfl.model({ inputs: inp, outputs: layer.apply(inp) as tfl.SymbolicTensor });
    const x = seededTensor([1, 5, 5, 4], 6);
    const y = model.predict(x) as tf.Tensor;
    const { loaded } = await saveLoadRoundTrip(model);
    expectClose(loaded.predict(x) as tf.Tensor, y, { atol: 0, rtol: 0 });
    expect((loaded.getLayer(name) as DsrgHead).options).toEqual({
      numClasses: 3,
      channels: 4,
      dilations: [1, 3],
      dropout: 0.5,
    });
    const opt = tf.train.sgd(0.01);
    await expectNoTensorGrowth(() =>
      tf.dispose(
        opt.minimize(
          () => tf.mean(tf.square(layer.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
          true,
        ) ?? undefined,
      ),
    );
    expect(() => new DsrgHead({ dilations: [0] })).toThrow(/dilations must be a non-empty list/);
  });
});
