/**
 * The epoch loop shared by `wsss train`'s WS-FCN training (train/loop.ts) and FickleNet's stages
 * (ficklenet/pipeline.ts): one step per batch (its tensors disposed after the step), a NaN/Inf guard, a metrics
 * record per step and per epoch, a progress bar per epoch, the caller's end-of-epoch work (validation,
 * checkpoints), checkpoints inside an epoch every `checkpointEvery` (time and/or steps, so a kill -9 loses at most
 * one interval), a checkpoint and an `InterruptedError` on Ctrl-C, and a stop with a checkpoint when the step budget
 * or the deadline runs out (unless an epoch has just ended, and so was just saved).
 *
 * A checkpoint inside an epoch carries the epoch's running sums ({@link EpochStats}), so the epoch record written
 * after a resume averages every step of the epoch, before and after the interruption.
 */

import { memoryUsage } from '@wsss/core';
import {
  type Batch,
  type BatchTensors,
  batchToTensors,
  type DataLoader,
  disposeBatchTensors,
  type LoaderPosition,
} from '@wsss/datasets';
import { InterruptedError } from '../commands/errors.js';
import type { Output } from '../run/output.js';
import type { MetricsLog } from '../run/runDir.js';

/** What a step reports: `loss` and any other numbers (null where a value does not apply to this step). */
export type StepNumbers = { loss: number } & Record<string, number | null>;

/** The running sums of the epoch in progress: saved in a mid-epoch checkpoint, restored on resume. */
export interface EpochStats {
  /** Per reported number: its sum and count over the epoch's steps so far (nulls not counted). */
  sums: Record<string, { sum: number; n: number }>;
  /** Seconds spent in the epoch so far (before this process, for a resumed epoch). */
  seconds: number;
}

/** When to checkpoint inside an epoch; 0 turns a criterion off. */
export interface CheckpointInterval {
  seconds: number;
  steps: number;
}

/** Why the loop asks for a checkpoint (besides epoch ends, which `epochEnd` handles). */
export type SaveReason = 'interval' | 'interrupt' | 'stop';

export interface EpochLoopOptions {
  out: Output;
  log: MetricsLog;
  /** A loader positioned at `start`. */
  loader: DataLoader;
  start: LoaderPosition;
  /** Running sums of the epoch `start` is inside (from the checkpoint being resumed). */
  startStats?: EpochStats;
  /** Total epochs (the loop runs from `start.epoch` up to this). */
  epochs: number;
  batchSize: number;
  /** Progress-bar label of a (0-based) epoch. */
  label: (epoch: number) => string;
  /** Fields put in every metrics record (e.g. `{ stage }`). */
  tag?: Record<string, unknown>;
  step: (batch: Batch, t: BatchTensors) => Promise<StepNumbers>;
  /** Text after the progress bar for a step (default: the loss). */
  stepText?: (r: StepNumbers) => string;
  /** Counts a step and returns the run's step number (the caller's counter, continued across stages). */
  countStep: () => number;
  /** The error to throw for a non-finite loss. */
  diverged: (loss: number, step: number, batch: Batch) => Error;
  /**
   * After each epoch: `done` epochs are complete, `position` is where the next starts, `means` the epoch record's
   * averages (`loss`, …). Returning 'stop' ends the loop there with status 'done' (an early stop; the caller has
   * saved its final checkpoint).
   */
  epochEnd: (
    done: number,
    position: LoaderPosition,
    step: number,
    means: Record<string, number>,
    // biome-ignore lint/suspicious/noConfusingVoidType: most callers return nothing (an async function's void)
  ) => Promise<void | 'stop'>;
  /**
   * Writes a checkpoint inside an epoch at `position` with the epoch's running `stats`: on an interval, on Ctrl-C
   * (`interrupt`) or when the budget or deadline ends the run (`stop`). The metrics log is flushed before.
   */
  save: (position: LoaderPosition, reason: SaveReason, stats: EpochStats) => Promise<void>;
  /**
   * Numbers of the whole epoch (not means of steps) to put in its record and `means`, asked once as each epoch
   * ends, before `epochEnd` (e.g. the FickleNet classifier's `priorLoss`).
   */
  epochFields?: () => Record<string, number>;
  /** Checkpoint inside epochs this often (default never: only at epoch ends and stops). */
  checkpointEvery?: CheckpointInterval;
  /** Message of the `InterruptedError` thrown on Ctrl-C at `step`. */
  interruptedMessage: (step: number) => string;
  signal?: AbortSignal;
  /** Steps this run may still take, shared across loops (tests stop early); decremented per step. */
  budget?: { left: number };
  /** Stop (with a checkpoint) after the first step that ends at or after this time (`Date.now()` ms). */
  deadline?: number;
}

