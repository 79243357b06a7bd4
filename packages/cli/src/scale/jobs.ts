/**
 * `wsss pseudo-labels|localize|eval|infer … --redis` on BullMQ (DESIGN §7): the producer cuts the work into shards
 * of K images, enqueues them with idempotent job ids in the run's own queue and combines what the shards return;
 * `wsss worker` processes shards of every run registered on the Redis with the very code the single-process
 * command runs (`pseudoLabelRange`, `localizeRange`, `evalRange`, `inferPlanItems`), each file written atomically,
 * so outputs and numbers equal one process's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageFolderDataset, RandomAccessDataset } from '@wsss/datasets';
import type { Job, Queue, Worker } from 'bullmq';
import { checkpointPath, openAnyCheckpoint, openCheckpointFile, startBackend } from '../commands/common.js';
import { InputError, InterruptedError } from '../commands/errors.js';
import {
  type EvalOptions,
  type EvalPartial,
  type EvalResult,
  evalRange,
  evalResult,
  openEvalSplit,
} from '../commands/eval.js';
import {
  type InferItem,
  type InferOptions,
  type InferPlan,
  type InferPlanItem,
  inferPlan,
  inferPlanItems,
} from '../commands/infer.js';
import {
  checkClassifier,
  classifierCheckpointPath,
  classifierOf,
  type LocalizeCommandResult,
  type LocalizeOptions,
  openClassifierCheckpoint,
  samplesFromOutput,
  writeLocalizeReport,
} from '../commands/localize.js';
import {
  openPseudoLabelSplit,
  type PseudoLabelOptions,
  type PseudoLabelPartial,
  type PseudoLabelResult,
  pseudoLabelRange,
  pseudoLabelResult,
} from '../commands/pseudoLabels.js';
import type { PartialConfig } from '../config/presets.js';
import { localizeSettings } from '../ficklenet/build.js';
import {
  type LocalizePartial,
  localizeRange,
  localizeSummary,
  writeLocalizeSummary,
} from '../ficklenet/localizeSplit.js';
import type { FickleClassifierNet } from '../ficklenet/model.js';
import { type EngineRequest, type InferenceEngine, startEngine } from '../infer/engine.js';
import type { Output } from '../run/output.js';
import { connectRedis, fileChecksum, loadQueueModules, RUNS_KEY, retriesKey, runQueueName } from './redis.js';

/** What one shard job carries: everything a worker needs, nothing it must share with the producer but files. */
export interface ShardJobData {
  v: 1;
  command: 'pseudo-labels' | 'localize' | 'eval' | 'infer';
  /** Absolute path of the checkpoint file and its SHA-256 (checked by the worker before use). */
  checkpoint: string;
  checksum: string;
  /** The producer's config overrides (data paths, eval settings); backend and threads are the worker's own. */
  overrides: PartialConfig[];
  engine: EngineRequest;
  split: string;
  /** Absolute output folder ('' for an eval that saves no PNGs). */
  output: string;
  /** Dense CRF post-processing (eval, infer) or labelling (pseudo-labels). */
  crf?: boolean;
  /** localize: write the heat maps too. */
  localize?: { maps: boolean };
  /** infer: the folders of the run and this shard's images; overlays or not. */
  infer?: { folders: InferPlan['folders']; items: InferPlanItem[]; overlay: boolean };
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
  /** Aborted on Ctrl-C: stop watching (and the local workers), leave the queue for the workers and a re-run. */
  signal?: AbortSignal;
}

/** A shard that failed all its attempts. */
export interface FailedShard {
  shard: number;
  images: [number, number];
  reason: string;
}

/** The distributed run's result: the command's own, and how it went. */
export type DistributedPseudoLabelResult = PseudoLabelResult & DistributedSummary;

