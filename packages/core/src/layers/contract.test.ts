import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BatchNormMode } from '../ops/batchNorm.js';
import {
  expectClose,
  expectNoTensorGrowth,
  saveLoadRoundTrip,
  seededTensor,
  TEST_BACKENDS,
  useBackend,
} from '../testing/index.js';
import {
  type BatchNormWeights,
  type ConvWeights,
  type Kwargs,
  type LayerArgs,
  registerWsssLayer,
  type Shape,
  WsssLayer,
  weightKind,
} from './contract.js';

interface ConvBnOptions {
  filters: number;
  dilation: number;
  bnMode: BatchNormMode;
}

/** A contract-conforming module as a user would write one with the helpers: conv 3×3 → BN → ReLU. */
class ConvBnRelu extends WsssLayer<ConvBnOptions> {
  static className = 'WsssTestConvBnRelu';
  private conv?: ConvWeights;
  private bn?: BatchNormWeights;

  constructor(args: Partial<ConvBnOptions> & LayerArgs = {}) {
    super(args, { filters: 4, dilation: 1, bnMode: 'batch' });
  }

  override build(inputShape: Shape | Shape[]): void {
    const c = (inputShape as Shape)[3]!;
    this.conv = this.addConv('conv1', {
      kernelSize: 3,
      inChannels: c,
      outChannels: this.options.filters,
      bias: true,
    });
    this.bn = this.addBatchNorm('bn1', this.options.filters, this.options.bnMode);
    this.built = true;
  }

  override computeOutputShape(s: Shape | Shape[]): Shape {
    const [n, h, w] = s as Shape;
    return [n!, h!, w!, this.options.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const d = this.options.dilation;
      const y = this.applyConv(this.conv!, x, { padding: d, dilation: d });
      return tf.relu(this.applyBatchNorm(this.bn!, y, this.isTraining(kwargs)));
    });
  }
}
registerWsssLayer(ConvBnRelu);

describe('module contract helpers', () => {
  it('refuses class names without the Wsss prefix', () => {
    class Bad extends WsssLayer {
      static className = 'ConvThing';
    }
    expect(() => registerWsssLayer(Bad as never)).toThrow(
      /className must start with 'Wsss', got 'ConvThing'/,
    );
  });

  it('classifies weights by name for learning-rate groups and weight decay (spec §1.6)', () => {
    expect(weightKind('fca/fca2/conv1_1/kernel')).toBe('kernel');
    expect(weightKind('head/last_conv_8/bias')).toBe('bias');
    expect(weightKind('sf2/bn1h/gamma')).toBe('gamma');
    expect(weightKind('sf2/bn1h/moving_variance')).toBe('moving_variance');
    expect(weightKind('x/kernel_1')).toBe('kernel');
    expect(weightKind('x/scale')).toBe('other');
  });

  it('lists accepted options when given an unknown one', () => {
    expect(() => new ConvBnRelu({ filter: 3 } as never)).toThrow(
      /unknown option 'filter'; accepted options are filters, dilation, bnMode/,
    );
  });
});

