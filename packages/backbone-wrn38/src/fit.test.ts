/**
 * The backbone with two taps (conv3, conv6) inside a user's functional model, trained with `model.fit`: it runs once
 * per batch on fit, predict and evaluate, and one fit step (batch-statistics BatchNorm, dropout in b6/b7) equals one
 * `applyModel` step.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { expectFitRunsOnce, seededTensor, seedWeights, useBackend } from '@wsss/core/testing';
import { beforeAll, describe, it } from 'vitest';
import { wrn38 } from './wrn38.js';

function build(): tfl.LayersModel {
  const input = tfl.input({ shape: [17, 19, 3] });
  const backbone = wrn38({
    channels: [4, 4, 8, 8, 8, 8, 8],
    depth: 'light',
    bnMode: 'batch',
    freezeStem: false,
  });
  const [conv3, conv6] = backbone.apply(input) as tfl.SymbolicTensor[];
  // tfjs's fit adds the outputs' unreduced losses, so taps of different sizes go through one head here
  const pool = (t: tfl.SymbolicTensor) =>
    tfl.layers.globalAveragePooling2d({}).apply(t) as tfl.SymbolicTensor;
  const out = tfl.layers.add().apply([pool(conv3!), pool(conv6!)]) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  seedWeights(backbone, 1);
  return model;
}

describe('WideResNet38 with two taps in a model trained with model.fit', () => {
  beforeAll(() => useBackend('cpu'));

  it('runs once per batch on fit, predict and evaluate, and trains exactly as applyModel', async () => {
    const x = seededTensor([2, 17, 19, 3], 1);
    const ys = [seededTensor([2, 8], 2)];
    await expectFitRunsOnce(build, x, ys, { lr: 0.01, tol: 1e-5 });
  });
});
