/**
 * Distributed `wsss pseudo-labels` on BullMQ (DESIGN §7): the producer cuts the split into shards of K images,
 * enqueues them with idempotent job ids in the run's own queue and sums what the shards return; `wsss worker`
 * processes shards of every run registered on the Redis with the very code the single-process command runs
 * (`pseudoLabelRange`), each PNG written atomically, so outputs and numbers equal one process's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Job, Queue, Worker } from 'bullmq';
import { checkpointPath, openCheckpoint, openCheckpointFile } from '../commands/common.js';
import { InputError } from '../commands/errors.js';
import {
  openPseudoLabelSplit,
  type PseudoLabelOptions,
  type PseudoLabelPartial,
  type PseudoLabelResult,
  pseudoLabelRange,
  pseudoLabelResult,
} from '../commands/pseudoLabels.js';
import type { PartialConfig } from '../config/presets.js';
import { type EngineRequest, type InferenceEngine, startEngine } from '../infer/engine.js';
import type { WsFcn } from '../model/wsfcn.js';
import type { Output } from '../run/output.js';
import { connectRedis, fileChecksum, loadQueueModules, RUNS_KEY, runQueueName } from './redis.js';

/** What one shard job carries: everything a worker needs, nothing it must share with the producer but files. */
export interface ShardJobData {
  v: 1;
  command: 'pseudo-labels';
  /** Absolute path of the checkpoint file and its SHA-256 (checked by the worker before use). */
  checkpoint: string;
  checksum: string;
  /** The producer's config overrides (data paths, eval settings); backend and threads are the worker's own. */
  overrides: PartialConfig[];
  engine: EngineRequest;
  split: string;
  /** Absolute output folder. */
  output: string;
  /** Images [start, end) of the split. */
  start: number;
  end: number;
}

/** Producer options on top of the single-process command's. */
export interface DistributedOptions {
  redis: string;
  /** Start this many local `wsss worker` processes for the run (they stop when it ends). */
  workers?: number;
  /** Images per shard (default 16). */
  shardSize?: number;
  /** Attempts per shard before it counts as failed (default 3). */
  attempts?: number;
  /** Options for the local workers: wasm threads each (default 1), lock seconds. */
  workerThreads?: number;
  lockSeconds?: number;
}

/** A shard that failed all its attempts. */
export interface FailedShard {
  shard: number;
  images: [number, number];
  reason: string;
}

/** The distributed run's result: the command's own, and how it went. */
export type DistributedPseudoLabelResult = PseudoLabelResult & {
  queue: string;
  shards: number;
  /** Shards already done by an earlier run of the same command (not redone). */
  alreadyDone: number;
  failed: FailedShard[];
  /** Attempts beyond the first, over all shards. */
  retries: number;
};

type Overrides = Record<string, unknown> & { data?: Record<string, unknown> };

/**
 * The producer's overrides as jobs carry them: without what belongs to the machine running the work (backend,
 * threads, data-loader workers), with data paths made absolute (workers resolve nothing against their own working
 * folder), and with the checkpoint config's relative data root made absolute too.
 */
function runOverrides(overrides: PartialConfig[], configRoot: string | null): PartialConfig[] {
  const out = overrides.map((o) => {
    const { backend: _b, threads: _t, ...rest } = o as Overrides;
    if (rest.data) {
      const { workers: _w, ...data } = rest.data;
      for (const k of ['root', 'labels', 'masks', 'classes'])
        if (typeof data[k] === 'string' && data[k]) data[k] = resolve(data[k] as string);
      if (Object.keys(data).length) rest.data = data;
      else delete rest.data;
    }
    return rest as PartialConfig;
  });
  return configRoot ? [...out, { data: { root: resolve(configRoot) } } as PartialConfig] : out;
}

const WSSS_BIN = () => fileURLToPath(new URL('../bin/wsss.mjs', import.meta.url));

/** Starts `n` local worker processes on `redis` (for `--workers n`). */
function startLocalWorkers(n: number, redis: string, o: DistributedOptions): ChildProcess[] {
  return Array.from({ length: n }, () =>
    spawn(
      process.execPath,
      [
        WSSS_BIN(),
        'worker',
        '--redis',
        redis,
        '--threads',
        String(o.workerThreads ?? 1),
        '-q',
        ...(o.lockSeconds ? ['--lock', String(o.lockSeconds)] : []),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    ),
  );
}

async function stopLocalWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done();
          c.once('exit', () => done());
          c.kill('SIGTERM');
        }),
    ),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `wsss pseudo-labels … --redis <url>`: enqueues the split as shards (idempotent ids: a re-run adds only what is
 * missing and retries failed shards), shows aggregate progress, waits until every shard is done or has failed for
 * good, and sums the shards' totals into the single-process result.
 */
