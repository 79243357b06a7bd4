import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { countParameters, exportStateDict, loadStateDict } from '@wsss/core';
import {
  expectClose,
  expectNoTensorGrowth,
  expectRecomputeMatches,
  gradCheck,
  saveLoadRoundTrip,
  seededTensor,
  seedWeights,
  TEST_BACKENDS,
  useBackend,
} from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { FCA_BRANCHES, Fca, type FcaBranch, fca } from './fca.js';

/** FCA written plainly with raw tf ops and full (untrimmed) kernels: an independent reference of spec §4.2. */
function naiveFca(x: tf.Tensor4D, p: Record<string, tf.Tensor>, branches: readonly FcaBranch[]): tf.Tensor4D {
  return tf.tidy(() => {
    const conv = (t: tf.Tensor4D, name: string, pad: [number, number], dil: [number, number] = [1, 1]) =>
      tf.conv2d(
        tf.pad(t, [
          [0, 0],
          [pad[0], pad[0]],
          [pad[1], pad[1]],
          [0, 0],
        ]) as tf.Tensor4D,
        p[`${name}/kernel`] as tf.Tensor4D,
        1,
        'valid',
        'NHWC',
        dil,
      );
    const bn = (t: tf.Tensor, name: string) =>
      tf.batchNorm(
        t,
        p[`${name}/moving_mean`]!,
        p[`${name}/moving_variance`]!,
        p[`${name}/beta`],
        p[`${name}/gamma`],
        1e-5,
      );
    const mlp = (v: tf.Tensor4D) =>
      conv(tf.relu(conv(v, 'ca/sharedMLP/0', [0, 0])) as tf.Tensor4D, 'ca/sharedMLP/2', [0, 0]);
    const outs = branches.map((b, i) => {
      const n = `fca${i + 1}`;
      const a = conv(
        conv(x, `${n}/conv1_1`, [b.padding, 0], [b.dilation, 1]),
        `${n}/conv1_2`,
        [0, b.padding],
        [1, b.dilation],
      );
      const c = conv(
        conv(x, `${n}/conv2_1`, [0, b.padding], [1, b.dilation]),
        `${n}/conv2_2`,
        [b.padding, 0],
        [b.dilation, 1],
      );
      const y = tf.add(a, c) as tf.Tensor4D;
      return tf.mul(
        y,
        tf.sigmoid(
          tf.add(mlp(tf.mean(y, [1, 2], true) as tf.Tensor4D), mlp(tf.max(y, [1, 2], true) as tf.Tensor4D)),
        ),
      );
    });
    const pool = tf.relu(
      bn(conv(tf.mean(x, [1, 2], true) as tf.Tensor4D, 'global_avg_pool/1', [0, 0]), 'global_avg_pool/2'),
    );
    outs.push(tf.tile(pool, [1, x.shape[1], x.shape[2], 1]));
    const e = bn(conv(tf.concat(outs, 3) as tf.Tensor4D, 'conv1', [0, 0]), 'bn1') as tf.Tensor4D;
    const s = tf.sigmoid(
      conv(tf.concat([tf.mean(e, 3, true), tf.max(e, 3, true)], 3) as tf.Tensor4D, 'sa/conv', [1, 1]),
    );
    return tf.add(tf.mul(e, s), e) as tf.Tensor4D;
  });
}

function randomizedParams(layer: Fca, seed: number): Record<string, tf.Tensor> {
  seedWeights(layer, seed);
  return layer.weightRecord();
}

