import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { fileSystem, loadLayersModelFromFile } from '../node/fileIO.js';
import { expectClose, seededTensor, useBackend } from '../testing/index.js';
import { StochasticGate } from './stochasticGate.js';

describe('a tf.model containing StochasticGate on disk', () => {
  beforeAll(() => useBackend('wasm'));

  it('saves to a folder (model.json + weights.bin) and loads back with identical eval outputs', async () => {
    const a = tfl.input({ shape: [6, 5, 4] });
    const b = tfl.input({ shape: [6, 5, 4] });
    const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' });
    const out = new StochasticGate({ psi: 0.3, name: 'gate_on_disk' }).apply([
      conv.apply(a) as tfl.SymbolicTensor,
      b,
    ]);
    const model = tfl.model({ inputs: [a, b], outputs: out as tfl.SymbolicTensor });
    const dir = join(mkdtempSync(join(tmpdir(), 'sg-model-')), 'model');
    await model.save(fileSystem(dir));
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await loadLayersModelFromFile(join(dir, 'model.json'));
    const xs = [seededTensor([2, 6, 5, 4], 1), seededTensor([2, 6, 5, 4], 2)];
    expectClose(loaded.predict(xs) as tf.Tensor, model.predict(xs) as tf.Tensor, { atol: 0, rtol: 0 });
    expect((loaded.getLayer('gate_on_disk') as StochasticGate).options.psi).toBe(0.3);
  });
});
