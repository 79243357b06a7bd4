import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { seededValues, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import {
  BATCH_NORM_NAMES,
  batchNormRules,
  exportStateDict,
  ignoreKeys,
  loadStateDict,
  type StateDictEntry,
  type StateDictRule,
} from './stateDict.js';

/** PyTorch conv kernel [O, I, H, W] with element [o,i,h,w] = 1000o + 100i + 10h + w. */
function ptConv(O: number, I: number, H: number, W: number): StateDictEntry {
  const data: number[] = [];
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++)
      for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) data.push(1000 * o + 100 * i + 10 * h + w);
  return { shape: [O, I, H, W], data: Float32Array.from(data) };
}

let seq = 0;
/** A small model: conv2d 'c<n>' (3→2, 2×2) → batchNorm 'bn<n>' → flatten → dense 'fc<n>' (→4 units). */
function makeModel() {
  const n = seq++;
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ name: `c${n}`, filters: 2, kernelSize: 2, inputShape: [3, 3, 3] }),
      tfl.layers.batchNormalization({ name: `bn${n}` }),
      tfl.layers.flatten(),
      tfl.layers.dense({ name: `fc${n}`, units: 4 }),
    ],
  });
  const rules: StateDictRule[] = [
    { from: 'features.0.weight', to: `c${n}/kernel`, transform: 'conv' },
    { from: 'features.0.bias', to: `c${n}/bias` },
    ...batchNormRules('features.1', `bn${n}`),
    { from: 'classifier.weight', to: `fc${n}/kernel`, transform: 'linear' },
    { from: 'classifier.bias', to: `fc${n}/bias` },
  ];
  return { model, rules, n };
}

/** A full PyTorch-side state dict for `makeModel` with distinct values. */
function ptStateDict(): Map<string, StateDictEntry> {
  const v = (shape: number[], seed: number) => ({
    shape,
    data: seededValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
  });
  return new Map<string, StateDictEntry>([
    ['features.0.weight', ptConv(2, 3, 2, 2)],
    ['features.0.bias', { shape: [2], data: [0.5, -0.5] }],
    ['features.1.weight', { shape: [2], data: [1.5, 2.5] }],
    ['features.1.bias', { shape: [2], data: [0.1, 0.2] }],
    ['features.1.running_mean', { shape: [2], data: [3, 4] }],
    ['features.1.running_var', { shape: [2], data: [5, 6] }],
    ['features.1.num_batches_tracked', { shape: [], data: Int32Array.from([7]) }],
    ['classifier.weight', v([4, 8], 3)],
    ['classifier.bias', { shape: [4], data: [1, 2, 3, 4] }],
  ]);
}

function byName(model: tfl.LayersModel, name: string): tf.Tensor {
  const w = model.weights.find((x) => x.originalName === name);
  if (!w) throw new Error(`no weight ${name} in ${model.weights.map((x) => x.originalName)}`);
  return w.read();
}

