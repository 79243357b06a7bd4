/**
 * The epoch loop shared by `wsss train`'s WS-FCN training (train/loop.ts) and FickleNet's stages
 * (ficklenet/pipeline.ts): one step per batch (its tensors disposed after the step), a NaN/Inf guard, a metrics
 * record per step and per epoch, a progress bar per epoch, the caller's end-of-epoch work (validation,
 * checkpoints), a checkpoint and an `InterruptedError` on Ctrl-C, and a stop when the step budget runs out (tests)
 * with a checkpoint unless an epoch has just ended (and so was just saved).
 */
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

export interface EpochLoopOptions {
  out: Output;
  log: MetricsLog;
  /** A loader positioned at `start`. */
  loader: DataLoader;
  start: LoaderPosition;
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
  /** After each epoch: `done` epochs are complete, `position` is where the next starts. */
  epochEnd: (done: number, position: LoaderPosition, step: number) => Promise<void>;
  /** Writes the checkpoint of an interruption (Ctrl-C or the step budget) at `position`. */
  saveInterrupt: (position: LoaderPosition) => Promise<void>;
  /** Message of the `InterruptedError` thrown on Ctrl-C at `step`. */
  interruptedMessage: (step: number) => string;
  signal?: AbortSignal;
  /** Steps this run may still take, shared across loops (tests stop early); decremented per step. */
  budget?: { left: number };
}

export interface EpochLoopResult {
  /** 'stopped' when the budget ran out before the last epoch ended. */
  status: 'done' | 'stopped';
  position: LoaderPosition;
}

/** Runs the epochs from `start` to `epochs` (see the module comment). */
export async function runEpochs(o: EpochLoopOptions): Promise<EpochLoopResult> {
  const { out, log, tag = {} } = o;
  let position = o.start;
  if (position.epoch >= o.epochs) return { status: 'done', position };
  const perEpoch = o.loader.batchesPerEpoch;
  let bar = out.progress(o.label(position.epoch), perEpoch, 'step');
  if (position.index > 0) bar.tick(Math.floor(position.index / o.batchSize));
  const sums = new Map<string, { sum: number; n: number }>();
  let t0 = performance.now();
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
    if (!Number.isFinite(r.loss)) {
      log.append({ type: 'diverged', ...tag, step, epoch: b.epoch, loss: String(r.loss) });
      await log.flush();
      throw o.diverged(r.loss, step, b);
    }
    position = b.position;
    for (const [k, v] of Object.entries(r)) {
      if (v === null) continue;
      const s = sums.get(k) ?? { sum: 0, n: 0 };
      s.sum += v;
      s.n++;
      sums.set(k, s);
    }
    const rec = { type: 'step', ...tag, step, epoch: b.epoch, ...r };
    log.append(rec);
    out.event('step', rec);
    bar.tick(1, o.stepText ? o.stepText(r) : `loss ${r.loss.toFixed(4)}`);
    const epochEnded = position.epoch > b.epoch;
    if (epochEnded) {
      const ep: Record<string, unknown> = { type: 'epoch', ...tag, step, epoch: b.epoch };
      for (const [k, s] of sums) ep[k] = s.sum / s.n;
      ep['seconds'] = (performance.now() - t0) / 1000;
      log.append(ep);
      out.event('epoch', ep);
      bar.done(`loss ${(ep['loss'] as number).toFixed(4)}`);
      sums.clear();
      await log.flush(); // the records before the epoch's checkpoints
      await o.epochEnd(b.epoch + 1, position, step);
      await log.flush();
      t0 = performance.now();
      if (position.epoch < o.epochs) bar = out.progress(o.label(position.epoch), perEpoch, 'step');
    }
    if (o.signal?.aborted) {
      bar.done('interrupted');
      await log.flush();
      await o.saveInterrupt(position);
      throw new InterruptedError(o.interruptedMessage(step));
    }
    if (o.budget && o.budget.left <= 0 && position.epoch < o.epochs) {
      if (!epochEnded) {
        bar.done('stopped');
        await log.flush();
        await o.saveInterrupt(position);
      }
      return { status: 'stopped', position };
    }
  }
  return { status: 'done', position };
}
