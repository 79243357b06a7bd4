import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { exportStateDict, loadStateDict } from '@wsss/core';
import {
  expectClose,
  expectNoTensorGrowth,
  seededTensor,
  seededValues,
  TEST_BACKENDS,
  useBackend,
} from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { type UnitSpec, unitSpecs, wrn38OutputSize } from './architecture.js';
import { wrn38StateDictRules } from './stateDict.js';
import { residualUnit, type UnitBn, type UnitConv, wrn38 } from './wrn38.js';

/** Naive NHWC/HWIO convolution with symmetric zero padding — an independent reference. */
function naiveConv(
  x: number[][][],
  w: number[][][][],
  stride: number,
  pad: number,
  dil: number,
): number[][][] {
  const [h, wd, cin] = [x.length, x[0]!.length, x[0]![0]!.length];
  const [kh, kw, , cout] = [w.length, w[0]!.length, 0, w[0]![0]![0]!.length];
  const ho = Math.floor((h + 2 * pad - dil * (kh - 1) - 1) / stride) + 1;
  const wo = Math.floor((wd + 2 * pad - dil * (kw - 1) - 1) / stride) + 1;
  const out: number[][][] = [];
  for (let i = 0; i < ho; i++) {
    out.push([]);
    for (let j = 0; j < wo; j++) {
      const v = new Array(cout).fill(0);
      for (let a = 0; a < kh; a++)
        for (let b = 0; b < kw; b++) {
          const y = i * stride - pad + a * dil;
          const xx = j * stride - pad + b * dil;
          if (y < 0 || y >= h || xx < 0 || xx >= wd) continue;
          for (let c = 0; c < cin; c++)
            for (let o = 0; o < cout; o++) v[o] += x[y]![xx]![c]! * w[a]![b]![c]![o]!;
        }
      out[i]!.push(v);
    }
  }
  return out;
}
const relu = (t: number[][][]) => t.map((r) => r.map((p) => p.map((v) => Math.max(0, v))));
const add = (a: number[][][], b: number[][][]) =>
  a.map((r, i) => r.map((p, j) => p.map((v, c) => v + b[i]![j]![c]!)));
/** Frozen BN with statistics (mean, var) and affine (γ, β) per channel. */
const bnRef = (t: number[][][], m: number[], v: number[], g: number[], be: number[]) =>
  t.map((r) => r.map((p) => p.map((x, c) => (g[c]! * (x - m[c]!)) / Math.sqrt(v[c]! + 1e-5) + be[c]!)));

function kernel(
  shape: [number, number, number, number],
  seed: number,
): { t: tf.Tensor4D; a: number[][][][] } {
  const t = seededTensor(shape, seed, 0.5) as tf.Tensor4D;
  return { t, a: t.arraySync() as number[][][][] };
}

