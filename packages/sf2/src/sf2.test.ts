import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  countParameters,
  exportStateDict,
  gridSample,
  loadStateDict,
  parseSafetensors,
  resizeBilinear,
} from '@wsss/core';
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
import { Align, align, flowWarp, unitGrid } from './align.js';
import { Sf2, sf2 } from './sf2.js';

const count = countParameters;

describe.each(TEST_BACKENDS)('semantic-flow alignment on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('with zero flow the warp is bilinear upsampling with align-corners (41 → 81 as in training)', () => {
    const high = seededTensor([2, 41, 41, 3], 1) as tf.Tensor4D;
    const warped = flowWarp(high, tf.zeros([2, 81, 81, 2]) as tf.Tensor4D);
    // float32 grid coordinates (−1 + 2j/80) carry ~1e-6 relative error: ≤ 1e-4 after interpolation
    expectClose(warped, resizeBilinear(high, [81, 81], { alignCorners: true }), { atol: 1e-4 });
  });

  it("equals PyTorch's flow warp (torch.linspace grid) to float32 rounding at every pixel, edges included; tf.linspace fails", () => {
    const fx = parseSafetensors(
      new Uint8Array(readFileSync(new URL('./fixtures/flowwarp.safetensors', import.meta.url))),
    );
    const formula = (shape: number[], mul: number, mod: number, off: number, div: number) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return tf.tensor4d(
        Float32Array.from({ length: n }, (_, i) => (((i * mul) % mod) - off) / div),
        shape as [number, number, number, number],
      );
    };
    const linspaceWarp = (high: tf.Tensor4D, flow: tf.Tensor4D) => {
      // the warp as it was built before: tf.linspace accumulates its step in float32
      const gx = tf.reshape(tf.linspace(-1, 1, 81), [1, 1, 81, 1]);
      const gy = tf.reshape(tf.linspace(-1, 1, 81), [1, 81, 1, 1]);
      const base = tf.concat([tf.tile(gx, [1, 81, 1, 1]), tf.tile(gy, [1, 1, 81, 1])], 3);
      return gridSample(high, tf.add(base, tf.div(flow, tf.tensor1d([81, 81]))) as tf.Tensor4D, {
        alignCorners: true,
      });
    };
    const maxDiff = (a: tf.Tensor, b: Float32Array) => {
      const d = a.dataSync();
      let m = 0;
      for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(d[i]! - b[i]!));
      return m;
    };
    for (const [name, side, zero] of [
      ['identity', 81, true],
      ['up', 41, true],
      ['flow', 41, false],
    ] as const) {
      const high = formula([1, side, side, 2], 7, 11, 5, 4);
      const flow = zero ? (tf.zeros([1, 81, 81, 2]) as tf.Tensor4D) : formula([1, 81, 81, 2], 5, 13, 6, 2);
      const want = fx.tensors.get(name)!.data as Float32Array;
      const ours = maxDiff(flowWarp(high, flow), want);
      const drifted = zero ? maxDiff(linspaceWarp(high, flow), want) : 0;
      // values within ±1.25. torch's own linspace is off the exact points by up to 1 ulp (6e-8) at 42 of 81 points,
      // which the align-corners scale (W − 1)/2 = 40 amplifies: measured 1.3e-5 (identity), 4.9e-6 (up), 1.0e-5
      // (flow); tf.linspace's drift gives 1.4e-4 and 6.5e-5
      expect(ours, name).toBeLessThan(2e-5);
      if (zero) expect(drifted, `${name} on tf.linspace`).toBeGreaterThan(4e-5);
    }
    // the points are torch.linspace(-1, 1, n)'s: the ends exact, the middle 0 for odd n
    const g = unitGrid(81);
    expect([g[0], g[40], g[80]]).toEqual([-1, 0, 1]);
    expect(g[1]).toBe(Math.fround(-1 + 2 / 80));
    expect([...unitGrid(1)]).toEqual([-1]);
  });

  it('a constant flow shifts the sampling by flow·(w − 1)/(2·W) input pixels (spec §4.3)', () => {
    // high(x) = x (a ramp along the width); W = 9 output columns, w = 5 input columns.
    const high = tf.tile(tf.reshape(tf.range(0, 5, 1, 'float32'), [1, 1, 5, 1]), [1, 3, 1, 1]) as tf.Tensor4D;
    const fx = 1.2;
    const flow = tf.concat([tf.fill([1, 3, 9, 1], fx), tf.zeros([1, 3, 9, 1])], 3) as tf.Tensor4D;
    const out = (flowWarp(high, flow).arraySync() as number[][][][])[0]![1]!.map((p) => p[0]!);
    const shift = (fx * (5 - 1)) / (2 * 9);
    out.forEach((v, j) => {
      const u = (j * 4) / 8 + shift; // base position of column j plus the shift
      const expected = u <= 4 ? u : (1 - (u - 4)) * 4; // past the last pixel the right tap is zero padding
      expect(v).toBeCloseTo(expected, 5);
    });
  });

  it('the layer: flow from the two projections, zero flow kernel ⇒ upsampling; output shape; gradients', () => {
    const layer = new Align({ projectChannels: 4 });
    const low = seededTensor([1, 9, 7, 3], 2) as tf.Tensor4D;
    const high = seededTensor([1, 5, 4, 6], 3) as tf.Tensor4D;
    layer.build([
      [null, 9, 7, 3],
      [null, 5, 4, 6],
    ]);
    seedWeights(layer, 11);
    const y = layer.apply([low, high]) as tf.Tensor;
    expect(y.shape).toEqual([1, 9, 7, 6]);
    expect(
      layer.computeOutputShape([
        [null, 9, 7, 3],
        [null, 5, 4, 6],
      ]),
    ).toEqual([null, 9, 7, 6]);
    const params = layer.weightRecord();
    expectClose(align(low, high, params), y, { atol: 1e-6 });
    expectClose(
      align(low, high, { ...params, 'flow_make/kernel': tf.zeros([3, 3, 8, 2]) }),
      resizeBilinear(high, [9, 7], { alignCorners: true }),
      { atol: 1e-5 },
    );
    const small = { ...params, 'flow_make/kernel': tf.mul(params['flow_make/kernel']!, 0.3) };
    gradCheck((l, h) => align(l as tf.Tensor4D, h as tf.Tensor4D, small), [low, high], { maxElements: 30 });
  });
});

