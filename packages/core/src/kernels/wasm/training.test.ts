/**
 * Finds the kernels a training step needs on wasm: one SGD step of a small conv net that touches the ops
 * a segmentation model is built from, on cpu and on wasm; the step must run on wasm ("kernel not
 * registered" otherwise) and its loss and gradients must equal cpu's.
 */

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { conv2d } from '../../ops/conv2d.js';
import { expectClose, expectNoTensorGrowth, seededTensor, useBackend } from '../../testing/index.js';

interface Params {
  [name: string]: tf.Variable;
}

function makeParams(): Params {
  const v = (shape: number[], seed: number, scale = 0.3) => tf.variable(seededTensor(shape, seed, scale));
  return {
    w1: v([3, 3, 3, 6], 1),
    b1: v([6], 2, 0.1),
    w2: v([3, 3, 6, 6], 3),
    w3: v([3, 3, 6, 4], 4),
    dw: v([3, 3, 10, 1], 5),
    gamma: v([10], 6, 0.2),
    beta: v([10], 7, 0.1),
    emb: v([5, 3], 8),
    w4: v([1, 1, 10, 3], 9),
  };
}

/** Loss of a small conv net on a 2×9×11×3 image; every op named in DESIGN §3's training path appears. */
function loss(p: Params, x: tf.Tensor4D, mask: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    // tfjs' own strided conv (Conv2DBackpropFilter/Input kernels) with 'same' padding on odd sizes.
    let h = tf.relu(tf.add(tf.conv2d(x, p.w1 as unknown as tf.Tensor4D, 2, 'same'), p.b1!)) as tf.Tensor4D; // 5×6
    // wsss conv2d, dilated.
    const d = tf.sigmoid(conv2d(h, p.w2 as unknown as tf.Tensor4D, { dilation: 2, padding: 2 }));
    const s = conv2d(h, p.w3 as unknown as tf.Tensor4D, { padding: 1, stride: 1 });
    h = tf.concat([tf.mul(d, h), s], 3) as tf.Tensor4D; // 10 channels
    h = tf.depthwiseConv2d(h, p.dw as unknown as tf.Tensor4D, 1, 'same');
    // Batch-statistics BatchNorm (spec §1.5) with a trainable affine.
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    h = tf.batchNorm(h, mean, variance, p.beta!, p.gamma!, 1e-5) as tf.Tensor4D;
    h = tf.mul(h, mask); // dropout-style masking
    const pooled = tf.add(tf.maxPool(h, 2, 1, 'same'), tf.avgPool(h, 3, 1, 'same')) as tf.Tensor4D;
    const padded = tf.pad(pooled, [
      [0, 0],
      [1, 0],
      [0, 1],
      [0, 0],
    ]); // 6×7
    const cropped = tf.slice(padded, [0, 1, 1, 0], [-1, 5, 5, -1]) as tf.Tensor4D;
    // Square input: tfjs-backend-cpu's ResizeBilinearGrad swaps height and width of its output (4.22), and
    // its ResizeNearestNeighborGrad disagrees with finite differences, so neither is compared here.
    const up = tf.image.resizeBilinear(cropped, [9, 11], true);
    const logits = conv2d(up, p.w4 as unknown as tf.Tensor4D);
    const prob = tf.softmax(logits);
    const target = tf.tile(tf.reshape(labels, [2, 1, 1, 3]), [1, 9, 11, 1]);
    const pix = tf.neg(tf.mean(tf.sum(tf.mul(tf.log(tf.add(prob, 1e-6)), target), 3)));
    // Global pooling heads, gather (UnsortedSegmentSum in its gradient), where, pow, exp.
    const gmax = tf.max(logits, [1, 2]);
    const gmean = tf.mean(logits, [1, 2]);
    const e = tf.gather(p.emb!, tf.tensor1d([4, 1, 1, 0, 3], 'int32'));
    const picked = tf.sum(tf.mul(tf.slice(e, [0, 0], [2, 3]), tf.add(gmax, gmean)));
    // (The condition is a constant: tfjs has no gradient for comparisons.)
    const cond = tf.tensor2d([true, false, true, false, false, true], [2, 3], 'bool');
    const pos = tf.where(cond, tf.pow(tf.abs(gmean), 1.5), tf.exp(gmean));
    return tf.addN([pix, tf.mul(0.1, picked), tf.mean(pos)]) as tf.Scalar;
  });
}

