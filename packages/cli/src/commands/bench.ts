/**
 * `wsss bench`: times the network on the chosen backend — one training step (forward, losses with PAMR,
 * backward, update) and inference — on random data at the preset's model size. The full kernel benchmark suite
 * against PyTorch is `npm run bench` in a clone of the repository.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type MemoryUsage, measurePeakTensorBytes, memoryUsage } from '@wsss/core';
import type { WsssConfig } from '../config/schema.js';
import { predictWsFcn } from '../infer/predict.js';
import { lossConfigOf } from '../run/evaluate.js';
import type { Output } from '../run/output.js';
import { WsFcnTrainer } from '../train/step.js';
import { buildNet, startBackend } from './common.js';

export interface BenchOptions {
  config: WsssConfig;
  out: Output;
  /** Image side (default the config's crop). */
  size?: number;
  /** Batch (default the config's batch size). */
  batch?: number;
  /** Timed repetitions (default 3) after one warm-up. */
  reps?: number;
  numClasses?: number;
  /** Time the training step only (no inference rows). */
  trainOnly?: boolean;
}

export interface BenchRow {
  what: string;
  ms: number;
  imagesPerSecond: number;
}

export async function runBench(o: BenchOptions): Promise<{
  backend: string;
  size: number;
  batch: number;
  accumulate: number;
  recompute: number[];
  recomputeModules: boolean;
  rows: BenchRow[];
  /** Memory after the timed training steps (the wasm heap: the high-water mark of the process). */
  memory: MemoryUsage;
  /**
   * The most bytes of tensor buffers alive at any point of the timed training steps, each buffer counted once
   * (`measurePeakTensorBytes`); null on webgpu.
   */
  stepPeakTensorBytes: number | null;
}> {
  const backend = await startBackend(o.config.backend, o.config.threads, o.out);
  const size = o.size ?? o.config.data.crop;
  const batch = o.batch ?? o.config.train.batchSize;
  const reps = o.reps ?? 3;
  const K =
    o.numClasses ??
    (o.config.data.dataset === 'synthetic'
      ? o.config.data.synthetic.numClasses
      : o.config.data.dataset === 'coco'
        ? 80
        : 20);
  const net = buildNet(o.config, K);
  const trainer = new WsFcnTrainer(net, {
    optimizer:
      o.config.optim.kind === 'sgd'
        ? { kind: 'sgd', lr: o.config.optim.lr, momentum: o.config.optim.momentum }
        : { kind: 'adam', lr: o.config.optim.lr },
    weightDecay: o.config.optim.weightDecay,
    lrMults: o.config.optim.lrMults,
    loss: { ...lossConfigOf(o.config), pretrainEpochs: 0 },
    accumulate: Math.min(o.config.train.accumulate, batch),
    recompute: o.config.train.recompute,
    recomputeModules: o.config.train.recomputeModules,
  });
  const raw = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const images = tf.tidy(() => tf.div(tf.sub(raw, 0.45), 0.225)) as tf.Tensor4D;
  const labels = tf.tidy(() =>
    tf.cast(tf.greater(tf.randomUniform([batch, K], 0, 1, 'float32', 2), 0.6), 'float32'),
  ) as tf.Tensor2D;
  const rows: BenchRow[] = [];
  let stepPeakTensorBytes: number | null = null;
  const time = async (what: string, fn: () => Promise<void>, imgs: number, peak = false) => {
    await fn(); // warm-up: kernels compile, buffers allocate (and the optimiser its state)
    const bar = o.out.progress(what, reps, 'rep');
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) {
      if (peak) {
        const { peakBytes } = await measurePeakTensorBytes(fn);
        if (peakBytes !== null) stepPeakTensorBytes = Math.max(stepPeakTensorBytes ?? 0, peakBytes);
      } else await fn();
      bar.tick(1);
    }
    const ms = (performance.now() - t0) / reps;
    bar.done();
    rows.push({ what, ms, imagesPerSecond: (imgs * 1000) / ms });
  };
  await time(
    `train step (batch ${batch}${trainer.accumulate > 1 ? ` in ${trainer.accumulate} micro-batches` : ''}${recomputed(o.config)}, ${size}×${size}, mask loss + PAMR)`,
    async () => {
      await trainer.step({ images, raw, labels }, 0);
    },
    batch,
    true,
  );
  const memory = memoryUsage();
  if (!o.trainOnly) {
    await time(
      `inference (batch ${batch}, single scale)`,
      async () => {
        const p = predictWsFcn(net, images, { scales: [1] });
        await p.classes.data();
        tf.dispose([p.scores, p.labels, p.masks, p.classes]);
      },
      batch,
    );
    const ev = o.config.eval;
    await time(
      `inference (1 image, scales [${ev.scales.join(', ')}]${ev.flip ? ' + flip' : ''})`,
      async () => {
        const one = tf.slice(images, [0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
        const p = predictWsFcn(net, one, { scales: ev.scales, flip: ev.flip });
        await p.classes.data();
        tf.dispose([one, p.scores, p.labels, p.masks, p.classes]);
      },
      1,
    );
  }
  tf.dispose([raw, images, labels]);
  trainer.dispose();
  net.model.dispose();
  return {
    backend,
    size,
    batch,
    accumulate: trainer.accumulate,
    recompute: [...o.config.train.recompute],
    recomputeModules: o.config.train.recomputeModules,
    rows,
    memory,
    stepPeakTensorBytes,
  };
}

/** ", recompute b5/b6/b7 + FCA/SF2" for the step's label ('' when nothing is recomputed). */
function recomputed(c: WsssConfig): string {
  const parts = [
    ...(c.train.recompute.length ? [`b${c.train.recompute.join('/b')}`] : []),
    ...(c.train.recomputeModules ? ['FCA/SF2'] : []),
  ];
  return parts.length ? `, recompute ${parts.join(' + ')}` : '';
}
