/**
 * The epoch loop of `wsss train` (spec §3.10, §4.8): seeded shuffling/augmentation/dropout, one `WsFcnTrainer`
 * step per batch, validation every `valEvery` epochs with the reference's checkpoint rule (score = 1 − mean val
 * loss, from the mask-loss phase on, kept when ≥ the best), the `last` checkpoint after every epoch and every
 * `train.checkpointEvery` inside epochs (written in the background), exact resume, NaN/Inf guard and clean
 * interruption.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { randomState, seedRandom, setRandomState } from '@wsss/core';
import { DataLoader, type RandomAccessDataset } from '@wsss/datasets';
import { DivergedError } from '../commands/errors.js';
import { parseInterval, type WsssConfig } from '../config/schema.js';
import type { WsFcn } from '../model/wsfcn.js';
import {
  type Checkpoint,
  type CheckpointState,
  CheckpointWriter,
  checkpointOptimizerState,
} from '../run/checkpoint.js';
import { firstRecords, lossConfigOf, validationPass } from '../run/evaluate.js';
import type { Output } from '../run/output.js';
import { MetricsLog } from '../run/runDir.js';
import { type EpochStats, runEpochs } from './epochs.js';
import { WsFcnTrainer } from './step.js';

export interface TrainLoopOptions {
  net: WsFcn;
  config: WsssConfig;
  train: RandomAccessDataset;
  val: RandomAccessDataset | null;
  runDir: string;
  out: Output;
  /** Continue from this checkpoint (weights must already be in `net`). */
  resume?: Checkpoint;
  /** Aborting it (Ctrl-C) stops after the current step with a checkpoint. */
  signal?: AbortSignal;
  /** Stop (with a checkpoint, returning normally) after this many steps in this call. */
  stopAfterSteps?: number;
  /** Stop (with a checkpoint, returning normally) after the first step ending at or after this time (`Date.now()`). */
  deadline?: number;
  /** The command that continues the run, for the Ctrl-C message (default `wsss train --resume <runDir>`). */
  resumeCommand?: string;
  /** Called after each checkpoint file is in place (the run folder's bookkeeping). */
  onCheckpoint?: (file: string) => void | Promise<void>;
}

export interface TrainLoopResult {
  /** 'done', or 'stopped' when `stopAfterSteps` or `deadline` ended it. */
  status: 'done' | 'stopped';
  steps: number;
  epochs: number;
  best: { score: number; epoch: number } | null;
  lastVal: Awaited<ReturnType<typeof validationPass>> | null;
}

const pct1 = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '–');

export const LAST = 'last.safetensors';
export const BEST = 'best.safetensors';

