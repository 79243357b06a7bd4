import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { backwardProbe, seededTensor, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { gradientsLowMemory, variableGradsLowMemory } from './backprop.js';
import { checkpointed } from './recompute.js';

/** Exact element-wise equality (same kernels, same summation order → same bits). */
function expectSame(a: tf.Tensor, b: tf.Tensor): void {
  expect(a.shape).toEqual(b.shape);
  expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
}

describe.each(TEST_BACKENDS)('gradientsLowMemory on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  // a small net with what a training step has: a convolution, broadcasting, a tensor used by two ops and twice by
  // one, a custom gradient, an op whose output goes nowhere, a branch that depends on no variable, a variable the
  // loss never reads
  let W: tf.Variable<tf.Rank.R4>;
  let b: tf.Variable;
  let V: tf.Variable;
  let unused: tf.Variable;
  let frozen: tf.Variable;
  let x: tf.Tensor4D;
  let c: tf.Tensor;
  beforeAll(() => {
    W = tf.variable(seededTensor([3, 3, 2, 4], 1, 0.5) as tf.Tensor4D, true, `bp/${backend}/W`);
    b = tf.variable(seededTensor([4], 2, 0.1), true, `bp/${backend}/b`);
    V = tf.variable(seededTensor([4, 3], 3, 0.5), true, `bp/${backend}/V`);
    unused = tf.variable(seededTensor([5], 4), true, `bp/${backend}/unused`);
    frozen = tf.variable(seededTensor([3], 5), false, `bp/${backend}/frozen`);
    x = seededTensor([2, 5, 6, 2], 6) as tf.Tensor4D;
    c = seededTensor([2, 5, 6, 3], 7);
  });
  const double = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([t]);
    return { value: tf.mul(t, 2), gradFunc: (dy: tf.Tensor) => tf.mul(dy, 2) };
  }) as (t: tf.Tensor) => tf.Tensor;
  const loss = () => {
    const h = tf.relu(tf.add(tf.conv2d(x, W, 1, 'same'), b));
    const z = tf.reshape(tf.matMul(tf.reshape(h, [60, 4]), V), [2, 5, 6, 3]);
    const u = tf.add(tf.mul(z, z), tf.tanh(z)); // z read by two ops, twice by mul
    tf.sigmoid(u); // computed, never used
    const side = tf.sum(tf.exp(tf.mul(c, frozen))); // no trainable variable behind it
    return tf.add(tf.sum(double(tf.square(tf.sub(u, 0.2)))), tf.mul(side, 1e-3)) as tf.Scalar;
  };

  it('gives bit-identical values and gradients to tf.variableGrads, and leaks nothing', () => {
    const vars = [W, b, V, unused];
    const before = tf.memory().numTensors;
    const ref = tf.variableGrads(loss, vars);
    const ours = variableGradsLowMemory(loss, vars);
    expect(tf.memory().numTensors - before).toBe(2 * (1 + 3)); // the value and three gradients, twice
    expectSame(ours.value, ref.value);
    expect(Object.keys(ours.grads).sort()).toEqual(Object.keys(ref.grads).sort());
    expect(Object.keys(ours.grads)).not.toContain(unused.name);
    for (const k of Object.keys(ref.grads)) expectSame(ours.grads[k]!, ref.grads[k]!);
    tf.dispose([ref.value, ours.value, ref.grads, ours.grads]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes dy and non-variable xs like engine.gradients', () => {
    // (a matMul whose second operand is a reshaped view of a tensor another matMul read in its own shape gives
    // stale results on wasm — XNNPACK's packed weights are cached by buffer — so this one has its own operand)
    const U = seededTensor([2, 6], 11);
    const f = () => tf.mul(tf.tanh(tf.matMul(tf.reshape(x, [60, 2]), U)), 3);
    const dy = seededTensor([60, 6], 8);
    const engine = tf.engine() as unknown as {
      gradients: (
        f: () => tf.Tensor,
        xs: tf.Tensor[],
        dy?: tf.Tensor,
      ) => { value: tf.Tensor; grads: tf.Tensor[] };
    };
    const ref = engine.gradients(f, [x, U], dy);
    const ours = gradientsLowMemory(f, [x, U], dy);
    expectSame(ours.value, ref.value);
    expectSame(ours.grads[0]!, ref.grads[0]!);
    expectSame(ours.grads[1]!, ref.grads[1]!);
    expect(dy.isDisposed).toBe(false);
    tf.dispose([ref.value, ref.grads, ours.value, ours.grads as tf.Tensor[], dy, U]);
  });

  it('holds a few tensors at the bottom of a long chain where tfjs keeps every activation and gradient', () => {
    const n = 64 * 256; // 64 KiB per float32 tensor
    const v = tf.variable(tf.mul(seededTensor([n], 9), 0.5), true, `bp/${backend}/chain`);
    const constant = seededTensor([n], 10);
    let seen = 0;
    // records the live bytes when the backward pass reaches the bottom of the chain
    const probe = backwardProbe(() => {
      seen = tf.memory().numBytes;
    });
    const chain = () => {
      let h = probe(v);
      for (let i = 0; i < 12; i++) h = tf.tanh(tf.mul(h, 1.1)); // each tanh saves its output
      let side = constant;
      for (let i = 0; i < 8; i++) side = tf.tanh(side); // off the path: saved for nothing
      return tf.sum(tf.add(h, side)) as tf.Scalar;
    };
    const base = tf.memory().numBytes; // v and the constant
    tf.dispose(tf.variableGrads(chain, [v]) as unknown as tf.TensorContainer);
    const tfjs = (seen - base) / (n * 4);
    tf.dispose(variableGradsLowMemory(chain, [v]) as unknown as tf.TensorContainer);
    const ours = (seen - base) / (n * 4);
    // tfjs: 20 saved tanh outputs plus ~25 gradients of intermediates; here: the probe's dy and its clone
    expect(tfjs).toBeGreaterThan(30);
    expect(ours).toBeLessThanOrEqual(3);
    tf.dispose([v, constant]);
  });

  it('cleans the tape when f throws, and works afterwards', () => {
    const before = tf.memory().numTensors;
    expect(() =>
      variableGradsLowMemory(() => {
        tf.tanh(tf.mul(x, 2));
        throw new Error('boom');
      }, [V]),
    ).toThrow('boom');
    expect(tf.memory().numTensors).toBe(before);
    expect(() => variableGradsLowMemory(() => tf.sum(tf.tanh(x)) as tf.Scalar, [V])).toThrow(
      /does not depend on any of the variables/,
    );
    expect(() => variableGradsLowMemory(() => tf.tanh(V) as unknown as tf.Scalar, [V])).toThrow(
      /must return a scalar tensor, got rank 2/,
    );
    expect(tf.memory().numTensors).toBe(before);
    const r = variableGradsLowMemory(() => tf.sum(tf.square(V)) as tf.Scalar, [V]);
    expectSame(r.grads[V.name]!, tf.mul(V, 2));
    tf.dispose([r.value, r.grads]);
  });

  it('runs checkpointed segments, whose gradients equal the plain ones', () => {
    const segment = (t: tf.Tensor4D) => tf.tanh(tf.add(tf.conv2d(t, W, 1, 'same'), b)) as tf.Tensor4D;
    const f = (ck: boolean) => () =>
      tf.sum(tf.square(ck ? checkpointed(segment, x, [W, b]) : segment(x))) as tf.Scalar;
    const plain = variableGradsLowMemory(f(false), [W, b]);
    const before = tf.memory().numTensors;
    const ck = variableGradsLowMemory(f(true), [W, b]);
    expect(tf.memory().numTensors - before).toBe(3);
    expectSame(ck.value, plain.value);
    expectSame(ck.grads[W.name]!, plain.grads[W.name]!);
    expectSame(ck.grads[b.name]!, plain.grads[b.name]!);
    tf.dispose([plain.value, plain.grads, ck.value, ck.grads]);
  });

  it('is tfjs-core gradients inside another gradient computation (second derivatives)', () => {
    const s = tf.scalar(0.7);
    // d²/ds² tanh(s) through an outer tf.grad around ours
    const cube = (t: tf.Tensor) => tf.mul(t, tf.mul(t, t));
    const native = tf.grad(tf.grad(cube))(s);
    const d2 = tf.grad((t: tf.Tensor) => gradientsLowMemory(() => cube(t), [t]).grads[0]!)(s);
    expect(d2.dataSync()[0]).toBeCloseTo(6 * 0.7, 5);
    expectSame(d2, native);
    tf.dispose([s, d2, native]);
  });
});