describe.each(TEST_BACKENDS)('WideResNet-38 units on %s', (backend) => {
  beforeAll(() => useBackend(backend));
  const bnStats = { m: [0.1, -0.2, 0.3], v: [0.5, 1.5, 2], g: [1.2, 0.8, -0.5], b: [0.05, -0.1, 0.2] };
  const bnOf = (c: number) => ({
    m: bnStats.m.slice(0, c),
    v: bnStats.v.slice(0, c),
    g: bnStats.g.slice(0, c),
    b: bnStats.b.slice(0, c),
  });
  const frozenBn = (x: tf.Tensor, c: number) => {
    const s = bnOf(c);
    return tf.batchNorm(x, tf.tensor1d(s.m), tf.tensor1d(s.v), tf.tensor1d(s.b), tf.tensor1d(s.g), 1e-5);
  };

  it('a basic unit with a strided projection shortcut (b5-like dilation) equals the hand reference', () => {
    const u: UnitSpec = {
      name: 'bX',
      stage: 3,
      kind: 'basic',
      inChannels: 2,
      midChannels: 3,
      outChannels: 3,
      stride: 2,
      firstDilation: 1,
      dilation: 2,
      dropout: 0,
      frozenInReference: false,
    };
    const x = seededTensor([1, 7, 6, 2], 1) as tf.Tensor4D;
    const w = {
      branch1: kernel([1, 1, 2, 3], 2),
      conv2a: kernel([3, 3, 2, 3], 3),
      conv2b1: kernel([3, 3, 3, 3], 4),
    };
    const { y, a } = residualUnit(u, x, false, {
      bnRelu: (_n: UnitBn, t) => tf.relu(frozenBn(t, t.shape[3]!)),
      conv: (n: UnitConv, t, args) =>
        tf.conv2d(
          tf.pad(t, [
            [0, 0],
            [args?.padding ?? 0, args?.padding ?? 0],
            [args?.padding ?? 0, args?.padding ?? 0],
            [0, 0],
          ]) as tf.Tensor4D,
          w[n as keyof typeof w].t,
          args?.stride ?? 1,
          'valid',
          'NHWC',
          args?.dilation ?? 1,
        ),
    });
    const xa = (x.arraySync() as number[][][][])[0]!;
    const s2 = bnOf(2);
    const s3 = bnOf(3);
    const aRef = relu(bnRef(xa, s2.m, s2.v, s2.g, s2.b));
    const shortcut = naiveConv(aRef, w.branch1.a, 2, 0, 1);
    let r = naiveConv(aRef, w.conv2a.a, 2, 1, 1);
    r = relu(bnRef(r, s3.m, s3.v, s3.g, s3.b));
    r = naiveConv(r, w.conv2b1.a, 1, 2, 2);
    expectClose(a, aRef.flat(2), { atol: 1e-5 });
    expect(y.shape).toEqual([1, 4, 3, 3]);
    expectClose(y, add(shortcut, r).flat(2), { atol: 1e-4 });
  });

  it('a basic unit with equal channels adds the un-activated input (identity shortcut)', () => {
    const u: UnitSpec = {
      name: 'bY',
      stage: 4,
      kind: 'basic',
      inChannels: 2,
      midChannels: 2,
      outChannels: 2,
      stride: 1,
      firstDilation: 1,
      dilation: 1,
      dropout: 0,
      frozenInReference: false,
    };
    const x = seededTensor([1, 5, 5, 2], 5) as tf.Tensor4D;
    const zero = tf.zeros([3, 3, 2, 2]) as tf.Tensor4D;
    const { y } = residualUnit(u, x, false, {
      bnRelu: (_n, t) => tf.relu(t),
      conv: () => tf.conv2d(tf.zeros([1, 5, 5, 2]) as tf.Tensor4D, zero, 1, 'same'),
    });
    expectClose(y, x); // zero residual → exactly x, not ReLU(x)
  });

  it('a bottleneck unit (out/4 → out/2 → out, dilation 4) equals the hand reference; dropout only when training', () => {
    const u: UnitSpec = {
      name: 'b6',
      stage: 6,
      kind: 'bottleneck',
      inChannels: 2,
      midChannels: 0,
      outChannels: 4,
      stride: 1,
      firstDilation: 4,
      dilation: 4,
      dropout: 0.3,
      frozenInReference: false,
    };
    const x = seededTensor([1, 9, 7, 2], 6) as tf.Tensor4D;
    const w = {
      branch1: kernel([1, 1, 2, 4], 7),
      conv2a: kernel([1, 1, 2, 1], 8),
      conv2b1: kernel([3, 3, 1, 2], 9),
      conv2b2: kernel([1, 1, 2, 4], 10),
    };
    const ops = {
      bnRelu: (_n: UnitBn, t: tf.Tensor4D) => tf.relu(frozenBn(t, t.shape[3]!)),
      conv: (
        n: UnitConv,
        t: tf.Tensor4D,
        args?: { stride?: number; padding?: number; dilation?: number },
      ) => {
        const p = args?.padding ?? 0;
        return tf.conv2d(
          tf.pad(t, [
            [0, 0],
            [p, p],
            [p, p],
            [0, 0],
          ]) as tf.Tensor4D,
          w[n as keyof typeof w].t,
          1,
          'valid',
          'NHWC',
          args?.dilation ?? 1,
        );
      },
    };
    const { y } = residualUnit(u, x, false, ops);
    const xa = (x.arraySync() as number[][][][])[0]!;
    const s = (c: number) => bnOf(c);
    const a = relu(bnRef(xa, s(2).m, s(2).v, s(2).g, s(2).b));
    let r = relu(bnRef(naiveConv(a, w.conv2a.a, 1, 0, 1), s(1).m, s(1).v, s(1).g, s(1).b));
    r = relu(bnRef(naiveConv(r, w.conv2b1.a, 1, 4, 4), s(2).m, s(2).v, s(2).g, s(2).b));
    r = naiveConv(r, w.conv2b2.a, 1, 0, 1);
    expectClose(y, add(naiveConv(a, w.branch1.a, 1, 0, 1), r).flat(2), { atol: 1e-4 });
    const trained = tf.tidy(() => tf.sum(tf.abs(tf.sub(residualUnit(u, x, true, ops).y, y)))).dataSync()[0]!;
    expect(trained).toBeGreaterThan(0); // channel dropout changed something
  });
});

