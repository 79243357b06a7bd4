import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, expectNoTensorGrowth, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { GroupedOptimizer } from './groupedOptimizer.js';

describe.each(TEST_BACKENDS)('GroupedOptimizer on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('SGD with momentum, per-group learning rates and weight decay, step by step as PyTorch', () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const b = tf.variable(tf.tensor1d([0.5]));
    const opt = new GroupedOptimizer(
      [
        { name: 'weights', variables: [w], lrMult: 20, weightDecay: 5e-4 },
        { name: 'biases', variables: [b], lrMult: 40, weightDecay: 0 },
      ],
      { kind: 'sgd', lr: 1e-3, momentum: 0.9 },
    );
    // loss = Σ w² + 3b → grads 2w and 3
    let wv = [1, -2];
    let bv = 0.5;
    let bufW = [0, 0];
    let bufB = 0;
    for (let step = 0; step < 3; step++) {
      tf.dispose(
        opt.minimize(() => ({ loss: tf.add(tf.sum(tf.square(w)), tf.mul(tf.sum(b), 3)) as tf.Scalar })).loss,
      );
      const gw = wv.map((x) => 2 * x + 5e-4 * x);
      bufW = step === 0 ? gw : bufW.map((m, i) => 0.9 * m + gw[i]!);
      bufB = step === 0 ? 3 : 0.9 * bufB + 3;
      wv = wv.map((x, i) => x - 20e-3 * bufW[i]!);
      bv = bv - 40e-3 * bufB;
      expectClose(w, wv, { atol: 1e-6 });
      expectClose(b, [bv], { atol: 1e-6 });
    }
    expect(opt.iterations).toBe(3);
  });

  it('plain SGD (no momentum, no slot) with weight decay, as PyTorch', () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const opt = new GroupedOptimizer([{ name: 'w', variables: [w], lrMult: 10, weightDecay: 0.01 }], {
      kind: 'sgd',
      lr: 0.01,
    });
    let wv = [1, -2];
    for (let step = 0; step < 2; step++) {
      tf.dispose(opt.minimize(() => ({ loss: tf.sum(tf.square(w)) as tf.Scalar })).loss);
      wv = wv.map((x) => x - 0.1 * (2 * x + 0.01 * x));
      expectClose(w, wv, { atol: 1e-6 });
    }
  });

  it('Adam with bias correction and L2 decay, as PyTorch', () => {
    const w = tf.variable(tf.tensor1d([0.3]));
    const opt = new GroupedOptimizer([{ name: 'all', variables: [w], lrMult: 2, weightDecay: 0.1 }], {
      kind: 'adam',
      lr: 0.01,
    });
    let x = 0.3;
    let m = 0;
    let v = 0;
    for (let t = 1; t <= 3; t++) {
      tf.dispose(opt.minimize(() => ({ loss: tf.sum(tf.mul(tf.square(w), 1.5)) as tf.Scalar })).loss);
      const g = 3 * x + 0.1 * x;
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      x -= (0.02 * (m / (1 - 0.9 ** t))) / (Math.sqrt(v / (1 - 0.999 ** t)) + 1e-8);
      expectClose(w, [x], { atol: 1e-6 });
    }
  });

  it('saves and restores its state exactly; refuses mismatched state; keeps tensors flat', async () => {
    const mk = () => tf.variable(tf.tensor1d([1, 2, 3]));
    const w1 = mk();
    const o1 = new GroupedOptimizer([{ name: 'g', variables: [w1], lrMult: 1, weightDecay: 0 }], {
      kind: 'sgd',
      lr: 0.1,
      momentum: 0.9,
    });
    const loss = (w: tf.Variable) => () => ({ loss: tf.sum(tf.square(w)) as tf.Scalar });
    tf.dispose(o1.minimize(loss(w1)).loss);
    const state = await o1.getState();
    const w2 = tf.variable(w1.clone());
    const o2 = new GroupedOptimizer([{ name: 'g', variables: [w2], lrMult: 1, weightDecay: 0 }], {
      kind: 'sgd',
      lr: 0.1,
      momentum: 0.9,
    });
    o2.setState({ step: state.step, slots: { [w2.name]: state.slots[w1.name]! } });
    tf.dispose(o1.minimize(loss(w1)).loss);
    tf.dispose(o2.minimize(loss(w2)).loss);
    expectClose(w2, w1, { atol: 0, rtol: 0 });
    expect(() =>
      o2.setState({ step: 1, slots: { nope: { shape: [3], values: [new Float32Array(3)] } } }),
    ).toThrow(/no variable named 'nope'/);
    await expectNoTensorGrowth(() => tf.dispose(o1.minimize(loss(w1)).loss));
    // restoring a state into a fresh optimiser and disposing it leaves no tensor behind
    const before = tf.memory().numTensors;
    const o3 = new GroupedOptimizer([{ name: 'g', variables: [w2], lrMult: 1, weightDecay: 0 }], {
      kind: 'adam',
      lr: 0.1,
    });
    o3.setState({
      step: 1,
      slots: { [w2.name]: { shape: [3], values: [new Float32Array(3), new Float32Array(3)] } },
    });
    o3.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
  it.each(['sgd', 'adam'] as const)(
    'gradient accumulation (%s): parts of 3, 2 and 2 images weighted n_j/N give the full batch update',
    async (kind) => {
      // a small nonlinear model, mean-reduced over N = 7 samples: tanh(x·W + b), squared error
      const x = tf.tensor2d(
        Array.from({ length: 7 * 3 }, (_, i) => Math.sin(i * 1.7)),
        [7, 3],
      );
      const y = tf.tensor2d(
        Array.from({ length: 7 * 2 }, (_, i) => Math.cos(i * 0.9)),
        [7, 2],
      );
      const make = () => {
        const W = tf.variable(tf.tensor2d([0.3, -0.2, 0.5, 0.1, -0.4, 0.25], [3, 2]));
        const b = tf.variable(tf.tensor1d([0.05, -0.1]));
        const opt = new GroupedOptimizer(
          [
            { name: 'w', variables: [W], lrMult: 1, weightDecay: 5e-4 },
            { name: 'b', variables: [b], lrMult: 2, weightDecay: 0 },
          ],
          kind === 'sgd' ? { kind, lr: 0.1, momentum: 0.9 } : { kind, lr: 0.01 },
        );
        const loss = (xs: tf.Tensor2D, ys: tf.Tensor2D) =>
          tf.mean(tf.square(tf.sub(tf.tanh(tf.add(tf.matMul(xs, W), b)), ys))) as tf.Scalar;
        return { W, b, opt, loss };
      };
      const full = make();
      const acc = make();
      const parts = [
        [0, 3],
        [3, 2],
        [5, 2],
      ] as const;
      for (let step = 0; step < 3; step++) {
        const lf = full.opt.minimize(() => ({ loss: full.loss(x, y) })).loss;
        const la = acc.opt.minimizeAccumulated(
          parts.map(([, n]) => n / 7),
          (j) => {
            const [start, n] = parts[j]!;
            return {
              loss: acc.loss(tf.slice(x, [start, 0], [n, 3]), tf.slice(y, [start, 0], [n, 2])),
              aux: { n: tf.scalar(n) },
            };
          },
        );
        expectClose(la.loss, lf, { atol: 1e-6 });
        expect(la.aux.map((a) => (a as { n: tf.Scalar }).n.dataSync()[0])).toEqual([3, 2, 2]);
        tf.dispose([lf, la.loss, la.aux as tf.TensorContainer]);
        expectClose(acc.W, full.W, { atol: 1e-6 });
        expectClose(acc.b, full.b, { atol: 1e-6 });
      }
      expect(acc.opt.iterations).toBe(3);
      // no tensor is left behind by an accumulated step
      await expectNoTensorGrowth(() => {
        const r = acc.opt.minimizeAccumulated([0.5, 0.5], (j) => ({
          loss: acc.loss(tf.slice(x, [j * 3, 0], [3, 3]), tf.slice(y, [j * 3, 0], [3, 2])),
        }));
        tf.dispose(r.loss);
      });
      expect(() => acc.opt.minimizeAccumulated([], () => ({ loss: tf.scalar(0) }))).toThrow(
        /weights must be finite numbers/,
      );
      tf.dispose([x, y, full.W, full.b, acc.W, acc.b]);
      full.opt.dispose();
      acc.opt.dispose();
    },
  );
});
