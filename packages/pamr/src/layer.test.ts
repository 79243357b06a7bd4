import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  expectClose,
  expectNoTensorGrowth,
  seededTensor,
  TEST_BACKENDS,
  useBackend,
} from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { Pamr, pamr } from './index.js';

describe.each(TEST_BACKENDS)('Pamr layer (%s)', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('in a tf.model: exact output shapes, output = the op, save/load round trip with identical outputs', async () => {
    const image = tfl.input({ shape: [7, 9, 3] });
    const features = tfl.input({ shape: [4, 5, 6] });
    // A user's head: logits at a lower resolution → softmax → PAMR at the image's size.
    const logits = tfl.layers.dense({ units: 4, kernelInitializer: 'glorotUniform' }).apply(features);
    const probs = tfl.layers.softmax({ axis: -1 }).apply(logits) as tfl.SymbolicTensor;
    const layer = new Pamr({ iterations: 3, dilations: [1, 2, 4], name: `pamr_${backend}` });
    const refined = layer.apply([image, probs]) as tfl.SymbolicTensor;
    expect(refined.shape).toEqual([null, 7, 9, 4]);
    const model = tfl.model({ inputs: [image, features], outputs: [refined, probs] });

    const x = tf.add(tf.mul(seededTensor([2, 7, 9, 3], 1), 0.5), 0.5);
    const f = seededTensor([2, 4, 5, 6], 2);
    const [y, p] = model.predict([x, f]) as tf.Tensor[];
    expect(y!.shape).toEqual([2, 7, 9, 4]);
    const direct = pamr(x as tf.Tensor4D, p as tf.Tensor4D, { iterations: 3, dilations: [1, 2, 4] });
    expectClose(y!, direct, { atol: 0, rtol: 0 });

    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (art) => {
        artifacts = art;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    expect(JSON.stringify(artifacts!.modelTopology)).toContain('"class_name":"WsssPamr"');
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    const copy = loaded.getLayer(`pamr_${backend}`) as Pamr;
    expect(copy).toBeInstanceOf(Pamr);
    expect(copy.options).toEqual({ iterations: 3, dilations: [1, 2, 4] });
    const [y2] = loaded.predict([x, f]) as tf.Tensor[];
    expectClose(y2!, y!, { atol: 0, rtol: 0 });
    tf.dispose([x, f, y!, p!, direct, y2!]);
  });

  it('trains the layers before it without error (PAMR passes a zero gradient)', async () => {
    const image = tfl.input({ shape: [5, 5, 3] });
    const feats = tfl.input({ shape: [5, 5, 2] });
    const probs = tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(feats) as tfl.SymbolicTensor;
    const refined = new Pamr({ iterations: 2 }).apply([image, probs]) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: [image, feats], outputs: refined });
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const x = tf.ones([1, 5, 5, 3]);
    const f = seededTensor([1, 5, 5, 2], 3);
    const target = tf.zeros([1, 5, 5, 3]);
    const before = model.getWeights().map((w) => w.dataSync().slice());
    await model.trainOnBatch([x, f], target);
    const after = model.getWeights().map((w) => w.dataSync().slice());
    // The only path from the weights to the loss goes through PAMR, whose gradient is zero.
    for (const [i, w] of after.entries()) expectClose(w, before[i]!, { atol: 0, rtol: 0 });
    tf.dispose([x, f, target]);
  });

  it('keeps the tensor count flat', async () => {
    const layer = new Pamr({ iterations: 2 });
    const x = seededTensor([1, 6, 6, 3], 4);
    const m = tf.softmax(seededTensor([1, 3, 3, 5], 5));
    await expectNoTensorGrowth(() => (layer.apply([x, m]) as tf.Tensor).dispose());
    tf.dispose([x, m]);
  });
});

describe('Pamr layer config and shapes', () => {
  it('config round-trips; defaults are the spec values; unknown or bad options are refused', () => {
    const d = new Pamr();
    expect(d.options).toEqual({ iterations: 10, dilations: [1, 2, 4, 8, 12, 24] });
    const layer = new Pamr({ iterations: 5, dilations: [1, 3] });
    const config = layer.getConfig();
    expect(config['iterations']).toBe(5);
    expect(config['dilations']).toEqual([1, 3]);
    const copy = Pamr.fromConfig(Pamr, config) as Pamr;
    expect(copy.options).toEqual({ iterations: 5, dilations: [1, 3] });
    expect(() => new Pamr({ iters: 3 } as never)).toThrow(/unknown option 'iters'; accepted options are/);
    expect(() => new Pamr({ dilations: [0] })).toThrow(/WsssPamr: dilations must be a non-empty array/);
    expect(() => new Pamr({ iterations: 1.5 })).toThrow(
      /WsssPamr: iterations must be a non-negative integer/,
    );
  });

  it('computes the output shape exactly and refuses bad input shapes', () => {
    const layer = new Pamr();
    expect(
      layer.computeOutputShape([
        [null, 81, 81, 3],
        [null, 41, 41, 21],
      ]),
    ).toEqual([null, 81, 81, 21]);
    expect(
      layer.computeOutputShape([
        [4, null, null, 3],
        [null, 9, 9, 21],
      ]),
    ).toEqual([4, null, null, 21]);
    expect(() => layer.computeOutputShape([null, 8, 8, 3])).toThrow(/expects two inputs \[image, masks\]/);
    expect(() =>
      layer.computeOutputShape([
        [null, 8, 8],
        [null, 8, 8, 2],
      ]),
    ).toThrow(/must both be rank 4/);
    expect(() =>
      layer.computeOutputShape([
        [2, 8, 8, 3],
        [3, 8, 8, 2],
      ]),
    ).toThrow(/same batch size/);
  });
});