export interface EpochLoopResult {
  /** 'stopped' when the budget or deadline ran out before the last epoch ended. */
  status: 'done' | 'stopped';
  position: LoaderPosition;
}

function copyStats(s: EpochStats | undefined): EpochStats {
  return {
    sums: Object.fromEntries(Object.entries(s?.sums ?? {}).map(([k, v]) => [k, { ...v }])),
    seconds: s?.seconds ?? 0,
  };
}

/** Runs the epochs from `start` to `epochs` (see the module comment). */
export async function runEpochs(o: EpochLoopOptions): Promise<EpochLoopResult> {
  const { out, log, tag = {} } = o;
  let position = o.start;
  if (position.epoch >= o.epochs) return { status: 'done', position };
  const perEpoch = o.loader.batchesPerEpoch;
  let bar = out.progress(o.label(position.epoch), perEpoch, 'step');
  if (position.index > 0) bar.tick(Math.floor(position.index / o.batchSize));
  // sums of the epoch in progress; `before` = its seconds spent in earlier processes
  let stats = copyStats(position.index > 0 ? o.startStats : undefined);
  let t0 = performance.now();
  const statsNow = (): EpochStats => ({
    sums: copyStats(stats).sums,
    seconds: stats.seconds + (performance.now() - t0) / 1000,
  });
  const every = o.checkpointEvery;
  let lastSave = performance.now();
  let stepsSinceSave = 0;
  const save = async (reason: SaveReason) => {
    await log.flush(); // the log holds every step up to the checkpoint
    await o.save(position, reason, statsNow());
    lastSave = performance.now();
    stepsSinceSave = 0;
  };
  for await (const b of o.loader.batches(o.epochs - position.epoch)) {
    const t = batchToTensors(b);
    let r: StepNumbers;
    try {
      r = await o.step(b, t);
    } finally {
      disposeBatchTensors(t);
    }
    const step = o.countStep();
    if (o.budget) o.budget.left--;
    stepsSinceSave++;
    if (!Number.isFinite(r.loss)) {
      log.append({ type: 'diverged', ...tag, step, epoch: b.epoch, loss: String(r.loss) });
      await log.flush();
      throw o.diverged(r.loss, step, b);
    }
    position = b.position;
    for (const [k, v] of Object.entries(r)) {
      if (v === null) continue;
      const s = (stats.sums[k] ??= { sum: 0, n: 0 });
      s.sum += v;
      s.n++;
    }
    const rec = { type: 'step', ...tag, step, epoch: b.epoch, ...r };
    log.append(rec);
    // memory goes to --json only: metrics.jsonl stays the same across machines and resumes
    out.event('step', { ...rec, memory: memoryUsage() });
    bar.tick(1, o.stepText ? o.stepText(r) : `loss ${r.loss.toFixed(4)}`);
    const epochEnded = position.epoch > b.epoch;
    if (epochEnded) {
      const ep: Record<string, unknown> = { type: 'epoch', ...tag, step, epoch: b.epoch };
      const means: Record<string, number> = {};
      for (const [k, s] of Object.entries(stats.sums)) ep[k] = means[k] = s.sum / s.n;
      for (const [k, v] of Object.entries(o.epochFields?.() ?? {})) ep[k] = means[k] = v;
      ep['seconds'] = statsNow().seconds;
      log.append(ep);
      out.event('epoch', ep);
      bar.done(`loss ${(ep['loss'] as number).toFixed(4)}`);
      stats = copyStats(undefined);
      await log.flush(); // the records before the epoch's checkpoints
      const next = await o.epochEnd(b.epoch + 1, position, step, means);
      await log.flush();
      if (next === 'stop') return { status: 'done', position };
      lastSave = performance.now();
      stepsSinceSave = 0;
      t0 = performance.now();
      if (position.epoch < o.epochs) bar = out.progress(o.label(position.epoch), perEpoch, 'step');
    }
    if (o.signal?.aborted) {
      bar.done('interrupted');
      await save('interrupt');
      throw new InterruptedError(o.interruptedMessage(step));
    }
    const outOfSteps = o.budget !== undefined && o.budget.left <= 0;
    const pastDeadline = o.deadline !== undefined && Date.now() >= o.deadline;
    if ((outOfSteps || pastDeadline) && position.epoch < o.epochs) {
      if (!epochEnded) {
        bar.done('stopped');
        await save('stop');
      }
      return { status: 'stopped', position };
    }
    if (
      every &&
      !epochEnded &&
      ((every.steps > 0 && stepsSinceSave >= every.steps) ||
        (every.seconds > 0 && performance.now() - lastSave >= every.seconds * 1000))
    )
      await save('interval');
  }
  return { status: 'done', position };
}
