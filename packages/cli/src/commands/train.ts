/** `wsss train`: train WS-FCN (or a Table I variant) into a run folder; `--resume` continues a run exactly. */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { withoutInitialization } from '@wsss/core';
import { writeFileAtomic } from '@wsss/core/node';
import { checkConsistency } from '../config/load.js';
import { type PartialConfig, savedConfig } from '../config/presets.js';
import { ConfigError, validate, type WsssConfig } from '../config/schema.js';
import type { WsFcn } from '../model/wsfcn.js';
import { applyCheckpointWeights, type Checkpoint } from '../run/checkpoint.js';
import { bestRule } from '../run/evaluate.js';
import type { Output } from '../run/output.js';
import { defaultRunDir, readMetrics, readRunConfig, writeRunConfig } from '../run/runDir.js';
import { type RunFolder, withRunFolder } from '../run/runFolder.js';
import { writeRunReport } from '../run/writeReport.js';
import { LAST, type TrainLoopResult, trainLoop } from '../train/loop.js';
import { buildNet, buildSeededNet, loadBackboneWeights, readCheckpoint, startBackend } from './common.js';
import { dataNotes, openTrainingData, runDataInfo } from './data.js';
import { InputError } from './errors.js';

export interface TrainOptions {
  /** The run's configuration (not needed with `resume`: the checkpoint's is used). */
  config?: WsssConfig;
  preset: string;
  out: Output;
  /** Run folder (default runs/train-<time>). */
  runDir?: string;
  /** A run folder or checkpoint to continue; its config is used (with `overrides` applied on top). */
  resume?: string;
  /** Replace the run `runDir` holds (moved aside when training starts, deleted after the first checkpoint). */
  overwrite?: boolean;
  /** Command-line overrides, re-applied over a resumed run's config (model keys may not change). */
  overrides?: PartialConfig[];
  signal?: AbortSignal;
  /** Stop after this many steps (checkpoint written; `--stop-after <n>steps`). */
  stopAfterSteps?: number;
  /** Stop after the first step ending at or after this time, `Date.now()` ms (checkpoint written; `--stop-after 2h`). */
  deadline?: number;
  /** Write report.html at the end (default true). */
  report?: boolean;
  argv?: string[];
  /** The command that continues this run, in the Ctrl-C message (default `wsss train --resume <run>`). */
  resumeCommand?: string;
}

export interface TrainResult extends TrainLoopResult {
  runDir: string;
  backend: string;
  report?: string;
  net: WsFcn;
  config: WsssConfig;
  classNames: string[];
}

/**
 * The FickleNet run a `--resume` path names: its run folder, or a checkpoint file in its `checkpoints/` folder
 * (`file`); null for anything else.
 */
export async function fickleResumeSource(
  p: string,
): Promise<{ dir: string; info: Awaited<ReturnType<typeof readRunConfig>>; file?: string } | null> {
  const info = await fickleRunConfig(p);
  if (info) return { dir: resolve(p), info };
  if (!existsSync(p) || statSync(p).isDirectory() || basename(dirname(resolve(p))) !== 'checkpoints')
    return null;
  const dir = resolve(dirname(p), '..');
  const parent = await fickleRunConfig(dir);
  return parent ? { dir, info: parent, file: resolve(p) } : null;
}

/** The config.json of `p` when `p` is the run folder of a `--method ficklenet` run, else null. */
export async function fickleRunConfig(p: string): Promise<Awaited<ReturnType<typeof readRunConfig>> | null> {
  if (!existsSync(p) || !statSync(p).isDirectory()) return null;
  const info = await readRunConfig(p).catch(() => null);
  return info?.config?.method === 'ficklenet' ? info : null;
}

/** The checkpoint to resume from: a `.safetensors` file or a run folder's `checkpoints/last.safetensors`. */
export function resumeTarget(p: string): { file: string; runDir: string } {
  if (existsSync(p) && statSync(p).isDirectory()) {
    const file = join(p, 'checkpoints', LAST);
    if (!existsSync(file))
      throw new InputError(
        `--resume ${p}: the run folder has no checkpoints/${LAST} (it stopped before its first checkpoint); start it again with --out ${p} --overwrite`,
      );
    return { file, runDir: resolve(p) };
  }
  if (!existsSync(p)) throw new InputError(`--resume ${p}: no such run folder or checkpoint`);
  return { file: p, runDir: resolve(dirname(p), '..') };
}