describe.each(TEST_BACKENDS)('loadStateDict on %s', (backend) => {
  it('puts conv element [o,i,h,w] at [h,w,i,o], transposes linear, renames BatchNorm', async () => {
    await useBackend(backend);
    const { model, rules, n } = makeModel();
    const sd = ptStateDict();
    const report = loadStateDict(model, sd, rules);
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.misshaped).toEqual([]);
    expect(report.ignored).toEqual(['features.1.num_batches_tracked']);
    expect(report.loaded.sort()).toEqual(
      [
        `c${n}/kernel`,
        `c${n}/bias`,
        `bn${n}/gamma`,
        `bn${n}/beta`,
        `bn${n}/moving_mean`,
        `bn${n}/moving_variance`,
        `fc${n}/kernel`,
        `fc${n}/bias`,
      ].sort(),
    );
    const k = byName(model, `c${n}/kernel`);
    expect(k.shape).toEqual([2, 2, 3, 2]);
    const kv = k.arraySync() as number[][][][];
    for (let h = 0; h < 2; h++)
      for (let w = 0; w < 2; w++)
        for (let i = 0; i < 3; i++)
          for (let o = 0; o < 2; o++) expect(kv[h]![w]![i]![o]).toBe(1000 * o + 100 * i + 10 * h + w);
    expect([...byName(model, `bn${n}/gamma`).dataSync()]).toEqual([1.5, 2.5]);
    expect([...byName(model, `bn${n}/moving_variance`).dataSync()]).toEqual([5, 6]);
    // Linear [out=4, in=8] → dense kernel [in=8, out=4]: element [j, i] lands at [i, j].
    const fc = byName(model, `fc${n}/kernel`);
    expect(fc.shape).toEqual([8, 4]);
    const src = sd.get('classifier.weight')!.data;
    const fv = fc.arraySync() as number[][];
    expect(fv[5]![2]).toBe(src[2 * 8 + 5]);
    expect(fv[7]![3]).toBe(src[3 * 8 + 7]);
    model.dispose();
  });

  it('dryRun checks keys and shapes without data and assigns nothing; release empties the state dict as it loads', async () => {
    await useBackend(backend);
    const { model, rules, n } = makeModel();
    const shapesOnly = new Map(
      [...ptStateDict()].map(([k, e]) => [k, { shape: e.shape, data: undefined as unknown as number[] }]),
    );
    const before = byName(model, `c${n}/kernel`).dataSync().slice();
    const dry = loadStateDict(model, shapesOnly, rules, { dryRun: true });
    expect(dry.loaded).toHaveLength(8);
    expect([...byName(model, `c${n}/kernel`).dataSync()]).toEqual([...before]);
    shapesOnly.set('classifier.weight', { shape: [4, 9], data: undefined as unknown as number[] });
    expect(() => loadStateDict(model, shapesOnly, rules, { dryRun: true })).toThrow(
      `mis-shaped: 'classifier.weight' → 'fc${n}/kernel': expected [9, 4]`.replace(
        '[9, 4]',
        '[8, 4], got [9, 4]',
      ),
    );
    const sd = ptStateDict();
    loadStateDict(model, sd, rules, { release: true });
    expect([...sd.keys()]).toEqual(['features.1.num_batches_tracked']); // loaded entries released, ignored kept
    expect([...byName(model, `bn${n}/gamma`).dataSync()]).toEqual([1.5, 2.5]);
    model.dispose();
  });

  it('reports missing, unexpected and mis-shaped keys; strict mode lists them all and loads nothing', async () => {
    await useBackend(backend);
    const { model, rules, n } = makeModel();
    const sd = ptStateDict();
    sd.delete('features.0.bias');
    sd.set('features.0.weight', ptConv(2, 3, 3, 3));
    sd.set('head.weight', { shape: [1], data: [0] });
    sd.set('classifier.bias', { shape: [5], data: [1, 2, 3, 4, 5] });
    const gammaBefore = [...byName(model, `bn${n}/gamma`).dataSync()];
    let message = '';
    try {
      loadStateDict(model, sd, rules);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('1 missing, 1 unexpected, 2 mis-shaped; nothing was loaded');
    expect(message).toContain(`missing: 'c${n}/bias' (shape [2])`);
    expect(message).toContain(`unexpected: 'head.weight' (no rule matches)`);
    expect(message).toContain(
      `mis-shaped: 'features.0.weight' → 'c${n}/kernel': expected [2, 2, 3, 2], got [3, 3, 3, 2] (PyTorch [2, 3, 3, 3])`,
    );
    expect(message).toContain(`mis-shaped: 'classifier.bias' → 'fc${n}/bias': expected [4], got [5]`);
    expect([...byName(model, `bn${n}/gamma`).dataSync()]).toEqual(gammaBefore);

    const report = loadStateDict(model, sd, rules, { strict: false });
    expect(report.missing).toEqual([`c${n}/bias`]);
    expect(report.unexpected).toEqual(['head.weight']);
    expect(report.misshaped.map((m) => m.key)).toEqual(['features.0.weight', 'classifier.bias']);
    expect(report.misshaped[0]).toEqual({
      key: 'features.0.weight',
      target: `c${n}/kernel`,
      expected: [2, 2, 3, 2],
      actual: [3, 3, 3, 2],
      source: [2, 3, 3, 3],
    });
    expect(report.loaded).toHaveLength(5);
    expect([...byName(model, `bn${n}/gamma`).dataSync()]).toEqual([1.5, 2.5]);
    model.dispose();
  });

  it('maps by RegExp (replacement string and function) into a Record target', async () => {
    await useBackend(backend);
    const v = tf.variable(tf.zeros([2, 1]), true, `v_${backend}`);
    const plain = tf.zeros([3]);
    const target: Record<string, tf.Tensor> = { 'enc/l1/kernel': v, 'enc/l1/bias': plain };
    const rules: StateDictRule[] = [
      ...ignoreKeys(/num_batches_tracked$/),
      { from: /^encoder\.(\w+)\.weight$/, to: 'enc/$1/kernel', transform: 'linear' },
      { from: /^encoder\.(\w+)\.bias$/, to: (m) => `enc/${m[1]}/bias` },
    ];
    const sd = {
      'encoder.l1.weight': { shape: [1, 2], data: [7, 8] },
      'encoder.l1.bias': { shape: [3], data: [1, 2, 3] },
      'encoder.bn.num_batches_tracked': { shape: [], data: [0] },
    };
    const report = loadStateDict(target, sd, rules);
    expect(report.ignored).toEqual(['encoder.bn.num_batches_tracked']);
    expect([...v.dataSync()]).toEqual([7, 8]);
    expect(target['enc/l1/kernel']).toBe(v);
    expect(target['enc/l1/bias']).not.toBe(plain);
    expect([...target['enc/l1/bias']!.dataSync()]).toEqual([1, 2, 3]);
    expect([...plain.dataSync()]).toEqual([0, 0, 0]); // the caller's tensor is left alone
    // An unexpected key through a rule names where it went.
    expect(() =>
      loadStateDict(target, { 'encoder.l2.bias': { shape: [3], data: [1, 2, 3] } }, rules),
    ).toThrow(/unexpected: 'encoder\.l2\.bias' \(maps to 'enc\/l2\/bias', which the target lacks\)/);
    tf.dispose([v, plain, target['enc/l1/bias']!]);
  });

  it('refuses two keys for one weight, bad entries and impossible layouts', async () => {
    await useBackend(backend);
    const t = { w: tf.zeros([2]) };
    expect(() =>
      loadStateDict(t, { a: { shape: [2], data: [1, 2] }, b: { shape: [2], data: [1, 2] } }, [
        { from: /^[ab]$/, to: () => 'w' },
      ]),
    ).toThrow(/keys 'a' and 'b' both map to 'w'/);
    expect(() => loadStateDict(t, { a: { shape: [3], data: [1, 2] } }, [{ from: 'a', to: 'w' }])).toThrow(
      /state dict 'a' has 2 values for shape \[3\] \(3\)/,
    );
    expect(() =>
      loadStateDict(t, { a: { shape: [2], data: [1, 2] } }, [{ from: 'a', to: 'w', transform: 'conv' }]),
    ).toThrow(/mis-shaped: 'a' → 'w': expected \[2\], got \[2\] — 'conv' layout needs rank 4/);
    tf.dispose(t);
  });

  it('export → safetensors → import is exact, in PyTorch layout', async () => {
    await useBackend(backend);
    const a = makeModel();
    // Give every weight distinct values (the fresh BatchNorm has ones/zeros).
    a.model.weights.forEach((w, i) => {
      tf.tidy(() => {
        w.write(tf.tensor(seededValues(w.read().size, 10 + i), w.shape as number[]));
      });
    });
    const sd = await exportStateDict(a.model, a.rules);
    expect([...sd.keys()].sort()).toEqual(
      [
        'classifier.bias',
        'classifier.weight',
        'features.0.bias',
        'features.0.weight',
        ...Object.keys(BATCH_NORM_NAMES).map((k) => `features.1.${k}`),
      ].sort(),
    );
    const conv = sd.get('features.0.weight')!;
    expect(conv.shape).toEqual([2, 3, 2, 2]);
    const kv = byName(a.model, `c${a.n}/kernel`).arraySync() as number[][][][];
    // OIHW flat index ((o·3 + i)·2 + h)·2 + w holds HWIO [h,w,i,o].
    expect(conv.data[((1 * 3 + 2) * 2 + 0) * 2 + 1]).toBe(kv[0]![1]![2]![1]);
    expect(conv.data[((0 * 3 + 1) * 2 + 1) * 2 + 0]).toBe(kv[1]![0]![1]![0]);
    expect(sd.get('classifier.weight')!.shape).toEqual([4, 8]);

    const file = parseSafetensors(serializeSafetensors(sd));
    const b = makeModel();
    const rulesB = b.rules;
    loadStateDict(b.model, file.tensors, rulesB);
    a.model.weights.forEach((w, i) => {
      expect(b.model.weights[i]!.read().dataSync()).toEqual(w.read().dataSync());
    });
    a.model.dispose();
    b.model.dispose();
  });
});

