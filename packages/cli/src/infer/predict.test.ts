import * as tf from '@tensorflow/tfjs-core';
import { applyModel, backgroundSoftmax, classScores, resizeBilinear } from '@wsss/core';
import { expectClose, seededTensor, seedWeights, useBackend } from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { createWsFcn } from '../model/wsfcn.js';
import { predictWsFcn, predictWsFcnWith } from './predict.js';

describe('predictWsFcn', () => {
  beforeAll(() => useBackend('wasm'));
  const net = () => {
    const n = createWsFcn({
      numClasses: 3,
      backbone: { channels: [8, 8, 16, 16, 16, 16, 16], depth: 'light' },
    });
    seedWeights(n.model, 5);
    return n;
  };

  it('single view: upsampled softmax masks, fg of absent classes zeroed, constant background 0.25', () => {
    const m = net();
    const x = seededTensor([1, 29, 35, 3], 1) as tf.Tensor4D;
    const labels = tf.tensor2d([[1, 0, 1]]);
    const p = predictWsFcn(m, x, { labels });
    const { logits, masks } = backgroundSoftmax(m.model.predict(x) as tf.Tensor4D);
    const up = resizeBilinear(masks, [29, 35], { alignCorners: true });
    const expected = tf.concat(
      [
        tf.fill([1, 29, 35, 1], 0.25),
        tf.mul(tf.slice(up, [0, 0, 0, 1], [-1, -1, -1, 3]), tf.reshape(labels, [1, 1, 1, 3])),
      ],
      3,
    );
    expectClose(p.masks, expected, { atol: 1e-6 });
    expectClose(p.scores, tf.sigmoid(classScores(logits, masks)), { atol: 1e-6 });
    expectClose(p.classes, tf.argMax(expected, 3));
  });

  it('flip views mirror back; multi-scale outputs are at input size; predicted labels use the cut', () => {
    const m = net();
    const x = seededTensor([2, 23, 17, 3], 2) as tf.Tensor4D;
    const a = predictWsFcn(m, x, { flip: true, bgScore: 'model' });
    const b = predictWsFcn(m, tf.reverse(x, 2) as tf.Tensor4D, { flip: true, bgScore: 'model' });
    expectClose(a.masks, tf.reverse(b.masks, 2), { atol: 1e-5 });
    const ms = predictWsFcn(m, x, { scales: [1, 0.5, 1.5], flip: true, canvas: 40 });
    expect(ms.masks.shape).toEqual([2, 23, 17, 4]);
    expectClose(ms.labels, tf.cast(tf.greater(ms.scores, 0.1), 'float32'));
    expect(() => predictWsFcn(m, x, { canvas: 20 })).toThrow(/does not fit the 20×20 canvas/);
  });

  it('predictWsFcnWith: any async forward gives predictWsFcn’s prediction; the caller’s images survive; no leaks', async () => {
    const m = net();
    const x = seededTensor([2, 21, 26, 3], 3) as tf.Tensor4D;
    let calls = 0;
    const forward = async (v: tf.Tensor4D) => {
      calls++;
      await new Promise((r) => setTimeout(r, 1));
      return tf.tidy(() => applyModel(m.model, v, { training: false }) as tf.Tensor4D);
    };
    for (const opts of [
      {},
      { scales: [1, 0.5, 1.5], flip: true, canvas: 40 },
      { bgScore: 'model' as const, fpCut: 0.4 },
    ]) {
      const before = tf.memory().numTensors;
      calls = 0;
      const a = await predictWsFcnWith(forward, 3, x, opts);
      const views = (opts.scales?.length ?? 1) * (opts.flip ? 2 : 1);
      expect(calls).toBe(views);
      expect(tf.memory().numTensors).toBe(before + 4);
      const b = predictWsFcn(m, x, opts);
      for (const k of ['scores', 'labels', 'masks', 'classes'] as const) expectClose(a[k], b[k], { atol: 0 });
      tf.dispose([a.scores, a.labels, a.masks, a.classes, b.scores, b.labels, b.masks, b.classes]);
    }
    expect(x.isDisposed).toBe(false);
    // a forward that fails leaves nothing behind
    const before = tf.memory().numTensors;
    await expect(
      predictWsFcnWith(async () => Promise.reject(new Error('engine down')), 3, x, { flip: true }),
    ).rejects.toThrow('engine down');
    expect(tf.memory().numTensors).toBe(before);
    await expect(predictWsFcnWith(forward, 3, x, { scales: [] })).rejects.toThrow(
      'scales must be positive numbers',
    );
  });
});