export async function runTrain(o: TrainOptions): Promise<TrainResult> {
  let config = o.config;
  if (!config && !o.resume) throw new Error('runTrain: pass config (or resume)');
  let runDir = resolve(o.runDir ?? defaultRunDir('train'));
  let ckpt: Checkpoint | undefined;
  let source: string | undefined; // the run folder a resumed checkpoint belongs to
  if (o.resume) {
    const target = resumeTarget(o.resume);
    ckpt = await readCheckpoint(target.file);
    if (ckpt.state.stage)
      throw new InputError(
        `--resume ${o.resume}: a FickleNet + DSRG ${ckpt.state.stage} checkpoint; resume such a run with its run folder (wsss train --resume <run folder>)`,
      );
    source = target.runDir;
    runDir = o.runDir ? runDir : target.runDir;
    config = savedConfig(ckpt.state.config, ...(o.overrides ?? []));
    validate(config);
    checkConsistency(config);
    if (JSON.stringify(config.model) !== JSON.stringify(ckpt.state.config.model))
      throw new ConfigError(
        '--resume: model options cannot change when resuming (the checkpoint holds that model)',
      );
  }
  // --resume <checkpoint> --out <other folder> continues that run in a new folder (a fork)
  const fork = source !== undefined && source !== runDir;
  const mode = o.resume && !fork ? 'resume' : o.overwrite ? 'overwrite' : 'new';
  const resolved = config!;
  return withRunFolder({ dir: runDir, mode, command: o.argv ?? [], out: o.out }, (folder) =>
    trainIn(folder, o, resolved, ckpt, fork ? source : undefined),
  );
}

async function trainIn(
  folder: RunFolder,
  o: TrainOptions,
  config: WsssConfig,
  ckpt: Checkpoint | undefined,
  forkedFrom: string | undefined,
): Promise<TrainResult> {
  const out = o.out;
  const runDir = folder.dir;
  const backend = await startBackend(config.backend, config.threads, out);
  const data = await openTrainingData({
    config,
    runDir,
    out,
    ...(ckpt ? { classNames: ckpt.state.classNames } : {}),
  });
  const { train, val, classNames } = data;
  // a resumed run's weights come from its checkpoint: no random initialisation
  const net = ckpt
    ? withoutInitialization(() => buildNet(config, train.numClasses))
    : buildSeededNet(config, train.numClasses, config.train.seed);
  try {
    if (ckpt) {
      applyCheckpointWeights(net, ckpt, o.resume);
    } else {
      if (config.model.weights) await loadBackboneWeights(net, config.model.weights, out);
      else if (config.model.backbone.bnMode !== 'batch')
        out.warn(
          'training without ImageNet backbone weights (model.weights) while backbone BN is frozen; pass --weights <.pth|.safetensors> or use bnMode batch',
        );
    }
  } catch (e) {
    net.model.dispose();
    throw e;
  }
  // everything that can refuse the run has passed: from here on the run folder is written
  const previous = ckpt ? await readRunConfig(forkedFrom ?? runDir).catch(() => null) : null;
  const preset = previous?.preset ?? o.preset;
  await writeRunConfig(runDir, config, {
    preset,
    command: previous?.command ?? o.argv ?? [],
    createdAt: previous?.createdAt ?? new Date().toISOString(),
    classNames,
    data: runDataInfo(data),
    ...(ckpt
      ? {
          resumed: [
            ...(previous?.resumed ?? []),
            { command: o.argv ?? [], at: new Date().toISOString(), step: ckpt.state.step },
          ],
        }
      : {}),
  });
  if (forkedFrom) await copyMetrics(forkedFrom, runDir, ckpt!.state.step);
  out.info(
    `training ${config.model.variant} (${net.countParameters().toLocaleString('en')} parameters) on ${train.length} ${config.data.dataset} images, ` +
      `${val ? `${val.length} for validation, ` : ''}${config.train.epochs} epochs of ${Math.floor(train.length / config.train.batchSize) || 1} steps → ${runDir}\n` +
      `best checkpoint: by ${bestRule(config.train.bestBy)}`,
  );
  out.event('start', {
    runDir,
    config,
    numClasses: train.numClasses,
    trainImages: train.length,
    valImages: val?.length ?? 0,
  });
  let loop: TrainLoopResult;
  try {
    loop = await trainLoop({
      net,
      config,
      train: data.trainView,
      val,
      runDir,
      out,
      ...(ckpt ? { resume: ckpt } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.stopAfterSteps !== undefined ? { stopAfterSteps: o.stopAfterSteps } : {}),
      ...(o.deadline !== undefined ? { deadline: o.deadline } : {}),
      resumeCommand: o.resumeCommand ?? `wsss train --resume ${runDir}`,
      onCheckpoint: () => folder.checkpointWritten(),
    });
  } catch (e) {
    net.model.dispose();
    throw e;
  }
  const result: TrainResult = { ...loop, runDir, backend, net, config, classNames };
  if (loop.status === 'done' && o.report !== false) {
    const r = await writeRunReport({
      net,
      config,
      preset,
      backend,
      runDir,
      val,
      classNames,
      out,
      title: `wsss train — ${config.model.variant} on ${config.data.dataset}`,
      notes: dataNotes(data, config),
    });
    result.report = r.file;
  }
  return result;
}

/** A forked run's metrics: the source run's records up to the checkpoint's step. */
async function copyMetrics(from: string, to: string, step: number): Promise<void> {
  const records = (await readMetrics(join(from, 'metrics.jsonl'))).filter(
    (r) => typeof r['step'] !== 'number' || (r['step'] as number) <= step,
  );
  if (records.length)
    await writeFileAtomic(join(to, 'metrics.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
}