describe('exportStateDict errors', () => {
  it('lists weights without a reverse rule and refuses non-inverse reverses', async () => {
    await useBackend('cpu');
    const t = { 'a/kernel': tf.zeros([1, 1]), 'b/kernel': tf.zeros([1, 1]), 'c/bias': tf.zeros([1]) };
    const rules: StateDictRule[] = [
      { from: /^(\w)\.weight$/, to: '$1/kernel', transform: 'linear' },
      { from: 'c.bias', to: 'c/bias' },
    ];
    await expect(exportStateDict(t, rules)).rejects.toThrow(
      /no rule gives a PyTorch name for 2 weight\(s\): 'a\/kernel', 'b\/kernel' \(rules with a RegExp `from` need `reverse`\)/,
    );
    const withReverse: StateDictRule[] = [
      { ...rules[0]!, reverse: { from: /^(\w)\/kernel$/, to: '$1.weight' } },
      rules[1]!,
    ];
    const sd = await exportStateDict(t, withReverse);
    expect([...sd.keys()]).toEqual(['a.weight', 'b.weight', 'c.bias']);
    const wrong: StateDictRule[] = [
      { ...rules[0]!, reverse: { from: /^(\w)\/kernel$/, to: '$1.w' } },
      rules[1]!,
    ];
    await expect(exportStateDict(t, wrong)).rejects.toThrow(
      /'a\/kernel' exports as 'a\.w', but the rules import 'a\.w' as unexpected \(no rule matches\)/,
    );
    tf.dispose(t);
  });
});