describe('WideResNet-38 configuration', () => {
  beforeAll(() => useBackend('cpu'));

  it('has the reference ResNet-38d parameter count at full size: 105,070,912 (conv weights + BN γ/β, spec §2.2)', () => {
    const net = wrn38({ init: 'zeros' });
    net.build([null, 321, 321, 3]);
    expect(net.countParameters()).toBe(105_070_912);
    expect(net.units.map((u) => u.name).join(' ')).toBe(
      'b2 b2_1 b2_2 b3 b3_1 b3_2 b4 b4_1 b4_2 b4_3 b4_4 b4_5 b5 b5_1 b5_2 b6 b7',
    );
    // Reference freezing (spec §1.5–1.6): only the convolutions of b3…b7 train.
    const trainable = net.trainableWeights.map((w) => w.name);
    expect(trainable.every((n) => /(^|\/)b[3-7](_\d)?\/conv_branch\w+\/kernel$/.test(n))).toBe(true);
    expect(trainable.length).toBe(net.weights.filter((w) => /(^|\/)b[3-7](_\d)?\/conv_/.test(w.name)).length);
    for (const w of net.weights) w.dispose();
  });

  it('reports taps, channels and output stride, and output sizes follow the spec formula', () => {
    const net = wrn38({ taps: ['conv2', 'conv3', 'conv4', 'conv5', 'conv6'] });
    expect(net.tapInfo()).toEqual([
      { name: 'conv2', channels: 128, stride: 2 },
      { name: 'conv3', channels: 256, stride: 4 },
      { name: 'conv4', channels: 512, stride: 8 },
      { name: 'conv5', channels: 1024, stride: 8 },
      { name: 'conv6', channels: 4096, stride: 8 },
    ]);
    expect(net.outputStride).toBe(8);
    for (const [n, s4, s8] of [
      [321, 81, 41],
      [322, 81, 41],
      [1024, 256, 128],
      [33, 9, 5],
      [1, 1, 1],
    ]) {
      expect([wrn38OutputSize(n!, 4), wrn38OutputSize(n!, 8)]).toEqual([s4, s8]);
    }
    expect(wrn38({}).computeOutputShape([null, 1024, 1024, 3])).toEqual([
      [null, 256, 256, 256],
      [null, 128, 128, 4096],
    ]);
  });

  it('scaled variants keep the topology and taps; bad options are named', () => {
    const light = unitSpecs(1 / 8, 'light');
    expect(light.map((u) => `${u.name}:${u.inChannels}>${u.outChannels}`).join(' ')).toBe(
      'b2:8>16 b3:16>32 b4:32>64 b5:64>128 b6:128>256 b7:256>512',
    );
    expect(() => wrn38({ taps: ['conv7' as never] })).toThrow(
      /taps must be a non-empty list of conv2, conv3, conv4, conv5, conv6/,
    );
    expect(() => wrn38({ width: 0 })).toThrow(/width must be > 0, got 0/);
    expect(() => wrn38({ channels: [8, 16] })).toThrow(/channels must be 7 multiples of 4/);
    expect(() => wrn38({ widht: 1 } as never)).toThrow(/unknown option 'widht'/);
  });
});

