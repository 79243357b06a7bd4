import * as tf from '@tensorflow/tfjs';
import { setBackend } from '@wsss/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { run as exportedWsFcn } from './exportedWsFcn.js';
import { run as fcaContextHead } from './fcaContextHead.js';
import { run as ficklenetLocalize } from './ficklenetLocalize.js';
import { run as pamrRefine } from './pamrRefine.js';
import { run as sf2AlignDecoder } from './sf2AlignDecoder.js';
import { run as stochasticGate } from './stochasticGate.js';

/** Runs an example and checks it leaves no tensor behind. */
async function noLeak<T>(fn: () => Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const r = await fn();
  expect(tf.memory().numTensors).toBe(before);
  return r;
}

const log = (line: string) => console.log(line);

describe.each(['cpu', 'wasm'] as const)('examples (%s)', (backend) => {
  beforeAll(async () => {
    await setBackend(backend);
  });

  it('fcaContextHead: FCA in a user tf.model trains (loss goes down)', async () => {
    const r = await noLeak(() => fcaContextHead({ log }));
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.losses.at(-1)!).toBeLessThan(0.5 * r.losses[0]!);
  });

  it('sf2AlignDecoder: Align with a zero flow conv is bilinear upsampling (align corners)', async () => {
    const r = await noLeak(() => sf2AlignDecoder({ log }));
    expect(r.outputShape).toEqual([2, 16, 16, 3]);
    expect(r.diffWithFlow).toBeGreaterThan(1e-3);
    expect(r.diffZeroFlow).toBeLessThan(1e-5);
  });

  it('pamrRefine: PAMR makes noisy masks follow the image regions', async () => {
    const r = await noLeak(() => pamrRefine({ log }));
    expect(r.accuracyBefore).toBeLessThan(0.95);
    expect(r.accuracyAfter).toBeGreaterThan(r.accuracyBefore + 0.05);
  });

  it('stochasticGate: random while training, the fixed blend at inference', async () => {
    const r = await noLeak(() => stochasticGate({ log }));
    expect(r.inferenceRepeatDiff).toBe(0);
    expect(r.inferenceBlendDiff).toBeLessThan(1e-5);
    expect(r.trainingRepeatDiff).toBeGreaterThan(1e-3);
    expect(r.shallowFraction).toBeGreaterThan(0.2);
    expect(r.shallowFraction).toBeLessThan(0.4);
    expect(r.trainingMeanMinusDeep).toBeLessThan(0.2 * r.singleDrawMinusDeep); // ≈ 1/√200 ≈ 0.07 expected
  });

  // 60 training steps take ~10 s on tfjs's cpu backend (0.6 s on wasm); the layer itself is tested on cpu in
  // @wsss/ficklenet, so on cpu this example is left out to keep the file fast.
  it.skipIf(backend === 'cpu')(
    'ficklenetLocalize: the localization map peaks on the bright square',
    async () => {
      const r = await noLeak(() => ficklenetLocalize({ log }));
      expect(r.lastLoss).toBeLessThan(r.firstLoss);
      expect(r.peakOnSquare).toBe(true);
      expect(r.meanOnSquare).toBeGreaterThan(2 * r.meanElsewhere);
    },
  );

  it('exportedWsFcn: the exported tfjs model loads in plain tfjs and predicts the same', async () => {
    const r = await noLeak(() => exportedWsFcn({ log }));
    expect(r.customLayers).toEqual(expect.arrayContaining(['WsssFca', 'WsssAlign', 'WsssStochasticGate']));
    expect(r.outputShape).toEqual([1, 8, 8, 3]);
    expect(r.maxAbsDiff).toBeLessThan(1e-5);
    expect(r.sameClasses).toBe(true);
  });
});