/** Runs (or continues) training; checkpoints go to `<runDir>/checkpoints/{last,best}.safetensors`. */
export async function trainLoop(o: TrainLoopOptions): Promise<TrainLoopResult> {
  const { net, config, out } = o;
  const c = config.train;
  const ckptDir = join(o.runDir, 'checkpoints');
  await fsp.mkdir(ckptDir, { recursive: true });
  const log = new MetricsLog(join(o.runDir, 'metrics.jsonl'));
  const trainer = new WsFcnTrainer(net, {
    optimizer:
      config.optim.kind === 'sgd'
        ? { kind: 'sgd', lr: config.optim.lr, momentum: config.optim.momentum }
        : { kind: 'adam', lr: config.optim.lr },
    weightDecay: config.optim.weightDecay,
    lrMults: config.optim.lrMults,
    loss: lossConfigOf(config),
    accumulate: c.accumulate,
    recompute: c.recompute,
    recomputeModules: c.recomputeModules,
  });
  let step = 0;
  let best: CheckpointState['best'] = null;
  let position = { epoch: 0, index: 0 };
  let startStats: EpochStats | undefined;
  seedRandom(c.seed);
  if (o.resume) {
    const s = o.resume.state;
    trainer.optimizer.setState(checkpointOptimizerState(net, o.resume));
    setRandomState(s.random);
    step = s.step;
    best = s.best;
    position = s.position;
    startStats = s.epochStats;
    await log.truncateAfter(step);
    out.info(`resuming at epoch ${position.epoch}, sample ${position.index}, step ${step}`);
  }
  const state = (reason: string, epochStats?: EpochStats): CheckpointState => ({
    epoch: position.epoch,
    step,
    position,
    random: randomState(),
    optimizerStep: trainer.optimizer.iterations,
    best,
    reason,
    ...(epochStats ? { epochStats } : {}),
    config,
    classNames: [...o.train.classNames],
    savedAt: new Date().toISOString(),
  });
  const writer = new CheckpointWriter(o.onCheckpoint);
  const save = (name: string, reason: string, epochStats?: EpochStats) =>
    writer.save(join(ckptDir, name), net, () => trainer.optimizer.getState(), state(reason, epochStats), {
      // Ctrl-C and stops end the process: their checkpoint must be on disk before it goes
      wait: reason === 'interrupt' || reason === 'stop',
    });

  const dropLast = o.train.length >= c.batchSize;
  const loader = new DataLoader({
    dataset: o.train,
    batchSize: c.batchSize,
    seed: c.seed,
    dropLast,
    transform: {
      size: config.data.crop,
      scale: config.data.scale as [number, number],
      jitter: config.data.jitter ? undefined : null,
    },
    start: position,
    workers: config.data.workers,
  });
  let lastVal: TrainLoopResult['lastVal'] = null;
  let status: TrainLoopResult['status'] = 'done';
  try {
    if (position.epoch >= c.epochs) {
      out.info(`nothing to do: ${c.epochs} epochs are complete`);
    } else {
      const r = await runEpochs({
        out,
        log,
        loader,
        start: position,
        epochs: c.epochs,
        batchSize: c.batchSize,
        label: (e) => `epoch ${e + 1}/${c.epochs}`,
        step: async (batch, t) => {
          // masks reach the step only for pixel-labelled images (the training set strips the others: commands/data.ts)
          const r = await trainer.step(
            {
              images: t.images,
              raw: t.raw,
              labels: t.labels,
              ...(t.masks ? { masks: t.masks, hasMask: t.hasMask! } : {}),
            },
            batch.epoch,
          );
          return { loss: r.loss, clsLoss: r.clsLoss, maskLoss: r.maskLoss, maskGate: r.maskGate };
        },
        stepText: (r) =>
          `loss ${r.loss.toFixed(4)}${r['maskLoss'] != null ? ` (mask ${r['maskLoss'].toFixed(4)})` : ''}`,
        countStep: () => ++step,
        diverged: (loss, at, batch) =>
          new DivergedError(
            `training diverged: the loss is ${loss} at step ${at} (epoch ${batch.epoch}, batch ${batch.ids.join(', ')}); ` +
              `the last good checkpoint ${join(ckptDir, LAST)} is kept. Try a lower learning rate (optim.lr = ${config.optim.lr}).`,
          ),
        epochEnd: async (done, at) => {
          position = at;
          if (o.val && (done % c.valEvery === 0 || done === c.epochs)) {
            const v = await validationPass(net, firstRecords(o.val, c.valImages), config, done, out);
            lastVal = v;
            // spec §3.10 / §4.1: from the mask-loss phase on, keep the checkpoint if score ≥ best (the loss jumps
            // when the mask loss starts; mIoU and mAP count from the first epoch)
            const isBest =
              (c.bestBy !== 'loss' || done >= c.pretrainEpochs) &&
              Number.isFinite(v.score) &&
              (best === null || v.score >= best.score);
            if (isBest) best = { score: v.score, epoch: done };
            const vr = { type: 'val', step, epoch: done, ...v, best: isBest };
            log.append(vr);
            out.event('val', vr);
            out.info(
              `  val after epoch ${done}: loss ${v.loss.toFixed(4)}, mAP ${pct1(v.map)}, F1 ${pct1(v.f1)}` +
                (v.masked ? `, mIoU ${pct1(v.miou)} (${v.masked} images with masks)` : '') +
                `${isBest ? ' (best so far, checkpoint kept)' : ''}`,
            );
            await log.flush();
            if (isBest) await save(BEST, 'best');
          }
          await save(LAST, done === c.epochs ? 'final' : 'epoch');
        },
        save: async (at, reason, stats) => {
          position = at;
          await save(LAST, reason, stats);
        },
        checkpointEvery: parseInterval(c.checkpointEvery),
        startStats,
        interruptedMessage: (at) =>
          `interrupted at step ${at}; checkpoint written to ${join(ckptDir, LAST)}. Continue with: ${o.resumeCommand ?? `wsss train --resume ${o.runDir}`}`,
        signal: o.signal,
        budget: o.stopAfterSteps === undefined ? undefined : { left: o.stopAfterSteps },
        ...(o.deadline !== undefined ? { deadline: o.deadline } : {}),
      });
      position = r.position;
      status = r.status;
    }
    await writer.settle();
  } finally {
    await log.flush();
    // a failure elsewhere (NaN, Ctrl-C) still lets the last checkpoint reach the disk
    await writer.close().catch(() => {});
    trainer.dispose();
  }
  return { status, steps: step, epochs: position.epoch, best, lastVal };
}
