import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dropout } from '../ops/dropout.js';
import { seedRandom } from '../ops/random.js';
import { expectClose, expectNoTensorGrowth, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { checkpointed, recomputing } from './recompute.js';

describe.each(TEST_BACKENDS)('checkpointed on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('gradients of the input and the variables equal the plain ones, dropout draws replayed', () => {
    const W = tf.variable(tf.tensor2d([0.5, -0.3, 0.8, 0.1, 0.2, -0.6], [3, 2]));
    const b = tf.variable(tf.tensor1d([0.1, -0.2]));
    const frozen = tf.variable(tf.tensor1d([2, 3]), false);
    const x = tf.tensor2d(
      Array.from({ length: 12 }, (_, i) => Math.sin(i)),
      [4, 3],
    );
    let calls = 0;
    let sawRecompute = false;
    const segment = (t: tf.Tensor2D) => {
      calls++;
      if (recomputing()) sawRecompute = true;
      const h = tf.tanh(tf.add(tf.matMul(t, W), b));
      return tf.mul(dropout(h, 0.5, { training: true }), frozen) as tf.Tensor2D;
    };
    const loss = (useCheckpoint: boolean) => (xx: tf.Tensor) => {
      const y = useCheckpoint
        ? checkpointed(segment, xx as tf.Tensor2D, [W, b, frozen])
        : segment(xx as tf.Tensor2D);
      return tf.sum(tf.square(tf.sub(y, 0.3))) as tf.Scalar;
    };
    const run = (useCheckpoint: boolean) => {
      seedRandom(5);
      const { value, grads } = tf.variableGrads(() => loss(useCheckpoint)(x), [W, b]);
      seedRandom(5);
      const dx = tf.grad(loss(useCheckpoint))(x);
      return { value, grads, dx };
    };
    const plain = run(false);
    calls = 0;
    const ck = run(true);
    // forward + recomputation, for each of the two gradient computations
    expect(calls).toBe(4);
    expect(sawRecompute).toBe(true);
    expect(recomputing()).toBe(false);
    expectClose(ck.value, plain.value, { atol: 1e-6 });
    expectClose(ck.grads[W.name]!, plain.grads[W.name]!, { atol: 1e-6 });
    expectClose(ck.grads[b.name]!, plain.grads[b.name]!, { atol: 1e-6 });
    expectClose(ck.dx, plain.dx, { atol: 1e-6 });
    // the dropout is live: another seed gives other gradients
    seedRandom(6);
    const other = tf.grad(loss(true))(x);
    expect(tf.max(tf.abs(tf.sub(other, plain.dx))).dataSync()[0]).toBeGreaterThan(1e-3);
    seedRandom(null);
    tf.dispose([
      plain.value,
      ck.value,
      plain.dx,
      ck.dx,
      other,
      ...Object.values(plain.grads),
      ...Object.values(ck.grads),
    ]);
    tf.dispose([W, b, frozen, x]);
  });

  it('no tensor left behind; without a gradient tape it is the plain function; nested segments run plain', async () => {
    const W = tf.variable(tf.tensor2d([0.5, -0.3, 0.8, 0.1], [2, 2]));
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const inner = (t: tf.Tensor2D) => tf.relu(tf.matMul(t, W)) as tf.Tensor2D;
    const outer = (t: tf.Tensor2D) => tf.tanh(checkpointed(inner, t, [W])) as tf.Tensor2D;
    const f = () => tf.sum(checkpointed(outer, x, [W])) as tf.Scalar;
    const plain = () => tf.sum(tf.tanh(tf.relu(tf.matMul(x, W)))) as tf.Scalar;
    const a = tf.variableGrads(f, [W]);
    const b = tf.variableGrads(plain, [W]);
    expectClose(a.grads[W.name]!, b.grads[W.name]!, { atol: 1e-6 });
    tf.dispose([a.value, b.value, a.grads[W.name]!, b.grads[W.name]!]);
    await expectNoTensorGrowth(() => {
      const r = tf.variableGrads(f, [W]);
      tf.dispose([r.value, ...Object.values(r.grads)]);
    });
    await expectNoTensorGrowth(() => tf.tidy(() => checkpointed(inner, x, [W])).dispose());
    expectClose(
      tf.tidy(() => checkpointed(inner, x, [W])),
      tf.tidy(() => inner(x)),
      { atol: 0 },
    );
    tf.dispose([W, x]);
  });
});
