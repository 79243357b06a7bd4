/**
 * FickleSelection with its score map (two outputs) inside a user's functional model, trained with `model.fit`: one
 * selection per batch on fit, predict and evaluate (one random draw, not one per output), and one fit step equals
 * one `applyModel` step.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { expectFitRunsOnce, seededTensor, seedWeights, useBackend } from '@wsss/core/testing';
import { beforeAll, describe, it } from 'vitest';
import { FickleSelection } from './selection.js';

function build(): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 7, 4] });
  const features = tfl.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' });
  const selection = new FickleSelection({ numClasses: 3, rate: 0.4, returnScoreMap: true });
  const [scores, map] = selection.apply(features.apply(input) as tfl.SymbolicTensor) as tfl.SymbolicTensor[];
  // tfjs's fit adds the outputs' unreduced losses, so outputs of different shapes go through one head here
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(map!) as tfl.SymbolicTensor;
  const out = tfl.layers.add().apply([scores!, pooled]) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  seedWeights(features, 1);
  seedWeights(selection, 2);
  return model;
}

describe('FickleSelection in a model trained with model.fit', () => {
  beforeAll(() => useBackend('cpu'));

  it('selects once per batch on fit, predict and evaluate, and trains exactly as applyModel', async () => {
    const x = seededTensor([2, 6, 7, 4], 1);
    const ys = [seededTensor([2, 3], 2)];
    await expectFitRunsOnce(build, x, ys, { lr: 0.05, tol: 1e-6 });
  });
});
