import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setBackend } from '@wsss/core';
import type { Batch, DataLoader, LoaderPosition } from '@wsss/datasets';
import { beforeAll, describe, expect, it } from 'vitest';
import { InterruptedError } from '../commands/errors.js';
import { Output } from '../run/output.js';
import { MetricsLog } from '../run/runDir.js';
import { type EpochLoopOptions, type EpochStats, runEpochs } from './epochs.js';

/** A loader of `perEpoch` one-image batches per epoch, starting at `start` (positions as DataLoader reports them). */
function fakeLoader(perEpoch: number, start: LoaderPosition): DataLoader {
  return {
    batchesPerEpoch: perEpoch,
    async *batches(epochs: number) {
      let { epoch, index } = start;
      const end = start.epoch + epochs;
      while (epoch < end) {
        const next = index + 1 >= perEpoch ? { epoch: epoch + 1, index: 0 } : { epoch, index: index + 1 };
        yield {
          epoch,
          ids: [`${epoch}-${index}`],
          size: 1,
          images: new Float32Array(3),
          raw: new Float32Array(3),
          labels: new Float32Array(1),
          position: next,
        } satisfies Batch;
        ({ epoch, index } = next);
      }
    },
  } as unknown as DataLoader;
}

function setup(over: Partial<EpochLoopOptions> & { losses?: number[] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'wsss-epochs-'));
  const log = new MetricsLog(join(dir, 'metrics.jsonl'));
  const events: string[] = [];
  const saved: EpochStats[] = [];
  let step = 0;
  const losses = over.losses ?? [];
  const o: EpochLoopOptions = {
    out: new Output({ quiet: true, progress: false }),
    log,
    loader: fakeLoader(3, over.start ?? { epoch: 0, index: 0 }),
    start: { epoch: 0, index: 0 },
    epochs: 2,
    batchSize: 1,
    label: (e) => `epoch ${e + 1}`,
    tag: { stage: 'test' },
    step: async () => ({ loss: losses[step] ?? 1 + step, extra: step % 2 ? null : step }),
    countStep: () => ++step,
    diverged: (loss, at) => new Error(`diverged ${loss} at ${at}`),
    epochEnd: async (done, at) => {
      events.push(`end ${done} @${at.epoch}:${at.index}`);
    },
    save: async (at, reason, stats) => {
      events.push(`${reason} @${at.epoch}:${at.index}`);
      saved.push(stats);
    },
    interruptedMessage: (at) => `stopped at ${at}`,
    ...over,
  };
  const records = async () => {
    await log.flush();
    return readFileSync(log.file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return { o, events, saved, records, steps: () => step };
}

describe('runEpochs', () => {
  beforeAll(() => setBackend('cpu'));

  it('runs every epoch, logs steps and epoch means (nulls skipped), calls epochEnd after each epoch', async () => {
    const { o, events, records } = setup();
    const r = await runEpochs(o);
    expect(r).toEqual({ status: 'done', position: { epoch: 2, index: 0 } });
    expect(events).toEqual(['end 1 @1:0', 'end 2 @2:0']);
    const recs = await records();
    expect(recs.filter((x) => x['type'] === 'step').map((x) => x['step'])).toEqual([1, 2, 3, 4, 5, 6]);
    const epochs = recs.filter((x) => x['type'] === 'epoch');
    // epoch 0: losses 1, 2, 3; `extra` 0 and 2 (step 1's is null)
    expect(epochs[0]).toMatchObject({ stage: 'test', step: 3, epoch: 0, loss: 2, extra: 1 });
    expect(epochs[1]).toMatchObject({ step: 6, epoch: 1, loss: 5 });
  });

  it('a budget ending mid-epoch saves a stop checkpoint; ending at an epoch end saves nothing more', async () => {
    const mid = setup({ budget: { left: 4 } });
    expect(await runEpochs(mid.o)).toEqual({ status: 'stopped', position: { epoch: 1, index: 1 } });
    expect(mid.events).toEqual(['end 1 @1:0', 'stop @1:1']);
    const atEnd = setup({ budget: { left: 3 } });
    expect((await runEpochs(atEnd.o)).status).toBe('stopped');
    expect(atEnd.events).toEqual(['end 1 @1:0']);
    const last = setup({ budget: { left: 6 } });
    expect((await runEpochs(last.o)).status).toBe('done');
  });

  it('resumes mid-epoch from `start`; does nothing when every epoch is done', async () => {
    const start = { epoch: 1, index: 2 };
    const { o, events, steps } = setup({ start });
    expect((await runEpochs({ ...o, start })).position).toEqual({ epoch: 2, index: 0 });
    expect(steps()).toBe(1);
    expect(events).toEqual(['end 2 @2:0']);
    const done = setup();
    expect(await runEpochs({ ...done.o, start: { epoch: 2, index: 0 } })).toEqual({
      status: 'done',
      position: { epoch: 2, index: 0 },
    });
    expect(done.steps()).toBe(0);
  });

  it('a non-finite loss logs a diverged record and throws the caller’s error; Ctrl-C saves and throws', async () => {
    const nan = setup({ losses: [1, Number.NaN] });
    await expect(runEpochs(nan.o)).rejects.toThrow('diverged NaN at 2');
    expect((await nan.records()).at(-1)).toMatchObject({
      type: 'diverged',
      stage: 'test',
      step: 2,
      loss: 'NaN',
    });
    const ac = new AbortController();
    const stop = setup({ signal: ac.signal });
    const step = stop.o.step;
    stop.o.step = async (b, t) => {
      ac.abort();
      return step(b, t);
    };
    const err = await runEpochs(stop.o).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect((err as Error).message).toBe('stopped at 1');
    expect(stop.events).toEqual(['interrupt @0:1']);
    expect(tf.memory().numTensors).toBe(0);
  });

  it('checkpoints inside epochs every k steps (never twice at an epoch end) and when the deadline passes', async () => {
    const every2 = setup({ epochs: 2, checkpointEvery: { seconds: 0, steps: 2 } });
    await runEpochs(every2.o);
    // steps 1..6, epochs end after 3 and 6: interval saves after steps 2 and 5 (the count restarts at epoch ends)
    expect(every2.events).toEqual(['interval @0:2', 'end 1 @1:0', 'interval @1:2', 'end 2 @2:0']);
    const timed = setup({ checkpointEvery: { seconds: 1e-9, steps: 0 } });
    await runEpochs(timed.o);
    expect(timed.events).toEqual([
      'interval @0:1',
      'interval @0:2',
      'end 1 @1:0',
      'interval @1:1',
      'interval @1:2',
      'end 2 @2:0',
    ]);
    const late = setup({ deadline: Date.now() - 1 });
    expect(await runEpochs(late.o)).toEqual({ status: 'stopped', position: { epoch: 0, index: 1 } });
    expect(late.events).toEqual(['stop @0:1']);
  });

  it('an epoch resumed from a mid-epoch checkpoint averages all its steps, as an uninterrupted one does', async () => {
    const losses = [0.5, 1.25, 4, 0.75, 2, 8];
    const whole = setup({ losses });
    await runEpochs(whole.o);
    const full = (await whole.records()).filter((r) => r['type'] === 'epoch');
    // interrupted after step 2 (mid-epoch 0), then resumed from the saved sums
    const first = setup({ losses, budget: { left: 2 } });
    await runEpochs(first.o);
    expect(first.events).toEqual(['stop @0:2']);
    const stats = first.saved[0]!;
    expect(stats.sums['loss']).toEqual({ sum: 1.75, n: 2 });
    const second = setup({ losses: losses.slice(2), start: { epoch: 0, index: 2 } });
    await runEpochs({ ...second.o, start: { epoch: 0, index: 2 }, startStats: stats });
    const resumed = (await second.records()).filter((r) => r['type'] === 'epoch');
    expect(resumed[0]!['loss']).toBe(full[0]!['loss']);
    expect(resumed[0]!['loss']).toBeCloseTo((0.5 + 1.25 + 4) / 3, 12);
    expect(resumed[1]!['loss']).toBe(full[1]!['loss']);
    // the saved sums are a copy: later steps do not change them
    expect(stats.sums['loss']).toEqual({ sum: 1.75, n: 2 });
  });
});