describe.each(TEST_BACKENDS)('a WsssLayer module on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('declares weights with reference-mirroring names and the right trainability', () => {
    const layer = new ConvBnRelu({ name: `blk_${backend}`, filters: 5 });
    layer.apply(tf.zeros([1, 6, 6, 3]));
    const b = `blk_${backend}`;
    expect(layer.weights.map((w) => w.name)).toEqual([
      `${b}/conv1/kernel`,
      `${b}/conv1/bias`,
      `${b}/bn1/gamma`,
      `${b}/bn1/beta`,
      `${b}/bn1/moving_mean`,
      `${b}/bn1/moving_variance`,
    ]);
    expect(layer.trainableWeights.map((w) => w.name)).toEqual([
      `${b}/conv1/kernel`,
      `${b}/conv1/bias`,
      `${b}/bn1/gamma`,
      `${b}/bn1/beta`,
    ]);
    const frozen = new ConvBnRelu({ name: `fz_${backend}`, bnMode: 'frozen' });
    frozen.apply(tf.zeros([1, 6, 6, 3]));
    expect(frozen.trainableWeights.map((w) => w.name)).toEqual([
      `fz_${backend}/conv1/kernel`,
      `fz_${backend}/conv1/bias`,
    ]);
    // kaiming normal (spec §1.7): std √(2/fan_in), fan_in = 3·3·3
    const k = layer.weights[0]!.read();
    const std = Math.sqrt(tf.moments(k).variance.dataSync()[0]!);
    expect(std).toBeGreaterThan(0.5 * Math.sqrt(2 / 27));
    expect(std).toBeLessThan(1.5 * Math.sqrt(2 / 27));
  });

  it('computes conv → BN (batch statistics) → ReLU, updates running statistics only when training', () => {
    const layer = new ConvBnRelu({ filters: 2, dilation: 2 });
    const x = seededTensor([2, 7, 9, 3], 1);
    layer.apply(x, { training: false });
    const [kernel, bias] = [layer.weights[0]!.read() as tf.Tensor4D, layer.weights[1]!.read() as tf.Tensor1D];
    const conv = tf.add(
      tf.conv2d(
        tf.pad(x, [
          [0, 0],
          [2, 2],
          [2, 2],
          [0, 0],
        ]) as tf.Tensor4D,
        kernel,
        1,
        'valid',
        'NHWC',
        2,
      ),
      bias,
    );
    const { mean, variance } = tf.moments(conv, [0, 1, 2]);
    const expected = tf.relu(tf.div(tf.sub(conv, mean), tf.sqrt(tf.add(variance, 1e-5))));
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    expectClose(y, expected, { atol: 1e-4, rtol: 1e-3 });
    const movingMean = () => layer.weights.find((w) => w.name.endsWith('bn1/moving_mean'))!.read();
    expectClose(movingMean(), tf.mul(mean, 0.1), { atol: 1e-5 });
    const statsAfterTrain = movingMean().dataSync().slice();
    layer.apply(x, { training: false });
    expectClose(movingMean(), statsAfterTrain, { atol: 0, rtol: 0 });
  });

  it('round-trips through a tf.model save/load next to standard layers, with identical outputs', async () => {
    const inp = tfl.input({ shape: [9, 7, 3] });
    const h = new ConvBnRelu({ name: `cbr_${backend}`, filters: 4, dilation: 2 }).apply(
      inp,
    ) as tfl.SymbolicTensor;
    const out = tfl.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(h) as tfl.SymbolicTensor;
    expect(h.shape).toEqual([null, 9, 7, 4]);
    const model = tfl.model({ inputs: inp, outputs: out });
    const x = seededTensor([1, 9, 7, 3], 4);
    const y = model.predict(x) as tf.Tensor;
    const { loaded } = await saveLoadRoundTrip(model);
    expect((loaded.getLayer(`cbr_${backend}`) as ConvBnRelu).options).toEqual({
      filters: 4,
      dilation: 2,
      bnMode: 'batch',
    });
    expectClose(loaded.predict(x) as tf.Tensor, y, { atol: 0, rtol: 0 });
  });

  it('trains with an optimizer without growing the tensor count', async () => {
    const layer = new ConvBnRelu({ filters: 3, dilation: 2 });
    const x = seededTensor([2, 7, 7, 3], 2);
    const target = seededTensor([2, 7, 7, 3], 3);
    layer.apply(x);
    const opt = tf.train.sgd(0.05);
    const loss = () =>
      tf.mean(tf.square(tf.sub(layer.apply(x, { training: true }) as tf.Tensor, target))) as tf.Scalar;
    const first = tf.tidy(() => loss().dataSync()[0]!);
    await expectNoTensorGrowth(() => {
      tf.dispose(opt.minimize(loss, true) ?? undefined);
    }, 5);
    const last = tf.tidy(() => loss().dataSync()[0]!);
    expect(last).toBeLessThan(first);
  });
});