describe.each(TEST_BACKENDS)('SF2 fusion on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('a one-channel case by hand (identity convs, inference BN)', () => {
    const layer = new Sf2({ channels: 1 });
    layer.build([
      [null, 1, 2, 1],
      [null, 1, 2, 1],
    ]);
    for (const w of layer.weights) {
      if (w.originalName.endsWith('/kernel')) w.write(tf.tensor4d([0, 0, 0, 0, 1, 0, 0, 0, 0], [3, 3, 1, 1]));
    }
    const [h4, v4] = layer.apply([
      tf.tensor4d([1, -2], [1, 1, 2, 1]),
      tf.tensor4d([3, 0.5], [1, 1, 2, 1]),
    ]) as tf.Tensor[];
    const r = 1 / Math.sqrt(1 + 1e-5);
    const cbr = (x: number) => Math.max(0, x * r);
    const expectH: number[] = [];
    const expectV: number[] = [];
    [
      [1, 3],
      [-2, 0.5],
    ].forEach(([l, d]) => {
      const h1 = cbr(l!);
      const v1 = cbr(d!);
      const f = cbr(h1) * cbr(v1);
      expectH.push(cbr(cbr(f) + h1));
      expectV.push(cbr(cbr(f) + v1));
    });
    expectClose(h4!, expectH, { atol: 1e-6 });
    expectClose(v4!, expectV, { atol: 1e-6 });
  });

  it('gradients match finite differences; training updates the running statistics', () => {
    const layer = new Sf2({ channels: 2 });
    const left = seededTensor([2, 5, 3, 2], 4) as tf.Tensor4D;
    const down = seededTensor([2, 5, 3, 2], 5) as tf.Tensor4D;
    layer.build([
      [null, 5, 3, 2],
      [null, 5, 3, 2],
    ]);
    seedWeights(layer, 12);
    const params = layer.weightRecord();
    // Inference BN keeps each input's influence local; with batch statistics every element of a channel moves
    // and finite differences cross ReLU kinks (batch-statistics BN gradients are checked in @wsss/core).
    gradCheck(
      (l, d) => tf.concat(sf2(l as tf.Tensor4D, d as tf.Tensor4D, params, { training: false }), 3),
      [left, down],
      { maxElements: 30, eps: 1e-3, atol: 3e-3 },
    );
    const mean = () =>
      layer.weights
        .find((w) => w.originalName.endsWith('bn1h/moving_mean'))!
        .read()
        .dataSync()[0];
    const before = mean();
    tf.dispose(layer.apply([left, down], { training: true }) as tf.Tensor[]);
    expect(mean()).not.toBe(before);
  });

  it('recompute: one checkpointed segment over both streams, the same outputs, gradients and running statistics', () => {
    const left = seededTensor([2, 7, 9, 3], 12);
    const down = seededTensor([2, 7, 9, 3], 13);
    expectRecomputeMatches(() => new Sf2({ channels: 3 }), [left, down]);
    tf.dispose([left, down]);
  });

  it('as two layers in a tf.model (align → SF2): save/load round trip, shapes and reference state-dict names', async () => {
    const low = tfl.input({ shape: [9, 9, 4] });
    const high = tfl.input({ shape: [5, 5, 4] });
    const al = new Align({ name: `align1_${backend}`, projectChannels: 2 });
    const fu = new Sf2({ name: `sf2_${backend}`, channels: 4 });
    const [s, d] = fu.apply([low, al.apply([low, high]) as tfl.SymbolicTensor]) as tfl.SymbolicTensor[];
    expect(s!.shape).toEqual([null, 9, 9, 4]);
    const model = tfl.model({ inputs: [low, high], outputs: [s!, d!] });
    const xs = [seededTensor([1, 9, 9, 4], 6), seededTensor([1, 5, 5, 4], 7)];
    const ys = model.predict(xs) as tf.Tensor[];
    const { loaded } = await saveLoadRoundTrip(model);
    for (const [i, y] of (loaded.predict(xs) as tf.Tensor[]).entries())
      expectClose(y, ys[i]!, { atol: 0, rtol: 0 });
    const sd = await exportStateDict(fu, fu.stateDictRules());
    expect(
      [...sd.keys()].filter((k) => k.startsWith('sf2.conv1h') || k.startsWith('sf2.bn1h')).sort(),
    ).toEqual([
      'sf2.bn1h.bias',
      'sf2.bn1h.running_mean',
      'sf2.bn1h.running_var',
      'sf2.bn1h.weight',
      'sf2.conv1h.bias',
      'sf2.conv1h.weight',
    ]);
    expect(loadStateDict(fu, sd, fu.stateDictRules()).missing).toEqual([]);
    const asd = await exportStateDict(al, al.stateDictRules());
    expect([...asd.keys()].sort()).toEqual([
      'align1.down_h.weight',
      'align1.down_l.weight',
      'align1.flow_make.weight',
    ]);
  });

  it('keeps the tensor count flat over training steps', async () => {
    const layer = new Sf2({ channels: 2 });
    const x = [seededTensor([2, 6, 6, 2], 8), seededTensor([2, 6, 6, 2], 9)];
    layer.apply(x);
    const opt = tf.train.sgd(0.01);
    await expectNoTensorGrowth(() =>
      tf.dispose(
        opt.minimize(
          () => tf.mean(tf.concat(layer.apply(x, { training: true }) as tf.Tensor[], 3)) as tf.Scalar,
          true,
        ) ?? undefined,
      ),
    );
  });
});

describe('parameter count', () => {
  beforeAll(() => useBackend('cpu'));
  it('Align (256/128) + SF2 (256) at full size: 4,794,880, matching the reference', () => {
    const al = new Align();
    al.build([
      [null, 81, 81, 256],
      [null, 41, 41, 256],
    ]);
    const fu = new Sf2();
    fu.build([
      [null, 81, 81, 256],
      [null, 81, 81, 256],
    ]);
    expect(count(al)).toBe(70_144);
    expect(count(al) + count(fu)).toBe(4_794_880);
  });
});
