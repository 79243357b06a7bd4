import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { countParameters } from '@wsss/core';
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
import { Aspp, aspp } from './aspp.js';

/** ASPP of spec §3.1 with raw tf ops: an independent reference. */
function naiveAspp(x: tf.Tensor4D, p: Record<string, tf.Tensor>, rates: number[]): tf.Tensor {
  return tf.tidy(() => {
    const conv = (t: tf.Tensor4D, n: string, pad = 0, dil = 1) =>
      tf.conv2d(
        tf.pad(t, [
          [0, 0],
          [pad, pad],
          [pad, pad],
          [0, 0],
        ]) as tf.Tensor4D,
        p[`${n}/kernel`] as tf.Tensor4D,
        1,
        'valid',
        'NHWC',
        dil,
      );
    const bnr = (t: tf.Tensor, n: string) =>
      tf.relu(
        tf.batchNorm(
          t,
          p[`${n}/moving_mean`]!,
          p[`${n}/moving_variance`]!,
          p[`${n}/beta`],
          p[`${n}/gamma`],
          1e-5,
        ),
      );
    const outs = [
      bnr(conv(x, 'aspp1/atrous_conv'), 'aspp1/bn'),
      ...rates.map((r, i) => bnr(conv(x, `aspp${i + 2}/atrous_conv`, r, r), `aspp${i + 2}/bn`)),
    ];
    const pool = bnr(conv(tf.mean(x, [1, 2], true) as tf.Tensor4D, 'global_avg_pool/1'), 'global_avg_pool/2');
    outs.push(tf.tile(pool, [1, x.shape[1], x.shape[2], 1]));
    return bnr(conv(tf.concat(outs, 3) as tf.Tensor4D, 'conv1'), 'bn1');
  });
}

describe.each(TEST_BACKENDS)('ASPP on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('equals a naive implementation of spec §3.1 (rates 1/2/3 on a 7×9 map) and its gradient checks', () => {
    const rates = [1, 2, 3];
    const layer = new Aspp({ channels: 3, rates });
    layer.build([null, 7, 9, 4]);
    seedWeights(layer, 2);
    const x = seededTensor([2, 7, 9, 4], 1) as tf.Tensor4D;
    const p = layer.weightRecord();
    expectClose(layer.apply(x) as tf.Tensor, naiveAspp(x, p, rates), { atol: 1e-5 });
    gradCheck((t) => aspp(t as tf.Tensor4D, p, { training: false, rates }), [seededTensor([1, 5, 5, 4], 3)], {
      maxElements: 30,
      eps: 1e-3,
      atol: 3e-3,
    });
  });

  it('round-trips in a tf.model and names its state dict like the reference', async () => {
    const inp = tfl.input({ shape: [6, 6, 5] });
    const model = tfl.model({
      inputs: inp,
      outputs: new Aspp({ name: `aspp_${backend}`, channels: 4, rates: [2, 4, 6] }).apply(
        inp,
      ) as tfl.SymbolicTensor,
    });
    const x = seededTensor([1, 6, 6, 5], 4);
    const { loaded } = await saveLoadRoundTrip(model);
    expectClose(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor, { atol: 0, rtol: 0 });
    const names = (model.getLayer(`aspp_${backend}`) as Aspp).stateDictRules().map((r) => r.from);
    expect(names).toContain('aspp.aspp4.atrous_conv.weight');
    expect(names).toContain('aspp.global_avg_pool.2.running_var');
  });
});

describe('ASPP parameter count', () => {
  beforeAll(() => useBackend('cpu'));
  it('full size (4096 → 256, rates 12/24/36): 30,739,456, so that SSSS totals 137,973,172 with the backbone, skip/GCI and head', () => {
    const layer = new Aspp();
    layer.build([null, 41, 41, 4096]);
    const count = countParameters(layer);
    expect(count).toBe(30_739_456);
    for (const w of layer.weights) w.dispose();
  });
});