describe.each(TEST_BACKENDS)('WideResNet-38 forward on %s', (backend) => {
  beforeAll(() => useBackend(backend));
  const sizes = backend === 'wasm' ? [321, 322, 1024, 37] : [37, 22];

  it.each(sizes)('tap shapes at %i×%i (narrow light variant)', (n) => {
    const net = wrn38({ width: 1 / 16, depth: 'light', taps: ['conv2', 'conv3', 'conv4', 'conv5', 'conv6'] });
    const outs = tf.tidy(() => (net.apply(tf.zeros([1, n, n, 3])) as tf.Tensor[]).map((t) => t.shape));
    const s2 = wrn38OutputSize(n, 2);
    const s4 = wrn38OutputSize(n, 4);
    const s8 = wrn38OutputSize(n, 8);
    expect(outs).toEqual([
      [1, s2, s2, 8],
      [1, s4, s4, 16],
      [1, s8, s8, 32],
      [1, s8, s8, 64],
      [1, s8, s8, 256],
    ]);
    net.dispose();
  });

  it('trains from scratch (batch BN, unfrozen stem) inside a tf.model without tensor growth', async () => {
    const inp = tfl.input({ shape: [33, 33, 3] });
    const net = wrn38({
      name: `bb_${backend}`,
      width: 1 / 16,
      depth: 'light',
      bnMode: 'batch',
      freezeStem: false,
    });
    const [c3, c6] = net.apply(inp) as tfl.SymbolicTensor[];
    expect(c3!.shape).toEqual([null, 9, 9, 16]);
    expect(c6!.shape).toEqual([null, 5, 5, 256]);
    const x = seededTensor([2, 33, 33, 3], 1);
    const opt = tf.train.sgd(0.01);
    const loss = () =>
      tf.tidy(() => {
        const [a, b] = net.apply(x, { training: true }) as tf.Tensor[];
        return tf.add(tf.mean(tf.square(a!)), tf.mean(b!)) as tf.Scalar;
      });
    await expectNoTensorGrowth(() => tf.dispose(opt.minimize(loss, true) ?? undefined), 3);
    expect(net.trainableWeights.length).toBe(net.weights.filter((w) => !/moving_/.test(w.name)).length);
  });

  it('state dict with reference names loads (OIHW → HWIO) and exports back exactly', async () => {
    const name = `sd_${backend}`;
    const net = wrn38({ name, width: 1 / 16, depth: 'light' });
    net.build([null, 17, 17, 3]);
    const sd = new Map<string, { shape: number[]; data: Float32Array }>();
    let seed = 1;
    for (const w of net.weights) {
      // `name` gets a process-unique suffix (kernel_1); `originalName` is the stable one.
      const parts = w.originalName.replace(new RegExp(`^${name}/`), '').split('/');
      const last = parts.pop()!;
      const mod = parts.join('.');
      const torchShape =
        w.shape.length === 4 ? [w.shape[3]!, w.shape[2]!, w.shape[0]!, w.shape[1]!] : (w.shape as number[]);
      const torchName = {
        kernel: 'weight',
        gamma: 'weight',
        beta: 'bias',
        moving_mean: 'running_mean',
        moving_variance: 'running_var',
      }[last]!;
      const n = torchShape.reduce((a, b) => a * b, 1);
      const data = seededValues(n, seed++);
      if (last === 'moving_variance') for (let i = 0; i < n; i++) data[i] = Math.abs(data[i]!) + 0.5;
      sd.set(`${mod}.${torchName}`, { shape: torchShape as number[], data });
    }
    sd.set('b2.bn_branch2a.num_batches_tracked', { shape: [], data: new Float32Array([7]) });
    const rules = wrn38StateDictRules(name);
    const report = loadStateDict(net, sd, rules, { strict: false });
    expect(report.unexpected).toEqual([]);
    expect(report.missing).toEqual([]);
    expect(report.ignored).toEqual(['b2.bn_branch2a.num_batches_tracked']);
    const k = net.weights.find((w) => w.originalName.endsWith('b3/conv_branch2a/kernel'))!.read();
    const src = sd.get('b3.conv_branch2a.weight')!;
    const [o, i, kh, kw] = src.shape as [number, number, number, number];
    // element [o=1, i=2, h=0, w=2] of OIHW lands at [0, 2, 2, 1] of HWIO
    expect((k.arraySync() as number[][][][])[0]![2]![2]![1]).toBeCloseTo(
      src.data[((1 * i + 2) * kh + 0) * kw + 2]!,
      6,
    );
    expect(o).toBe(16);
    const back = await exportStateDict(net, rules);
    expect([...back.keys()].sort()).toEqual(
      [...sd.keys()].filter((key) => !key.endsWith('num_batches_tracked')).sort(),
    );
    for (const [key, t] of back)
      expectClose(t.data as Float32Array, sd.get(key)!.data, { atol: 0, rtol: 0, what: key });
    // a wrong shape is reported by name
    sd.set('b3.conv_branch2a.weight', { shape: [1, 1, 1, 1], data: new Float32Array(1) });
    expect(() => loadStateDict(net, sd, rules)).toThrow(/mis-shaped: 'b3.conv_branch2a.weight'/);
  });
});
