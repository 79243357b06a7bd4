import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { loadStateDict, parsePth } from '@wsss/core';
import { expectClose, TEST_BACKENDS, useBackend } from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { wrn38StateDictRules } from './stateDict.js';
import { wrn38 } from './wrn38.js';

// A tiny ResNet-38d saved by PyTorch 1.13 with the reference key names, and PyTorch's outputs for a fixed input
// (made by scripts/make-wrn38-fixture.py).
const fixture = (f: string) => new URL(`./fixtures/${f}`, import.meta.url);
const expected = JSON.parse(readFileSync(fixture('wrn38-tiny.expected.json'), 'utf8'));

describe.each(TEST_BACKENDS)('PyTorch .pth import on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('loads a state dict written by PyTorch and reproduces its conv3/conv6 to 1e-4', () => {
    const pth = parsePth(new Uint8Array(readFileSync(fixture('wrn38-tiny.pth'))), { name: 'wrn38-tiny.pth' });
    const name = `pth_${backend}`;
    const net = wrn38({ name, channels: expected.channels, depth: expected.depth });
    const [, h, w] = expected.input.shape;
    net.build([null, h, w, 3]);
    const report = loadStateDict(net, pth.tensors, wrn38StateDictRules(name));
    expect(report.missing).toEqual([]);
    expect(report.ignored.length).toBeGreaterThan(0); // num_batches_tracked
    const x = tf.tidy(() => {
      const v = new Float32Array(h * w * 3);
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let c = 0; c < 3; c++) v[(i * w + j) * 3 + c] = Math.sin(0.37 * (c * h * w + i * w + j));
      return tf.tensor4d(v, [1, h, w, 3]);
    });
    const [conv3, conv6] = net.apply(x) as tf.Tensor[];
    expect(conv3!.shape).toEqual(expected.conv3.shape);
    expect(conv6!.shape).toEqual(expected.conv6.shape);
    expectClose(conv3!, expected.conv3.data, { atol: 1e-4, rtol: 1e-4, what: 'conv3' });
    expectClose(conv6!, expected.conv6.data, { atol: 1e-4, rtol: 1e-4, what: 'conv6' });
  });
});
