/**
 * A layer with several outputs inside a user's functional model, trained with `model.fit` and run with `predict` /
 * `evaluate`: tfjs-layers' executor calls such a layer once per output; `WsssLayer.apply` turns the repeats into
 * the first call's outputs, so every path runs it once per batch and trains exactly as one call (`applyModel`).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { dropout } from '../ops/dropout.js';
import { expectFitRunsOnce, seededTensor, seedWeights, useBackend } from '../testing/index.js';
import { type Kwargs, registerWsssLayer, type Shape, WsssLayer } from './contract.js';

/** conv 3×3 → BatchNorm on batch statistics → (y, dropout(relu(y))): two outputs, statistics, a random draw. */
class TwoWay extends WsssLayer<{ channels: number }> {
  static className = 'WsssTestTwoWay';
  constructor(args: { channels?: number; name?: string } = {}) {
    super(args, { channels: 4 });
  }
  override build(inputShape: Shape | Shape[]): void {
    const s = inputShape as Shape;
    this.addConv('conv', { kernelSize: 3, inChannels: s[3]!, outChannels: this.options.channels });
    this.addBatchNorm('bn', this.options.channels, 'batch');
    this.built = true;
  }
  override computeOutputShape(inputShape: Shape | Shape[]): Shape[] {
    const s = inputShape as Shape;
    return [
      [s[0]!, s[1]!, s[2]!, this.options.channels],
      [s[0]!, s[1]!, s[2]!, this.options.channels],
    ];
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor[] {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const training = this.isTraining(kwargs);
    const ops = this.ops(training);
    const y = ops.bn('bn', ops.conv('conv', x, { padding: 1 }));
    return [y, dropout(tf.relu(y), 0.5, { training })];
  }
}
registerWsssLayer(TwoWay);

function build(): tfl.LayersModel {
  const input = tfl.input({ shape: [5, 7, 3] });
  const two = new TwoWay();
  const [a, b] = two.apply(input) as tfl.SymbolicTensor[];
  const head = tfl.layers.conv2d({ filters: 2, kernelSize: 1, kernelInitializer: 'ones' });
  const sum = head.apply(tfl.layers.add().apply([a!, b!]) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: [sum, b!] });
  seedWeights(two, 3);
  return model;
}

describe('a multi-output WsssLayer under model.fit / predict / evaluate', () => {
  beforeAll(() => useBackend('cpu'));

  it('runs once per batch on every path and trains as one call: weights, BatchNorm statistics and loss equal applyModel’s', async () => {
    const x = seededTensor([3, 5, 7, 3], 1);
    const ys = [seededTensor([3, 5, 7, 2], 2), seededTensor([3, 5, 7, 4], 3)];
    const r = await expectFitRunsOnce(build, x, ys, { tol: 1e-6 });
    expect(Object.values(r.calls)).toEqual([{ fit: 1, predict: 1, evaluate: 1, applyModel: 1 }]);
    tf.dispose([x, ...ys]);
  });

  it('a second call of its own (new kwargs, or after a weight changed) runs again; repeats are capped at outputs − 1', () => {
    const layer = new TwoWay();
    const x = seededTensor([1, 4, 4, 3], 4);
    tf.tidy(() => {
      const kw = { training: true };
      const first = layer.apply(x, kw) as tf.Tensor[];
      const repeat = layer.apply(x, kw) as tf.Tensor[];
      expect(repeat[0]).toBe(first[0]); // the executor's repeat: the same tensors
      const third = layer.apply(x, kw) as tf.Tensor[];
      expect(third[0]).not.toBe(first[0]); // two outputs: one repeat at most
      const fresh = layer.apply(x, { training: true }) as tf.Tensor[];
      expect(fresh[0]).not.toBe(third[0]);
      const again = layer.apply(x) as tf.Tensor[];
      layer.weights[0]!.write(tf.onesLike(layer.weights[0]!.read()));
      expect((layer.apply(x) as tf.Tensor[])[0]).not.toBe(again[0]);
    });
    x.dispose();
  });
});
