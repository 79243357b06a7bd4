/**
 * Example: the stochastic gate mixing two feature streams in your own model.
 *
 * `StochasticGate({ psi })` takes `[deep, shallow]`. While training (`{ training: true }`, as `model.fit` calls
 * it) each element independently takes the shallow stream with probability ψ and otherwise `(deep − ψ·shallow) /
 * (1 − ψ)`, so its expectation is `deep`; at inference it is the fixed blend `(1 − ψ)·deep + ψ·shallow` (the
 * reference code's behaviour, spec §3.3).
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { randomState, StochasticGate, seedRandom, setBackend, setRandomState } from '@wsss/core';

export interface StochasticGateOptions {
  /** ψ. Default 0.3 (WS-FCN). */
  psi?: number;
  /** Training-mode forwards averaged to estimate the expectation. Default 200. */
  draws?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface StochasticGateResult {
  /** max |predict − predict| over two inference calls (0: deterministic). */
  inferenceRepeatDiff: number;
  /** max |predict − ((1 − ψ)·deep + ψ·shallow)|. */
  inferenceBlendDiff: number;
  /** max |train − train| over two training-mode calls (> 0: random). */
  trainingRepeatDiff: number;
  /** Fraction of elements that took the shallow stream in one training-mode call (≈ ψ). */
  shallowFraction: number;
  /** mean |one training-mode output − deep|. */
  singleDrawMinusDeep: number;
  /** mean |average of `draws` training-mode outputs − deep| (shrinks like 1/√draws). */
  trainingMeanMinusDeep: number;
  /** mean |deep| for scale. */
  deepScale: number;
}

/**
 * A two-branch model (a 3×3 "deep" stream, a 1×1 "shallow" stream, the gate, a 1×1 head) run in inference and in
 * training mode; reports how the two modes differ.
 */
export async function run(opts: StochasticGateOptions = {}): Promise<StochasticGateResult> {
  const psi = opts.psi ?? 0.3;
  const draws = opts.draws ?? 200;
  const seed = opts.seed ?? 4;
  const log = opts.log ?? console.log;

  const saved = randomState();
  seedRandom(seed); // the gate's draws come from @wsss/core's random stream: seeded, the run is reproducible
  const init = (i: number) => tf.initializers.glorotUniform({ seed: seed * 10 + i });
  const input = tf.input({ shape: [8, 8, 3] });
  const conv = (filters: number, kernelSize: number, i: number, name?: string) =>
    tf.layers.conv2d({
      filters,
      kernelSize,
      padding: 'same',
      kernelInitializer: init(i),
      ...(name ? { name } : {}),
    });
  const deep = tf.layers
    .activation({ activation: 'relu', name: 'deep' })
    .apply(
      conv(4, 3, 1).apply(tf.layers.activation({ activation: 'relu' }).apply(conv(4, 3, 0).apply(input))),
    ) as tf.SymbolicTensor;
  const shallow = conv(4, 1, 2, 'shallow').apply(input) as tf.SymbolicTensor;
  const mixed = new StochasticGate({ psi, name: 'gate' }).apply([deep, shallow]) as tf.SymbolicTensor;
  const head = conv(2, 1, 3, 'head').apply(mixed) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: head });
  // A probe on the same layers, to look at the streams and the gate's output directly.
  const probe = tf.model({ inputs: input, outputs: [deep, shallow, mixed] });

  const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', seed);
  const scalar = async (t: tf.Tensor): Promise<number> => {
    const v = (await t.data())[0]!;
    t.dispose();
    return v;
  };
  const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b)));
  try {
    const inferenceRepeatDiff = await scalar(
      tf.tidy(() => maxAbsDiff(model.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)),
    );
    const trainingRepeatDiff = await scalar(
      tf.tidy(() =>
        maxAbsDiff(
          model.apply(x, { training: true }) as tf.Tensor,
          model.apply(x, { training: true }) as tf.Tensor,
        ),
      ),
    );
    const inferenceBlendDiff = await scalar(
      tf.tidy(() => {
        const [d, s, m] = probe.predict(x) as tf.Tensor[];
        return maxAbsDiff(m!, tf.add(tf.mul(d!, 1 - psi), tf.mul(s!, psi)));
      }),
    );
    const stats = tf.tidy(() => {
      const [d, s, m] = probe.apply(x, { training: true }) as tf.Tensor[];
      // Where deep and shallow differ, an element equal to shallow took the shallow stream.
      const differ = tf.greater(tf.abs(tf.sub(d!, s!)), 1e-3);
      const tookShallow = tf.logicalAnd(differ, tf.less(tf.abs(tf.sub(m!, s!)), 1e-6));
      const fraction = tf.div(tf.sum(tf.cast(tookShallow, 'float32')), tf.sum(tf.cast(differ, 'float32')));
      let sum = tf.zerosLike(d!);
      for (let i = 0; i < draws; i++) {
        const next = tf.add(sum, (probe.apply(x, { training: true }) as tf.Tensor[])[2]!);
        sum.dispose();
        sum = next;
      }
      const meanDiff = tf.mean(tf.abs(tf.sub(tf.div(sum, draws), d!)));
      return [fraction, tf.mean(tf.abs(tf.sub(m!, d!))), meanDiff, tf.mean(tf.abs(d!))];
    });
    const [shallowFraction, singleDrawMinusDeep, trainingMeanMinusDeep, deepScale] = await Promise.all(
      stats.map(scalar),
    );
    log(
      `Stochastic gate (ψ = ${psi}): inference deterministic (Δ ${inferenceRepeatDiff}), equal to the blend ` +
        `(Δ ${inferenceBlendDiff.toExponential(1)}); training random (Δ ${trainingRepeatDiff.toFixed(3)}), ` +
        `${(100 * shallowFraction!).toFixed(1)}% shallow; mean |output − deep| ${singleDrawMinusDeep!.toFixed(3)} for ` +
        `one draw, ${trainingMeanMinusDeep!.toFixed(3)} for the average of ${draws} (|deep| ≈ ${deepScale!.toFixed(3)})`,
    );
    return {
      inferenceRepeatDiff,
      inferenceBlendDiff,
      trainingRepeatDiff,
      shallowFraction: shallowFraction!,
      singleDrawMinusDeep: singleDrawMinusDeep!,
      trainingMeanMinusDeep: trainingMeanMinusDeep!,
      deepScale: deepScale!,
    };
  } finally {
    x.dispose();
    model.dispose();
    setRandomState(saved);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await setBackend('wasm');
  await run();
}
