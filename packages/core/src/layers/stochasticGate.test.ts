import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectClose,
  expectNoTensorGrowth,
  gradCheck,
  saveLoadRoundTrip,
  seededTensor,
  TEST_BACKENDS,
  useBackend,
} from '../testing/index.js';
import { StochasticGate, stochasticGate } from './stochasticGate.js';

describe.each(TEST_BACKENDS)('StochasticGate on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  const deep = () => tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]);
  const shallow = () => tf.tensor4d([10, 20, 30, 40], [1, 1, 2, 2]);

  it('eval: (1 − ψ)·deep + ψ·shallow (spec §3.3)', () => {
    const y = stochasticGate(deep(), shallow(), { psi: 0.3, training: false });
    expectClose(y, [0.7 * 1 + 3, 0.7 * 2 + 6, 0.7 * 3 + 9, 0.7 * 4 + 12]);
  });

  it('train with an injected mask: r·(deep − ψ·shallow)/(1 − ψ) + (1 − r)·shallow', () => {
    const mask = tf.tensor4d([1, 0, 1, 0], [1, 1, 2, 2]);
    const y = stochasticGate(deep(), shallow(), { psi: 0.3, training: true, mask });
    expectClose(y, [(1 - 3) / 0.7, 20, (3 - 9) / 0.7, 40]);
  });

  it('train: the deep stream is kept with probability 1 − ψ and the expectation equals deep', () => {
    const n = 20000;
    const y = stochasticGate(tf.ones([1, 1, 1, n]), tf.zeros([1, 1, 1, n]), {
      psi: 0.3,
      training: true,
      seed: 3,
    });
    const v = y.dataSync();
    let kept = 0;
    for (const e of v) {
      if (e !== 0) {
        expect(e).toBeCloseTo(1 / 0.7, 5);
        kept++;
      }
    }
    expect(kept / n).toBeGreaterThan(0.68);
    expect(kept / n).toBeLessThan(0.72);
    expect(tf.mean(y).dataSync()[0]).toBeCloseTo(1, 1);
  });

  it('gradients w.r.t. both streams match finite differences (fixed mask)', () => {
    const mask = tf.cast(tf.greater(seededTensor([2, 3, 5, 4], 9), 0), 'float32');
    gradCheck(
      (d, s) => stochasticGate(d!, s!, { psi: 0.3, training: true, mask }),
      [seededTensor([2, 3, 5, 4], 1), seededTensor([2, 3, 5, 4], 2)],
    );
    gradCheck(
      (d, s) => stochasticGate(d!, s!, { psi: 0.3, training: false }),
      [seededTensor([1, 3, 5, 2], 3), seededTensor([1, 3, 5, 2], 4)],
    );
  });

  it('rejects mismatched shapes and bad ψ with messages naming them', () => {
    expect(() => stochasticGate(tf.zeros([1, 2, 2, 3]), tf.zeros([1, 2, 2, 4]), { training: false })).toThrow(
      /deep \[1,2,2,3\] and shallow \[1,2,2,4\]/,
    );
    expect(() => stochasticGate(deep(), shallow(), { psi: 1.5, training: false })).toThrow(
      /psi must be in \[0, 1\], got 1.5/,
    );
  });

  it('as a layer in a tf.model: exact output shape, eval output, save/load round trip with identical outputs', async () => {
    const a = tfl.input({ shape: [5, 7, 3] });
    const b = tfl.input({ shape: [5, 7, 3] });
    const dense = tfl.layers.dense({ units: 3, kernelInitializer: 'glorotUniform' });
    const gate = new StochasticGate({ psi: 0.4, name: `sg_${backend}` });
    const out = gate.apply([dense.apply(a) as tfl.SymbolicTensor, b]) as tfl.SymbolicTensor;
    expect(out.shape).toEqual([null, 5, 7, 3]);
    const model = tfl.model({ inputs: [a, b], outputs: out });
    const xa = seededTensor([2, 5, 7, 3], 5);
    const xb = seededTensor([2, 5, 7, 3], 6);
    const y = model.predict([xa, xb]) as tf.Tensor;
    expectClose(y, stochasticGate(dense.apply(xa) as tf.Tensor, xb, { psi: 0.4, training: false }));

    const { loaded, artifacts } = await saveLoadRoundTrip(model);
    expect(JSON.stringify(artifacts.modelTopology)).toContain('"class_name":"WsssStochasticGate"');
    expect((loaded.getLayer(`sg_${backend}`) as StochasticGate).options.psi).toBe(0.4);
    expectClose(loaded.predict([xa, xb]) as tf.Tensor, y, { atol: 0, rtol: 0 });
  });

  it('config round-trips and unknown options are refused', () => {
    const g = new StochasticGate({ psi: 0.25 });
    const copy = StochasticGate.fromConfig(StochasticGate, g.getConfig()) as StochasticGate;
    expect(copy.options.psi).toBe(0.25);
    expect(() => new StochasticGate({ psy: 0.3 } as never)).toThrow(
      /unknown option 'psy'; accepted options are psi/,
    );
  });

  it('keeps the tensor count flat across training calls', async () => {
    const g = new StochasticGate();
    const d = seededTensor([2, 9, 9, 4], 1);
    const s = seededTensor([2, 9, 9, 4], 2);
    await expectNoTensorGrowth(() => {
      tf.dispose(g.apply([d, s], { training: true }) as tf.Tensor);
    });
  });
});