/** The options every split command shares with its distributed form. */
type SplitCommandOptions = {
  checkpoint: string;
  out: Output;
  overrides?: PartialConfig[];
  split?: string;
  limit?: number;
  engine?: EngineRequest;
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

/**
 * Node flags of a worker process. A worker is meant to own its cores: V8's parallel garbage collection would
 * take CPU from the next worker (measured: one process at 1 wasm thread used 1.17 cores with it, 1.05 without,
 * and was 6 % faster without), so workers collect garbage on their own thread.
 */
export const WORKER_NODE_FLAGS = ['--single-threaded-gc'];

/** Starts `n` local worker processes on `redis` (for `--workers n`). */
function startLocalWorkers(n: number, redis: string, o: DistributedOptions): ChildProcess[] {
  return Array.from({ length: n }, () =>
    spawn(
      process.execPath,
      [
        ...WORKER_NODE_FLAGS,
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

/**
 * The shards of `n` images for `--shard-size k`: shards of k images; when there are at least 8 of them, the last
 * 2k images go in shards of ⌈k/4⌉, so that the workers finish together (the idle time at the end, up to the
 * duration of the last shard a worker takes, is a quarter of a full shard's). [start, end) pairs in split order.
 */
export function shardPlan(n: number, k: number): [number, number][] {
  const tail = n >= 8 * k ? 2 * k : 0;
  const head = Math.floor((n - tail) / k) * k;
  const small = tail ? Math.ceil(k / 4) : k;
  const plan: [number, number][] = [];
  for (let s = 0; s < head; s += k) plan.push([s, s + k]);
  for (let s = head; s < n; s += small) plan.push([s, Math.min(n, s + small)]);
  return plan;
}

/** How often a worker looks for new runs in the registry. */
const REGISTRY_POLL_MS = 250;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What {@link distribute} returns to a command's producer. */
interface Distributed<P> {
  /** The completed shards' results, in split order. */
  parts: P[];
  split: string;
  queue: string;
  shards: number;
  alreadyDone: number;
  failed: FailedShard[];
  retries: number;
  seconds: number;
  /** Images of the shards completed by this run (not an earlier one). */
  freshImages: number;
  checkpoint: Awaited<ReturnType<typeof openCheckpointFile>>;
}

/** The per-command parts of a distributed run. */
interface CommandSpec {
  command: ShardJobData['command'];
  /** The checkpoint file a `--checkpoint` path names (default: a run's last checkpoint). */
  file?(path: string): string;
  /** Refuses checkpoints the command cannot read. */
  check(c: Awaited<ReturnType<typeof openCheckpointFile>>, file: string): void;
  openSplit(
    c: Awaited<ReturnType<typeof openCheckpointFile>>,
    split: string | undefined,
    out: Output,
  ): Promise<{ split: string; ds: { length: number } }>;
  /** What a shard of images [start, end) carries besides the common fields. */
  extra?(start: number, end: number): Partial<ShardJobData>;
  /** Identifies the run's inputs beyond the split (infer: its images). */
  key?: unknown;
  /** The output folder (absolute), or '' when the command writes none. */
  output: string;
  crf: boolean;
}

/**
 * A command over `--redis <url>`: enqueues the split as shards (idempotent ids: a re-run adds only what is
 * missing and retries failed shards with fresh attempts), shows aggregate progress, waits until every shard is
 * done or has failed for good, and returns the shards' results in split order.
 */
async function distribute<P extends { images: number }>(
  spec: CommandSpec,
  o: SplitCommandOptions & DistributedOptions,
): Promise<Distributed<P>> {
  const client = await connectRedis(o.redis);
  const children: ChildProcess[] = [];
  let queue: Queue | undefined;
  try {
    const { bullmq } = await loadQueueModules();
    // local workers start now: their start-up (runtime, backend) overlaps the producer's preparation
    if (o.workers) children.push(...startLocalWorkers(o.workers, o.redis, o));
    const file = resolve((spec.file ?? checkpointPath)(o.checkpoint));
    const c = await openCheckpointFile(file, o.overrides ?? []);
    spec.check(c, file);
    const { split, ds } = await spec.openSplit(c, o.split, o.out);
    const n = o.limit ? Math.min(o.limit, ds.length) : ds.length;
    const size = o.shardSize ?? 16;
    if (!Number.isInteger(size) || size < 1)
      throw new InputError(`--shard-size must be a whole number ≥ 1, got ${size}`);
    const checksum = await fileChecksum(file);
    const output = spec.output;
    if (output) mkdirSync(output, { recursive: true });
    const overrides = runOverrides(o.overrides ?? [], c.config.data.root);
    const name = runQueueName({
      command: spec.command,
      checksum,
      split,
      output,
      overrides,
      n,
      size,
      plan: 'tail/4',
      ...(spec.crf ? { crf: true } : {}),
      ...(spec.key !== undefined ? { key: spec.key } : {}),
    });
    queue = new bullmq.Queue(name, { connection: client });
    const plan = shardPlan(n, size);
    const shards = plan.length;
    const attempts = o.attempts ?? 3;
    let alreadyDone = 0;
    const doneBefore = new Set<string>();
    const toAdd: { name: string; data: ShardJobData; opts: Record<string, unknown> }[] = [];
    for (let s = 0; s < shards; s++) {
      const id = `shard-${s}`;
      const existing = await queue.getJob(id);
      if (existing) {
        const state = await existing.getState();
        if (state === 'completed') {
          alreadyDone++;
          doneBefore.add(id);
        } else if (state === 'failed')
          await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        continue;
      }
      toAdd.push({
        name: spec.command,
        data: {
          v: 1,
          command: spec.command,
          checkpoint: file,
          checksum,
          overrides,
          engine: o.engine ?? {},
          split,
          output,
          ...(spec.crf ? { crf: true } : {}),
          start: plan[s]![0],
          end: plan[s]![1],
          ...spec.extra?.(plan[s]![0], plan[s]![1]),
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

    const started = performance.now();
    // progress in images (shards finish about in order)
    const imagesOf = (doneShards: number) => (doneShards ? plan[Math.min(doneShards, shards) - 1]![1] : 0);
    const bar = o.out.progress(spec.command, n, 'img');
    let shown = alreadyDone;
    bar.tick(imagesOf(alreadyDone));
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
      const retried = Number(await client.get(retriesKey(name))) || 0;
      const info = `workers ${workers}${retried ? `, retries ${retried}` : ''}${counts['failed'] ? `, failed ${counts['failed']}` : ''}`;
      if (done > shown) {
        bar.tick(imagesOf(done) - imagesOf(shown), info);
        shown = done;
      } else bar.tick(0, info);
      if (done >= shards) break;
      if (o.signal?.aborted)
        throw new InterruptedError(
          `interrupted: queue ${name} stays on ${o.redis} with ${shards - done} of ${shards} shard(s) to do; running workers keep at it, and the same command again waits for them and prints the totals`,
        );
      await sleep(100);
    }
    bar.done();
    const seconds = (performance.now() - started) / 1000;
    // by state: a shard that failed an attempt and then succeeded keeps its last failedReason
    type ShardJob = Job<ShardJobData, P>;
    const index = (j: ShardJob) => Number(j.id!.slice(6));
    const completed = ((await queue.getJobs(['completed'])) as ShardJob[]).sort(
      (a, b) => index(a) - index(b),
    );
    const failedJobs = (await queue.getJobs(['failed'])) as ShardJob[];
    const failed: FailedShard[] = failedJobs
      .map((j) => ({
        shard: index(j),
        images: [j.data.start, j.data.end] as [number, number],
        reason: j.failedReason,
      }))
      .sort((a, b) => a.shard - b.shard);
    const retries = Number(await client.get(retriesKey(name))) || 0;
    await client.srem(RUNS_KEY, name);
    await client.del(retriesKey(name));
    return {
      parts: completed.map((j) => j.returnvalue),
      split,
      queue: name,
      shards,
      alreadyDone,
      failed,
      retries,
      seconds,
      // the rate of this run's work: shards done by an earlier run took no time here
      freshImages: completed
        .filter((j) => !doneBefore.has(j.id!))
        .reduce((a, j) => a + j.returnvalue.images, 0),
      checkpoint: c,
    };
  } finally {
    await stopLocalWorkers(children);
    await queue?.close();
    client.disconnect();
  }
}

/** How a distributed run went, added to the command's result. */
export interface DistributedSummary {
  queue: string;
  shards: number;
  /** Shards already done by an earlier run of the same command (not redone). */
  alreadyDone: number;
  failed: FailedShard[];
  /** Shard starts beyond the first (after a failed attempt or a worker that died), over all shards. */
  retries: number;
}

const summary = (d: Distributed<unknown>): DistributedSummary => ({
  queue: d.queue,
  shards: d.shards,
  alreadyDone: d.alreadyDone,
  failed: d.failed,
  retries: d.retries,
});

const workersEngine = (e: EngineRequest | undefined) => `${e?.engine === 'onnx' ? 'onnx' : 'tfjs'} (workers)`;

/** `wsss pseudo-labels … --redis <url>`: the split's pseudo-labels by workers; the single process's totals. */
export async function runDistributedPseudoLabels(
  o: PseudoLabelOptions & DistributedOptions,
): Promise<DistributedPseudoLabelResult> {
  const d = await distribute<PseudoLabelPartial>(
    {
      command: 'pseudo-labels',
      check: (c, file) => {
        if (c.ckpt.state.stage)
          throw new InputError(
            `${file} is a FickleNet + DSRG ${c.ckpt.state.stage} checkpoint: pseudo-labels needs a WS-FCN checkpoint`,
          );
      },
      openSplit: openPseudoLabelSplit,
      output: resolve(o.output),
      crf: !!o.crf,
    },
    o,
  );
  const result = pseudoLabelResult(d.parts, {
    split: d.split,
    output: resolve(o.output),
    engine: workersEngine(o.engine),
    seconds: d.seconds,
    miouOver: d.checkpoint.config.eval.miouOver,
    crf: !!o.crf,
  });
  return { ...result, imagesPerSecond: d.freshImages / Math.max(d.seconds, 1e-9), ...summary(d) };
}

/**
 * `wsss localize … --redis <url>`: the split's FickleNet seeds and maps by workers (image i's selections are seeded
 * by its index, so the files are one process's); the producer sums the seed scores and writes summary.json and
 * report.html.
 */
export async function runDistributedLocalize(
  o: LocalizeOptions & DistributedOptions,
): Promise<LocalizeCommandResult & DistributedSummary> {
  const output = resolve(o.output);
  const maps = !o.noMaps;
  let ds: RandomAccessDataset | undefined;
  const d = await distribute<LocalizePartial>(
    {
      command: 'localize',
      file: classifierCheckpointPath,
      check: (c, file) => checkClassifier(c.ckpt.state.stage, file),
      openSplit: async (c, split, out) => {
        const opened = await openPseudoLabelSplit(c, split, out);
        ds = opened.ds;
        return opened;
      },
      extra: () => ({ localize: { maps } }),
      key: { maps },
      output,
      crf: false,
    },
    o,
  );
  const c = d.checkpoint;
  const settings = localizeSettings(c.config);
  const result = localizeSummary(d.parts, { split: d.split, ...settings });
  await writeLocalizeSummary(output, result);
  const report = await writeLocalizeReport(output, {
    split: d.split,
    config: c.config,
    classNames: c.classNames,
    summary: result,
    samples: await samplesFromOutput(ds!, output, result.images),
  });
  return { ...result, output, report, checkpoint: c.file, ...summary(d) };
}

/** `wsss infer … --redis <url>`: the inputs' masks and overlays by workers; the items in input order. */
export async function runDistributedInfer(
  o: InferOptions & DistributedOptions,
): Promise<{ images: number; output: string; items: InferItem[] } & DistributedSummary> {
  let plan: InferPlan | undefined;
  const output = resolve(o.output);
  const overlay = o.overlay !== false;
  const d = await distribute<{ images: number; items: InferItem[] }>(
    {
      command: 'infer',
      check: (c, file) => {
        if (c.ckpt.state.stage)
          throw new InputError(
            `${file} is a FickleNet + DSRG ${c.ckpt.state.stage} checkpoint: infer needs a WS-FCN checkpoint`,
          );
      },
      openSplit: async (c) => {
        plan = await inferPlan(o.inputs, c.classNames, o.labels);
        return { split: 'inputs', ds: { length: plan.items.length } };
      },
      extra: (start, end) => ({
        infer: { folders: plan!.folders, items: plan!.items.slice(start, end), overlay },
      }),
      get key() {
        return plan ? { plan, overlay } : undefined;
      },
      output,
      crf: !!o.crf,
    },
    { ...o, split: 'inputs' },
  );
  const items = d.parts.flatMap((p) => p.items);
  return { images: items.length, output, items, ...summary(d) };
}

/** `wsss eval … --redis <url>`: the split evaluated by workers; per-shard confusions summed (the same numbers). */
export async function runDistributedEval(
  o: EvalOptions & DistributedOptions,
): Promise<EvalResult & DistributedSummary> {
  const d = await distribute<EvalPartial>(
    {
      command: 'eval',
      check: (c, file) => {
        if (c.ckpt.state.stage === 'classifier')
          throw new InputError(
            `${file} is a FickleNet classifier checkpoint: it localizes (wsss localize) but does not segment; evaluate the run's DSRG network (checkpoints/last.safetensors)`,
          );
      },
      openSplit: openEvalSplit,
      output: o.saveDir ? resolve(o.saveDir) : '',
      crf: !!o.crf,
    },
    o,
  );
  const c = d.checkpoint;
  const result = await evalResult(d.parts, {
    opened: { ...c, backend: 'workers', dsrg: c.ckpt.state.stage === 'dsrg' },
    split: d.split,
    crf: !!o.crf,
    engine: workersEngine(o.engine),
  });
  return { ...result, ...summary(d) };
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

/** What a shard returns to its producer. */
type ShardResult =
  | PseudoLabelPartial
  | LocalizePartial
  | EvalPartial
  | { images: number; items: InferItem[] };

/** A model opened by a worker: a segmentation network and its engine, or a FickleNet classifier (localize). */
type OpenedModel = (
  | (Awaited<ReturnType<typeof openAnyCheckpoint>> & { engine: InferenceEngine; classifier?: undefined })
  | (Awaited<ReturnType<typeof openClassifierCheckpoint>> & {
      classifier: FickleClassifierNet;
      engine?: undefined;
    })
) & {
  /** Splits opened for a command, by `<command>:<split>`. */
  splits: Map<string, { split: string; ds: RandomAccessDataset }>;
  /** Folders opened for infer shards. */
  folders: Map<string, ImageFolderDataset>;
};

/**
 * `wsss worker --redis <url>`: serves every run registered on that Redis (polling the registry four times a second), one
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
    const key = JSON.stringify([d.checksum, d.overrides, d.command === 'localize' ? 'classifier' : d.engine]);
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
        const overrides = [...d.overrides, ...(o.overrides ?? [])];
        if (d.command === 'localize') {
          const c = await openClassifierCheckpoint(d.checkpoint, overrides);
          await startBackend(c.config.backend, c.config.threads, o.out);
          return { ...c, classifier: classifierOf(c), splits: new Map(), folders: new Map() };
        }
        const opened = await openAnyCheckpoint(d.checkpoint, overrides, o.out);
        const engine = await startEngine((opened.dsrg ?? opened.net)!.model, d.engine, {
          backend: opened.backend,
          threads: opened.config.threads,
          out: o.out,
        });
        return { ...opened, engine, splits: new Map(), folders: new Map() };
      })();
      m.catch(() => models.delete(key));
      models.set(key, m);
    }
    return m;
  };

  const processShard = async (job: Job<ShardJobData>): Promise<ShardResult> => {
    const d = job.data;
    if (d.v !== 1 || !['pseudo-labels', 'localize', 'eval', 'infer'].includes(d.command))
      throw new bullmq.UnrecoverableError(`unknown job ${JSON.stringify(d.command)} (v${d.v}): update wsss`);
    // a start after a failed attempt or a dead worker's: counted for the producer's progress line
    if (job.attemptsStarted > 1) await client.incr(retriesKey(job.queueName));
    const m = await modelFor(d);
    const t0 = performance.now();
    const part = await runShard(d, m);
    o.out.info(
      `${job.queueName} ${job.id}: images ${d.start}–${d.end - 1} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return part;
  };

  const runShard = async (d: ShardJobData, m: OpenedModel): Promise<ShardResult> => {
    if (m.classifier) {
      return localizeRange(
        {
          net: m.classifier,
          ds: await splitOf(d, m),
          dir: d.output,
          ...localizeSettings(m.config),
          maps: d.localize?.maps !== false,
        },
        d.start,
        d.end,
      );
    }
    if (d.command === 'infer') {
      return inferPlanItems(
        {
          net: m.net!,
          config: m.config,
          classNames: m.classNames,
          forward: m.engine.forward,
          output: d.output,
          overlay: d.infer!.overlay,
          crf: !!d.crf,
        },
        { folders: d.infer!.folders, items: [] },
        d.infer!.items,
        m.folders,
      );
    }
    const ds = await splitOf(d, m);
    if (d.command === 'eval')
      return evalRange(
        { opened: m, ds, engine: m.engine, crf: !!d.crf, ...(d.output ? { saveDir: d.output } : {}) },
        d.start,
        d.end,
      );
    return pseudoLabelRange(
      { config: m.config, ds, engine: m.engine, output: d.output, crf: !!d.crf },
      d.start,
      d.end,
    );
  };

  /** The split a shard reads, opened once per model and command. */
  const splitOf = async (d: ShardJobData, m: OpenedModel): Promise<RandomAccessDataset> => {
    const key = `${d.command}:${d.split}`;
    let split = m.splits.get(key);
    if (!split) {
      split = await (d.command === 'eval' ? openEvalSplit : openPseudoLabelSplit)(m, d.split, o.out);
      m.splits.set(key, split);
    }
    return split.ds;
  };

  const sync = async () => {
    const names = new Set(await client.smembers(RUNS_KEY));
    for (const name of names) {
      if (workers.has(name)) continue;
      const w = new bullmq.Worker<ShardJobData, ShardResult>(name, processShard, {
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
        const wake = () => {
          clearTimeout(t);
          done();
        };
        const t = setTimeout(() => {
          o.signal?.removeEventListener('abort', wake);
          done();
        }, REGISTRY_POLL_MS);
        o.signal?.addEventListener('abort', wake, { once: true });
      });
    }
    // finish the shards in hand; unstarted ones stay queued for other workers
    await Promise.all([...workers.values()].map((w) => w.close()));
  } finally {
    for (const m of models.values())
      await m.then(
        async (x) => {
          await x.engine?.release();
          (x.classifier ?? x.dsrg ?? x.net)!.model.dispose();
        },
        () => {},
      );
    client.disconnect();
  }
  return { shards, failed };
}