function inputs() {
  const x = seededTensor([2, 9, 11, 3], 20) as tf.Tensor4D;
  const mask = tf.cast(tf.greater(seededTensor([2, 5, 6, 10], 21), -0.6), 'float32') as tf.Tensor4D;
  const labels = tf.tensor2d([1, 0, 0, 0, 0.5, 0.5], [2, 3]);
  return { x, mask, labels };
}

/** Loss and gradients of every parameter, then one SGD step, returned as plain arrays. */
function step(): { loss: number; grads: Record<string, Float32Array>; after: number } {
  const p = makeParams();
  const { x, mask, labels } = inputs();
  const { value, grads } = tf.variableGrads(() => loss(p, x, mask, labels), Object.values(p));
  const names = Object.keys(p);
  const out: Record<string, Float32Array> = {};
  for (const name of names) out[name] = grads[p[name]!.name]!.dataSync() as Float32Array;
  tf.train.sgd(0.01).applyGradients(grads);
  const after = loss(p, x, mask, labels);
  const result = { loss: value.dataSync()[0]!, grads: out, after: after.dataSync()[0]! };
  tf.dispose([value, after, x, mask, labels, ...Object.values(grads), ...Object.values(p)]);
  return result;
}

describe('a training step of a conv net on wasm', () => {
  it('runs on wasm and matches cpu: loss, every gradient, and the loss falls after one SGD step', async () => {
    await useBackend('cpu');
    const cpu = step();
    await useBackend('wasm');
    const wasm = step();
    expect(wasm.loss).toBeCloseTo(cpu.loss, 4);
    for (const name of Object.keys(cpu.grads)) {
      expectClose(wasm.grads[name]!, cpu.grads[name]!, { atol: 1e-4, rtol: 1e-3, what: `grad ${name}` });
      expect(Math.max(...cpu.grads[name]!.map(Math.abs))).toBeGreaterThan(0);
    }
    expect(wasm.after).toBeLessThan(wasm.loss);
  });

  it('trains a tf.layers model (conv2d, stride 2, dilation 2, batchNormalization, pooling, dense) with model.fit', async () => {
    const run = async () => {
      const model = tfl.sequential({
        layers: [
          tfl.layers.conv2d({
            inputShape: [9, 11, 3],
            filters: 4,
            kernelSize: 3,
            strides: 2,
            padding: 'same',
            kernelInitializer: 'glorotUniform',
          }),
          tfl.layers.batchNormalization(),
          tfl.layers.activation({ activation: 'relu' }),
          tfl.layers.conv2d({ filters: 4, kernelSize: 3, dilationRate: 1, padding: 'valid' }),
          tfl.layers.maxPooling2d({ poolSize: 2, padding: 'same' }),
          tfl.layers.globalAveragePooling2d({}),
          tfl.layers.dense({ units: 3, activation: 'softmax' }),
        ],
      });
      model.compile({ optimizer: tf.train.sgd(0.05), loss: 'categoricalCrossentropy' });
      const x = seededTensor([4, 9, 11, 3], 31);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
      const h = await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
      tf.dispose([x, y]);
      model.dispose();
      return h.history.loss as number[];
    };
    await useBackend('wasm');
    const losses = await run();
    expect(losses.every(Number.isFinite)).toBe(true);
  });

  it('does not grow the tensor count over repeated steps on wasm', async () => {
    await useBackend('wasm');
    const p = makeParams();
    const { x, mask, labels } = inputs();
    const opt = tf.train.sgd(0.01);
    await expectNoTensorGrowth(() => {
      const { value, grads } = tf.variableGrads(() => loss(p, x, mask, labels), Object.values(p));
      opt.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
    });
    tf.dispose([x, mask, labels, ...Object.values(p)]);
    opt.dispose();
  });
});