describe('torch fixture', () => {
  it("loads torch's OIHW conv kernel into a conv2d layer", async () => {
    await useBackend('cpu');
    const { tensors } = parseSafetensors(
      new Uint8Array(readFileSync(new URL('./fixtures/torch_small.safetensors', import.meta.url))),
    );
    const layer = tfl.layers.conv2d({ name: 'fixture_conv', filters: 2, kernelSize: 2, useBias: false });
    layer.build([1, 4, 4, 3]);
    const report = loadStateDict(layer, tensors, [
      { from: 'conv.weight', to: 'fixture_conv/kernel', transform: 'conv' },
      ...ignoreKeys(/.*/),
    ]);
    expect(report.loaded).toEqual(['fixture_conv/kernel']);
    const kv = layer.getWeights()[0]!.arraySync() as number[][][][];
    expect(kv[1]![0]![2]![1]).toBe(1210); // [h=1,w=0,i=2,o=1] ← torch [o=1,i=2,h=1,w=0]
    expect(kv[0]![1]![0]![0]).toBe(1);
    for (const w of layer.weights) w.dispose();
  });
});

describe('weight names of layers and models', () => {
  it('are <layer>/<weight> for directly built layers and nested models alike', async () => {
    await useBackend('cpu');
    const inner = tfl.sequential({
      name: 'sd_inner',
      layers: [tfl.layers.dense({ name: 'sd_d1', units: 2, inputShape: [3] })],
    });
    const inp = tfl.input({ shape: [3] });
    const out = tfl.layers
      .dense({ name: 'sd_d2', units: 1, useBias: false })
      .apply(inner.apply(inp) as tfl.SymbolicTensor);
    const model = tfl.model({ inputs: inp, outputs: out as tfl.SymbolicTensor });
    const report = loadStateDict(
      model,
      {
        a: { shape: [3, 2], data: [1, 2, 3, 4, 5, 6] },
        b: { shape: [2], data: [0, 0] },
        c: { shape: [2, 1], data: [1, 1] },
      },
      [
        { from: 'a', to: 'sd_d1/kernel' },
        { from: 'b', to: 'sd_d1/bias' },
        { from: 'c', to: 'sd_d2/kernel' },
      ],
    );
    expect(report.loaded).toEqual(['sd_d1/kernel', 'sd_d1/bias', 'sd_d2/kernel']);
    // x = [1, 0, 1] → d1 = [1+5, 2+6] = [6, 8] → d2 = 14.
    const y = model.predict(tf.tensor([[1, 0, 1]])) as tf.Tensor;
    expect([...y.dataSync()]).toEqual([14]);
    tf.dispose(y);
    model.dispose();
  });
});