export async function runDistributedPseudoLabels(
  o: PseudoLabelOptions & DistributedOptions,
): Promise<DistributedPseudoLabelResult> {
  const client = await connectRedis(o.redis);
  const children: ChildProcess[] = [];
  let queue: Queue | undefined;
  try {
    const { bullmq } = await loadQueueModules();
    const file = resolve(checkpointPath(o.checkpoint));
    const c = await openCheckpointFile(file, o.overrides ?? []);
    if (c.ckpt.state.stage)
      throw new InputError(
        `${file} is a FickleNet + DSRG ${c.ckpt.state.stage} checkpoint: pseudo-labels needs a WS-FCN checkpoint`,
      );
    const { split, ds } = await openPseudoLabelSplit(c, o.split, o.out);
    const n = o.limit ? Math.min(o.limit, ds.length) : ds.length;
    const size = o.shardSize ?? 16;
    if (!Number.isInteger(size) || size < 1)
      throw new InputError(`--shard-size must be a whole number ≥ 1, got ${size}`);
    const checksum = await fileChecksum(file);
    const output = resolve(o.output);
    mkdirSync(output, { recursive: true });
    const overrides = runOverrides(o.overrides ?? [], c.config.data.root);
    const name = runQueueName({ command: 'pseudo-labels', checksum, split, output, overrides, n, size });
    queue = new bullmq.Queue(name, { connection: client });
    const shards = Math.ceil(n / size);
    const attempts = o.attempts ?? 3;
    let alreadyDone = 0;
    const toAdd: { name: string; data: ShardJobData; opts: Record<string, unknown> }[] = [];
    for (let s = 0; s < shards; s++) {
      const id = `shard-${s}`;
      const existing = await queue.getJob(id);
      if (existing) {
        const state = await existing.getState();
        if (state === 'completed') alreadyDone++;
        else if (state === 'failed')
          await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        continue;
      }
      toAdd.push({
        name: 'pseudo-labels',
        data: {
          v: 1,
          command: 'pseudo-labels',
          checkpoint: file,
          checksum,
          overrides,
          engine: o.engine ?? {},
          split,
          output,
          start: s * size,
          end: Math.min(n, (s + 1) * size),
        },
        opts: { jobId: id, attempts, removeOnComplete: false, removeOnFail: false },
      });
    }
    if (toAdd.length) await queue.addBulk(toAdd);
    await client.sadd(RUNS_KEY, name);
    o.out.info(
      `queue ${name} on ${o.redis}: ${shards} shard(s) of up to ${size} images (${n} images of ${split})${alreadyDone ? `; ${alreadyDone} already done by an earlier run` : ''}`,
    );
    o.out.event('queue', { queue: name, shards, shardSize: size, images: n, alreadyDone });
    if (o.workers) children.push(...startLocalWorkers(o.workers, o.redis, o));

    const started = performance.now();
    const bar = o.out.progress('pseudo-labels', shards, 'shard');
    let shown = alreadyDone;
    bar.tick(alreadyDone);
    for (;;) {
      const counts = await queue.getJobCounts(
        'completed',
        'failed',
        'waiting',
        'active',
        'delayed',
        'prioritized',
      );
      const done = (counts['completed'] ?? 0) + (counts['failed'] ?? 0);
      const known = Object.values(counts).reduce((a, b) => a + b, 0);
      if (known < shards)
        throw new InputError(
          `queue ${name} on ${o.redis} holds ${known} of the run's ${shards} shards: Redis lost the others (restarted without persistence, evicted or flushed?); run the same command again`,
        );
      const workers = await queue.getWorkersCount().catch(() => 0);
      const info = `workers ${workers}${counts['failed'] ? `, failed ${counts['failed']}` : ''}`;
      if (done > shown) {
        bar.tick(done - shown, info);
        shown = done;
      } else bar.tick(0, info);
      if (done >= shards) break;
      await sleep(250);
    }
    bar.done();
    const seconds = (performance.now() - started) / 1000;
    const jobs = (await queue.getJobs(['completed', 'failed'])) as Job<ShardJobData, PseudoLabelPartial>[];
    const completed = jobs.filter((j) => j.finishedOn && !j.failedReason);
    const failed: FailedShard[] = jobs
      .filter((j) => j.failedReason)
      .map((j) => ({
        shard: Number(j.id!.slice(6)),
        images: [j.data.start, j.data.end] as [number, number],
        reason: j.failedReason,
      }))
      .sort((a, b) => a.shard - b.shard);
    const retries = jobs.reduce((a, j) => a + Math.max(0, j.attemptsMade - 1), 0);
    await client.srem(RUNS_KEY, name);
    const result = pseudoLabelResult(
      completed.map((j) => j.returnvalue),
      {
        split,
        output,
        engine: o.engine?.engine === 'onnx' ? 'onnx (workers)' : 'tfjs (workers)',
        seconds,
        miouOver: c.config.eval.miouOver,
      },
    );
    return { ...result, queue: name, shards, alreadyDone, failed, retries };
  } finally {
    await stopLocalWorkers(children);
    await queue?.close();
    client.disconnect();
  }
}

