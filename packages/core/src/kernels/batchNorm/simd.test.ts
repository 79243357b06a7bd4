/**
 * The BatchNorm kernels' SIMD loops (wasm backend) against their JS loops (cpu backend): the same bits, forward and
 * backward, in both modes, with and without the fused ReLU.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { batchNorm } from '../../ops/batchNorm.js';
import { bitDifferences, seededTensor, useBackend } from '../../testing/index.js';
import { bnSimdFor } from './simd.js';

interface Case {
  shape: number[];
  training: boolean;
  relu: boolean;
}

/** y and the gradients of Σ y·w (w fixed, seeded) with respect to x, γ and β, as plain arrays. */
function run({ shape, training, relu }: Case): Float32Array[] {
  const c = shape[shape.length - 1]!;
  return tf.tidy(() => {
    // a channel mean far from 0 and mixed signs, so the shifted sums and the ReLU mask both matter
    // (offsets computed here: backends' linspace may differ in the last bit)
    const offsets = tf.tensor1d(Array.from({ length: c }, (_, k) => -3 + (43 * k) / Math.max(1, c - 1)));
    const x = tf.add(seededTensor(shape, 3, 2), offsets);
    const gamma = tf.add(seededTensor([c], 4, 0.5), 1) as tf.Tensor1D;
    const beta = seededTensor([c], 5, 0.5) as tf.Tensor1D;
    const movingMean = seededTensor([c], 6, 1) as tf.Tensor1D;
    const movingVariance = tf.add(tf.abs(seededTensor([c], 7, 1)), 0.5) as tf.Tensor1D;
    const w = seededTensor(shape, 8, 1);
    const f = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      batchNorm(
        xx,
        { gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D, movingMean, movingVariance },
        { mode: 'batch', training, relu },
      ).y;
    const y = f(x, gamma, beta);
    const grads = tf.grads((xx, g, b) => tf.sum(tf.mul(f(xx, g, b), w)))([x, gamma, beta]);
    const out = [y, ...grads].map((t) => t.dataSync() as Float32Array);
    if (training) {
      const r = batchNorm(x, { gamma, beta, movingMean, movingVariance }, { mode: 'batch', training, relu });
      out.push(r.newMovingMean!.dataSync() as Float32Array, r.newMovingVariance!.dataSync() as Float32Array);
    }
    return out.map((a) => Float32Array.from(a));
  });
}

describe('BatchNorm SIMD loops on the wasm heap', () => {
  it('engage for a multiple of 4 channels on wasm, and only then', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as unknown as BackendWasm;
    expect(bnSimdFor(backend, 8)).not.toBeNull();
    expect(bnSimdFor(backend, 128)).not.toBeNull();
    expect(bnSimdFor(backend, 6)).toBeNull();
    expect(bnSimdFor(backend, 3)).toBeNull();
  });

  const cases: Case[] = [];
  for (const shape of [
    [1, 1, 1, 4],
    [3, 5, 7, 8],
    [2, 9, 11, 12],
    [2, 6, 5, 128],
    [37, 20], // rank 2
  ])
    for (const training of [true, false])
      for (const relu of [false, true]) cases.push({ shape, training, relu });

  it('give the JS loops’ bits: y, dx, dγ, dβ (and the running statistics), both modes, with and without ReLU', async () => {
    for (const k of cases) {
      await useBackend('cpu');
      const cpu = run(k);
      await useBackend('wasm');
      const wasm = run(k);
      const names = ['y', 'dx', 'dγ', 'dβ', 'running mean', 'running variance'];
      for (let i = 0; i < cpu.length; i++)
        expect(bitDifferences(wasm[i]!, cpu[i]!), `${JSON.stringify(k)}: ${names[i]}`).toBe('none');
      expect(cpu[1]!.some((v) => v !== 0)).toBe(true);
    }
  });

  it('keep tensors flat over repeated steps', async () => {
    await useBackend('wasm');
    const k: Case = { shape: [2, 6, 5, 16], training: true, relu: true };
    run(k);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run(k);
    expect(tf.memory().numTensors).toBe(before);
  });
});
