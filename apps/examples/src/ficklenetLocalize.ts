/**
 * Example: FickleNet's selection layer turning a plain classifier into stochastic localization maps.
 *
 * A small conv feature extractor with `FickleSelection` as its classifier is trained (a few steps, multi-label,
 * two classes: "bright square", "bright bar") on random images; `localize` then aggregates Grad-CAM maps over random
 * hidden-unit selections for an image with a square and a bar at known places: the square's map peaks on the
 * square.
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { randomState, seedRandom, setBackend, setRandomState } from '@wsss/core';
import { FickleSelection, localize } from '@wsss/ficklenet';

export interface FicklenetLocalizeOptions {
  /** Image side (multiple of 4). Default 32. */
  size?: number;
  /** Side of the bright square. Default 8. */
  square?: number;
  /** Training steps (batch 8, Adam). Default 60. */
  steps?: number;
  /** Random selections aggregated by `localize`. Default 50. */
  runs?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface FicklenetLocalizeResult {
  /** Training loss of the first and the last step. */
  firstLoss: number;
  lastLoss: number;
  /** The map's peak (row, column) at feature resolution, and whether it lies on the square. */
  peak: [number, number];
  peakOnSquare: boolean;
  /** Mean map value on the square's cells and elsewhere. */
  meanOnSquare: number;
  meanElsewhere: number;
}

/** A deterministic pseudo-random generator for the squares' positions (mulberry32). */
function positions(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where the objects of one image are (top-left corners); null: absent. */
interface Scene {
  square: [number, number] | null;
  bar: [number, number] | null;
}

/** Dim noise images with a bright square (side `square`) and a bright bar (2 × 2·`square`) where present. */
function images(size: number, square: number, scenes: Scene[], seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const mask = new Float32Array(scenes.length * size * size);
    const paint = (n: number, p: [number, number], rows: number, cols: number) => {
      for (let i = p[0]; i < Math.min(size, p[0] + rows); i++)
        for (let j = p[1]; j < Math.min(size, p[1] + cols); j++) mask[(n * size + i) * size + j] = 1;
    };
    scenes.forEach((s, n) => {
      if (s.square) paint(n, s.square, square, square);
      if (s.bar) paint(n, s.bar, 2, 2 * square);
    });
    const noise = tf.randomUniform([scenes.length, size, size, 3], 0, 0.3, 'float32', seed);
    return tf.add(noise, tf.mul(tf.tensor4d(mask, [scenes.length, size, size, 1]), 0.7)) as tf.Tensor4D;
  });
}

/**
 * Trains the classifier briefly, then localizes the square with FickleNet's stochastic Grad-CAM aggregation and
 * reports where the map peaks.
 */
export async function run(opts: FicklenetLocalizeOptions = {}): Promise<FicklenetLocalizeResult> {
  const size = opts.size ?? 32;
  const square = opts.square ?? 8;
  const steps = opts.steps ?? 60;
  const runs = opts.runs ?? 50;
  const seed = opts.seed ?? 5;
  const log = opts.log ?? console.log;
  const random = positions(seed);
  const place = (rows: number, cols: number): [number, number] => [
    Math.floor(random() * (size - rows + 1)),
    Math.floor(random() * (size - cols + 1)),
  ];

  // wsss layers draw their initial weights and random selections from this stream: a seeded run is reproducible.
  const saved = randomState();
  seedRandom(seed);
  const input = tf.input({ shape: [size, size, 3] });
  let x = input;
  for (const [i, filters] of [8, 16].entries()) {
    x = tf.layers
      .conv2d({
        filters,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed: seed * 10 + i }),
      })
      .apply(x) as tf.SymbolicTensor;
  }
  // Two classes (0 square, 1 bar); a 3×3 selection window (s), half the non-centre units dropped per selection.
  const selection = new FickleSelection({ numClasses: 2, kernelSize: 3, rate: 0.5 });
  const model = tf.model({ inputs: input, outputs: selection.apply(x) as tf.SymbolicTensor });

  const optimizer = tf.train.adam(0.01);
  const losses: number[] = [];
  let result: ReturnType<typeof localize> | null = null;
  let test: tf.Tensor4D | null = null;
  try {
    for (let step = 0; step < steps; step++) {
      // every combination of present/absent twice per batch
      const scenes: Scene[] = Array.from({ length: 8 }, (_, n) => ({
        square: n % 2 === 0 ? place(square, square) : null,
        bar: n % 4 < 2 ? place(2, 2 * square) : null,
      }));
      const xs = images(size, square, scenes, seed * 1000 + step);
      const ys = tf.tensor2d(
        scenes.map((s) => [s.square ? 1 : 0, s.bar ? 1 : 0]),
        [scenes.length, 2],
      );
      const loss = optimizer.minimize(
        // a fresh random selection at every step (training: true), as FickleNet trains
        () => tf.losses.sigmoidCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor),
        true,
      );
      losses.push((await loss!.data())[0]!);
      tf.dispose([xs, ys, loss!]);
    }

    const at: [number, number] = [size / 2, size / 4]; // the square's top-left corner in the test image
    test = images(size, square, [{ square: at, bar: [4, 4] }], seed + 7);
    result = localize(model, test, [[0, 1]], { runs, seed });
    const [, h, w, K] = result.maps.shape;
    const values = await result.maps.data();
    const stride = size / h;
    let best = 0;
    let on = 0;
    let onCount = 0;
    let off = 0;
    // channel 0 (the square's map) of the (1,h,w,K) maps
    for (let k = 0; k < h * w; k++) {
      if (values[k * K]! > values[best * K]!) best = k;
      const i = Math.floor(k / w);
      const j = k % w;
      const inside =
        i * stride >= at[0] &&
        i * stride < at[0] + square &&
        j * stride >= at[1] &&
        j * stride < at[1] + square;
      if (inside) {
        on += values[k * K]!;
        onCount++;
      } else off += values[k * K]!;
    }
    const peak: [number, number] = [Math.floor(best / w), best % w];
    const peakOnSquare =
      peak[0] * stride >= at[0] &&
      peak[0] * stride < at[0] + square &&
      peak[1] * stride >= at[1] &&
      peak[1] * stride < at[1] + square;
    const r: FicklenetLocalizeResult = {
      firstLoss: losses[0]!,
      lastLoss: losses.at(-1)!,
      peak,
      peakOnSquare,
      meanOnSquare: on / onCount,
      meanElsewhere: off / (h * w - onCount),
    };
    log(
      `FickleNet: loss ${r.firstLoss.toFixed(3)} → ${r.lastLoss.toFixed(3)}; square's map (${h}×${w}) peaks at ` +
        `[${peak}] (square covers rows ${at[0] / stride}–${(at[0] + square) / stride - 1}, columns ` +
        `${at[1] / stride}–${(at[1] + square) / stride - 1}); mean ${r.meanOnSquare.toFixed(2)} on the square, ` +
        `${r.meanElsewhere.toFixed(2)} elsewhere`,
    );
    return r;
  } finally {
    if (result) tf.dispose([result.maps, result.seeds]);
    test?.dispose();
    model.dispose();
    optimizer.dispose();
    setRandomState(saved);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await setBackend('wasm');
  await run();
}
