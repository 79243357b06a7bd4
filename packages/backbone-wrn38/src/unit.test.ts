import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { loadStateDict, parsePth, WsssLayer } from '@wsss/core';
import { seededTensor, useBackend } from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { wrn38StateDictRules } from './stateDict.js';
import { Wrn38Unit, wrn38Unit } from './unit.js';
import { wrn38 } from './wrn38.js';

const fixture = (f: string) => new URL(`./fixtures/${f}`, import.meta.url);
const expected = JSON.parse(readFileSync(fixture('wrn38-tiny.expected.json'), 'utf8'));

describe('a ResNet-38d unit as a layer of its own', () => {
  beforeAll(() => useBackend('cpu'));

  it("loads one unit of PyTorch's backbone (built from the state dict's shapes) and computes what the backbone's unit computes", () => {
    const pth = parsePth(new Uint8Array(readFileSync(fixture('wrn38-tiny.pth'))), { name: 'wrn38-tiny.pth' });
    // the whole backbone, unbuilt: loadStateDict builds it (RGB input) before loading
    const net = wrn38({ name: 'whole', channels: expected.channels, depth: expected.depth, taps: ['conv3'] });
    expect(net.built).toBe(false);
    loadStateDict(net, pth.tensors, wrn38StateDictRules('whole'));
    expect(net.built).toBe(true);
    // b3 of the tiny backbone: basic, 4 → 8 channels, stride 2
    const spec = net.units.find((u) => u.name === 'b3')!;
    const { name: _n, stage: _s, frozenInReference: _f, ...options } = spec;
    const unit = new Wrn38Unit({ name: 'b3u', ...options });
    const only = new Map([...pth.tensors].filter(([k]) => k.startsWith('b3.')));
    const report = loadStateDict(unit, only, unit.stateDictRules('b3.'));
    expect(unit.built).toBe(true); // input channels from bn_branch2a
    expect(report.missing).toEqual([]);
    // a layer built on its own names its weights bare (`bn_branch2a/beta`); loadStateDict scopes them by the layer
    expect(report.loaded.sort()).toEqual(unit.weights.map((w) => `b3u/${w.originalName}`).sort());
    expect(unit.hasProjection).toBe(true);
    // the unit's weights are the backbone's b3 weights
    for (const w of unit.weights) {
      const mine = `b3/${w.originalName}`; // the backbone, built on its own too, names its weights bare
      const theirs = net.weights.find((v) => v.originalName === mine)!;
      expect([...w.read().dataSync()], mine).toEqual([...theirs.read().dataSync()]);
    }
    // and it runs: b2's output (4 channels at 6×7) → b3 (8 channels at 3×4, stride 2)
    const x = seededTensor([1, 6, 7, 4], 3) as tf.Tensor4D;
    const y = unit.apply(x) as tf.Tensor;
    expect(y.shape).toEqual([1, 3, 4, 8]);
    expect(unit.computeOutputShape([null, 6, 7, 4])).toEqual([null, 3, 4, 8]);
    tf.dispose([x, y]);
  });

  it("wrn38Unit('b6') is the reference's unit; unknown names and bad options are refused by name", () => {
    const b6 = wrn38Unit('b6');
    expect(b6.options).toMatchObject({
      kind: 'bottleneck',
      inChannels: 1024,
      outChannels: 2048,
      dilation: 4,
      dropout: 0.3,
    });
    expect(() => wrn38Unit('b9')).toThrow(
      "wrn38Unit: 'b9' is not a unit of ResNet-38d; expected one of b2, b2_1",
    );
    expect(() => new Wrn38Unit({ kind: 'bottleneck', outChannels: 6 })).toThrow(
      "a bottleneck's outChannels must be a multiple of 4",
    );
  });

  it('an unbuilt layer whose weights cannot tell its input says which shape to build it with', () => {
    class Plain extends WsssLayer<{ c: number }> {
      static className = 'WsssTestPlain';
      constructor() {
        super({}, { c: 2 });
      }
      override build(s: (number | null)[]): void {
        this.addConv('conv', { kernelSize: 1, inChannels: s[3]!, outChannels: 2 });
        this.built = true;
      }
    }
    const layer = new Plain();
    const sd = new Map([['conv.weight', { shape: [2, 5, 1, 1], data: new Float32Array(10) }]]);
    expect(() =>
      loadStateDict(layer, sd, [{ from: 'conv.weight', to: `${layer.name}/conv/kernel`, transform: 'conv' }]),
    ).toThrow(
      `is not built, so it has no weights to load into; build it first with layer.build(inputShape) or apply it to an input (the state dict's first convolution, 'conv.weight', takes 5 channels: for a single input, layer.build([null, null, null, 5]))`,
    );
  });
});
