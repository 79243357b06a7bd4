/**
 * Example: FCA as the context head of your own `tf.model`.
 *
 * A small MobileNet-like encoder (a stride-2 conv, then stride-2 separable convs) → `Fca` → 1×1 conv classifier
 * → global average pooling → softmax, trained with `model.fit` on a fixed random batch: the loss goes down.
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { randomState, seedRandom, setBackend, setRandomState } from '@wsss/core';
import { Fca } from '@wsss/fca';

export interface FcaContextHeadOptions {
  /** Input side length (multiple of 8). Default 32. */
  size?: number;
  /** Images in the (fixed) training batch. Default 6. */
  batch?: number;
  /** Classes. Default 3. */
  numClasses?: number;
  /** `model.fit` epochs over the batch, one step each. Default 15. */
  steps?: number;
  /** Seed of the data and of the encoder's initialisers. Default 1. */
  seed?: number;
  /** Where progress lines go. Default `console.log`. */
  log?: (line: string) => void;
}

export interface FcaContextHeadResult {
  /** Training loss after every step. */
  losses: number[];
  /** Trainable parameters of the whole model. */
  parameters: number;
}

/**
 * Builds encoder → FCA → classifier as a plain `tf.LayersModel`, fits it on random images with fixed labels and
 * returns the loss curve. Disposes everything it creates.
 */
export async function run(opts: FcaContextHeadOptions = {}): Promise<FcaContextHeadResult> {
  const size = opts.size ?? 32;
  const batch = opts.batch ?? 6;
  const numClasses = opts.numClasses ?? 3;
  const steps = opts.steps ?? 15;
  const seed = opts.seed ?? 1;
  const log = opts.log ?? console.log;
  // FCA draws its initial weights from @wsss/core's random stream: seeded, the run is reproducible.
  const saved = randomState();
  seedRandom(seed);
  const init = (i: number) => tf.initializers.glorotUniform({ seed: seed * 100 + i });

  const image = tf.input({ shape: [size, size, 3] });
  let x = tf.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: init(0),
    })
    .apply(image) as tf.SymbolicTensor;
  for (const [i, filters] of [16, 16].entries()) {
    x = tf.layers
      .separableConv2d({
        filters,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        activation: 'relu',
        depthwiseInitializer: init(2 * i + 1),
        pointwiseInitializer: init(2 * i + 2),
      })
      .apply(x) as tf.SymbolicTensor;
  }
  // The context head: two small strip-convolution branches fit a (size/8)² map; the paper's four (dilations up
  // to 36) are for 41×41 maps. No dropout so that the loss curve of this tiny fit is smooth.
  const context = new Fca({
    channels: 16,
    branches: [
      { kernel: 1, dilation: 1, padding: 0 },
      { kernel: 3, dilation: 2, padding: 2 },
    ],
    dropout: 0,
  }).apply(x) as tf.SymbolicTensor;
  const scoreMap = tf.layers
    .conv2d({ filters: numClasses, kernelSize: 1, kernelInitializer: init(9) })
    .apply(context) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(scoreMap) as tf.SymbolicTensor;
  const probs = tf.layers.activation({ activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: image, outputs: probs });

  const optimizer = tf.train.adam(0.01);
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  const xs = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', seed);
  const ys = tf.tidy(() =>
    tf.oneHot(
      tf.tensor1d(
        Array.from({ length: batch }, (_, i) => i % numClasses),
        'int32',
      ),
      numClasses,
    ),
  );
  try {
    const history = await model.fit(xs, ys, { epochs: steps, batchSize: batch, shuffle: false, verbose: 0 });
    const losses = (history.history['loss'] as number[]).map(Number);
    const parameters = model.trainableWeights.reduce(
      (n, w) => n + tf.util.sizeFromShape(w.shape as number[]),
      0,
    );
    log(
      `FCA context head: ${parameters} parameters; loss ${losses[0]!.toFixed(4)} → ${losses.at(-1)!.toFixed(4)}`,
    );
    return { losses, parameters };
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
    optimizer.dispose();
    setRandomState(saved);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await setBackend('wasm');
  await run();
}
