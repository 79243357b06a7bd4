/**
 * Align → Sf2 → StochasticGate inside a user's functional model, trained with `model.fit`: Sf2 (two outputs) runs
 * once per batch on fit, predict and evaluate, and one fit step equals one `applyModel` step — weights, the
 * BatchNorm statistics of its eight batch-mode BatchNorms and the gate's random draw included.
 */

import * as tfl from '@tensorflow/tfjs-layers';
import { StochasticGate } from '@wsss/core';
import { expectFitRunsOnce, seededTensor, seedWeights, useBackend } from '@wsss/core/testing';
import { beforeAll, describe, it } from 'vitest';
import { Align } from './align.js';
import { Sf2 } from './sf2.js';

function build(): tfl.LayersModel {
  const low = tfl.input({ shape: [9, 11, 6] });
  const high = tfl.input({ shape: [5, 6, 6] });
  const align = new Align({ projectChannels: 4 });
  const sf2 = new Sf2({ channels: 6 });
  const aligned = align.apply([low, high]) as tfl.SymbolicTensor;
  const [shallow, deep] = sf2.apply([low, aligned]) as tfl.SymbolicTensor[];
  const fused = new StochasticGate({ psi: 0.3 }).apply([deep!, shallow!]) as tfl.SymbolicTensor;
  const head = tfl.layers.conv2d({ filters: 3, kernelSize: 1 });
  const out = head.apply(fused) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: [low, high], outputs: [out, shallow!] });
  seedWeights(align, 2);
  seedWeights(sf2, 3);
  seedWeights(head, 4);
  return model;
}

describe('Sf2 in a model trained with model.fit', () => {
  beforeAll(() => useBackend('cpu'));

  it('runs once per batch on fit, predict and evaluate, and trains exactly as applyModel (BN statistics, gate draw)', async () => {
    const x = [seededTensor([2, 9, 11, 6], 1), seededTensor([2, 5, 6, 6], 2)];
    const ys = [seededTensor([2, 9, 11, 3], 3), seededTensor([2, 9, 11, 6], 4)];
    await expectFitRunsOnce(build, x, ys, { lr: 0.01, tol: 1e-5 });
  });
});