/** `wsss worker` options. */
export interface WorkerOptions {
  redis: string;
  out: Output;
  /** Shards processed at once (default 1: tfjs runs one at a time anyway; more overlaps reading and writing). */
  concurrency?: number;
  /** The worker's backend/threads (and other) overrides. */
  overrides?: PartialConfig[];
  /** Seconds a shard's lock lasts without renewal: how soon a killed worker's shard goes to another (default 30). */
  lockSeconds?: number;
  /** Aborted on SIGTERM/SIGINT: finish the shards in hand, then exit. */
  signal?: AbortSignal;
}

/** A model opened by a worker, by checkpoint checksum, overrides and engine. */
interface OpenedModel {
  net: WsFcn;
  engine: InferenceEngine;
  config: Awaited<ReturnType<typeof openCheckpoint>>['config'];
  file: string;
  classNames: string[];
  splits: Map<string, Awaited<ReturnType<typeof openPseudoLabelSplit>>>;
}

/**
 * `wsss worker --redis <url>`: serves every run registered on that Redis (polling the registry each second), one
 * BullMQ worker per run queue, models loaded once and cached by checkpoint checksum. On abort it stops taking
 * shards, finishes those in hand and returns the number of shards it processed.
 */
export async function runWorker(o: WorkerOptions): Promise<{ shards: number; failed: number }> {
  const client = await connectRedis(o.redis);
  const { bullmq } = await loadQueueModules();
  const workers = new Map<string, Worker>();
  const models = new Map<string, Promise<OpenedModel>>();
  let shards = 0;
  let failed = 0;
  const lockMs = Math.round((o.lockSeconds ?? 30) * 1000);

  const modelFor = (d: ShardJobData): Promise<OpenedModel> => {
    const key = JSON.stringify([d.checksum, d.overrides, d.engine]);
    let m = models.get(key);
    if (!m) {
      m = (async () => {
        const sum = await fileChecksum(d.checkpoint).catch((e: Error) => {
          throw new bullmq.UnrecoverableError(`checkpoint ${d.checkpoint}: ${e.message}`);
        });
        if (sum !== d.checksum)
          throw new bullmq.UnrecoverableError(
            `checkpoint ${d.checkpoint} changed since the run was enqueued (SHA-256 ${sum.slice(0, 12)}…, the run's ${d.checksum.slice(0, 12)}…)`,
          );
        const opened = await openCheckpoint(d.checkpoint, [...d.overrides, ...(o.overrides ?? [])], o.out);
        const engine = await startEngine(opened.net.model, d.engine, {
          backend: opened.backend,
          threads: opened.config.threads,
          out: o.out,
        });
        return { ...opened, engine, splits: new Map() };
      })();
      m.catch(() => models.delete(key));
      models.set(key, m);
    }
    return m;
  };

  const processShard = async (job: Job<ShardJobData>): Promise<PseudoLabelPartial> => {
    const d = job.data;
    if (d.v !== 1 || d.command !== 'pseudo-labels')
      throw new bullmq.UnrecoverableError(`unknown job ${JSON.stringify(d.command)} (v${d.v}): update wsss`);
    const m = await modelFor(d);
    let split = m.splits.get(d.split);
    if (!split) {
      split = await openPseudoLabelSplit(m, d.split, o.out);
      m.splits.set(d.split, split);
    }
    const t0 = performance.now();
    const part = await pseudoLabelRange(
      { config: m.config, ds: split.ds, engine: m.engine, output: d.output },
      d.start,
      d.end,
    );
    o.out.info(
      `${job.queueName} ${job.id}: images ${d.start}–${d.end - 1} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return part;
  };

  const sync = async () => {
    const names = new Set(await client.smembers(RUNS_KEY));
    for (const name of names) {
      if (workers.has(name)) continue;
      const w = new bullmq.Worker<ShardJobData, PseudoLabelPartial>(name, processShard, {
        connection: client,
        concurrency: o.concurrency ?? 1,
        lockDuration: lockMs,
        stalledInterval: lockMs,
        maxStalledCount: 1,
      });
      w.on('completed', () => shards++);
      w.on('failed', (job, e) => {
        failed++;
        o.out.warn(`${name} ${job?.id ?? '?'}: ${e.message}`);
      });
      w.on('error', () => {});
      workers.set(name, w);
      o.out.event('serving', { queue: name });
    }
    for (const [name, w] of workers)
      if (!names.has(name)) {
        workers.delete(name);
        await w.close();
      }
  };

  o.out.info(`worker on ${o.redis}: serving every wsss run registered there (Ctrl-C or SIGTERM to stop)`);
  try {
    while (!o.signal?.aborted) {
      await sync().catch((e: Error) => o.out.event('redis', { error: e.message }));
      await new Promise<void>((done) => {
        const t = setTimeout(done, 1000);
        o.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            done();
          },
          { once: true },
        );
      });
    }
    // finish the shards in hand; unstarted ones stay queued for other workers
    await Promise.all([...workers.values()].map((w) => w.close()));
  } finally {
    for (const m of models.values())
      await m.then(
        async (x) => {
          await x.engine.release();
          x.net.model.dispose();
        },
        () => {},
      );
    client.disconnect();
  }
  return { shards, failed };
}