describe.each(TEST_BACKENDS)('FCA on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('a one-channel, one-branch case computed by hand', () => {
    const layer = new Fca({ channels: 1, branches: [{ kernel: 1, dilation: 1, padding: 0 }] });
    layer.build([null, 1, 2, 1]);
    for (const w of layer.weights) {
      const n = w.originalName;
      if (n.endsWith('sa/conv/kernel'))
        w.write(tf.tensor4d([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], [3, 3, 2, 1])); // HWIO: centre tap (1,1) of the mean channel
      else if (n.endsWith('/kernel')) w.write(tf.ones(w.shape as number[]));
    }
    const y = layer.apply(tf.tensor4d([1, 2], [1, 1, 2, 1])) as tf.Tensor;
    const r = 1 / Math.sqrt(1 + 1e-5); // frozen-stats BN with statistics 0/1
    const att = 1 / (1 + Math.exp(-(3 + 4))); // sigmoid(mlp(avg 3) + mlp(max 4)) of the branch output [2, 4]
    const pool = 1.5 * r;
    const e = [2 * att + pool, 4 * att + pool].map((v) => v * r);
    expectClose(
      y,
      e.map((v) => v / (1 + Math.exp(-v)) + v),
      { atol: 1e-5 },
    );
  });

  it('equals a naive untrimmed implementation, with the paper branches on a 9×11 map (most taps trimmed)', () => {
    const layer = new Fca({ channels: 4, name: `fca_n_${backend}` });
    const x = seededTensor([2, 9, 11, 5], 1) as tf.Tensor4D;
    layer.build([null, 9, 11, 5]);
    const params = randomizedParams(layer, 3);
    const y = layer.apply(x) as tf.Tensor;
    expectClose(y, naiveFca(x, params, FCA_BRANCHES), { atol: 1e-4, rtol: 1e-3 });
    expectClose(fca(x, params, { training: false }), y, { atol: 1e-6 });
    expect(y.shape).toEqual([2, 9, 11, 4]);
    expect(layer.computeOutputShape([null, 9, 11, 5])).toEqual([null, 9, 11, 4]);
  });

  it('gradients w.r.t. the input and a trimmed strip kernel match finite differences', () => {
    const branches = [
      { kernel: 1, dilation: 1, padding: 0 },
      { kernel: 5, dilation: 4, padding: 8 }, // offsets ±8 never reach a 5×7 map: trimmed, zero gradient
    ];
    const layer = new Fca({ channels: 2, branches });
    layer.build([null, 5, 7, 3]);
    const params = randomizedParams(layer, 5);
    const f = (x: tf.Tensor, k: tf.Tensor) =>
      fca(x as tf.Tensor4D, { ...params, 'fca2/conv1_1/kernel': k }, { training: false, branches });
    // A small step: the max-pooled attention inputs have kinks that a 1e-2 step can cross.
    gradCheck(f, [seededTensor([1, 5, 7, 3], 2), params['fca2/conv1_1/kernel']!], {
      maxElements: 40,
      eps: 1e-3,
      atol: 3e-3,
    });
  });

  it('round-trips through save/load in a tf.model, and exports/imports a state dict with reference names', async () => {
    const name = `fca_rt_${backend}`;
    const inp = tfl.input({ shape: [7, 7, 6] });
    const layer = new Fca({ name, channels: 4, branches: FCA_BRANCHES.slice(0, 2).map((b) => ({ ...b })) });
    const out = tfl.layers
      .conv2d({ filters: 3, kernelSize: 1 })
      .apply(layer.apply(inp)) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: inp, outputs: out });
    const x = seededTensor([1, 7, 7, 6], 4);
    const y = model.predict(x) as tf.Tensor;
    const { loaded } = await saveLoadRoundTrip(model);
    expectClose(loaded.predict(x) as tf.Tensor, y, { atol: 0, rtol: 0 });
    expect((loaded.getLayer(name) as Fca).options.branches).toEqual(FCA_BRANCHES.slice(0, 2));

    const rules = layer.stateDictRules();
    const sd = await exportStateDict(layer, rules);
    expect(sd.has('fca.fca2.conv1_1.weight')).toBe(true);
    expect(sd.get('fca.fca2.conv1_1.weight')!.shape).toEqual([4, 6, 3, 1]); // OIHW of a 3×1 kernel
    expect(sd.has('fca.global_avg_pool.2.running_var')).toBe(true);
    expect(sd.has('fca.ca.sharedMLP.0.weight')).toBe(true);
    const report = loadStateDict(layer, sd, rules);
    expect(report.missing).toEqual([]);
  });

  it('recompute: keeps only its input, the same loss, gradients and statistics (dropout replayed)', () => {
    const x = seededTensor([2, 7, 6, 5], 8);
    expectRecomputeMatches(
      () => new Fca({ channels: 3, branches: FCA_BRANCHES.slice(0, 2).map((b) => ({ ...b })), dropout: 0.5 }),
      [x],
    );
    x.dispose();
  });

  it('trains (dropout on) without tensor growth and reports bad options by name', async () => {
    const layer = new Fca({ channels: 3, branches: FCA_BRANCHES.slice(0, 2).map((b) => ({ ...b })) });
    const x = seededTensor([2, 6, 6, 4], 7);
    layer.apply(x);
    const opt = tf.train.sgd(0.01);
    await expectNoTensorGrowth(() =>
      tf.dispose(
        opt.minimize(
          () => tf.mean(tf.square(layer.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
          true,
        ) ?? undefined,
      ),
    );
    expect(() => new Fca({ branches: [{ kernel: 3, dilation: 2, padding: 1 }] })).toThrow(
      /padding 1 ≠ \(kernel − 1\)·dilation\/2 = 2/,
    );
    expect(() => new Fca({ channel: 3 } as never)).toThrow(/unknown option 'channel'/);
  });
});

describe('FCA parameter count', () => {
  beforeAll(() => useBackend('cpu'));
  it('full size (4096 → 256) has 37,162,002 parameters, as the reference counts them (unused branch BNs included)', () => {
    const layer = new Fca();
    layer.build([null, 41, 41, 4096]);
    const count = countParameters(layer);
    expect(count).toBe(37_162_002);
    for (const w of layer.weights) w.dispose();
  });
});
