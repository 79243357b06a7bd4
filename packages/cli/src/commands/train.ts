/** `wsss train`: train WS-FCN (or a Table I variant) into a run folder; `--resume` continues a run exactly. */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkConsistency } from '../config/load.js';
import { type PartialConfig, VOC_PRESET } from '../config/presets.js';
import { ConfigError, deepMerge, validate, type WsssConfig } from '../config/schema.js';
import type { WsFcn } from '../model/wsfcn.js';
import { applyCheckpointWeights, type Checkpoint } from '../run/checkpoint.js';
import type { Output } from '../run/output.js';
import { defaultRunDir, readRunConfig, writeRunConfig } from '../run/runDir.js';
import { writeRunReport } from '../run/writeReport.js';
import { LAST, type TrainLoopResult, trainLoop } from '../train/loop.js';
import { buildSeededNet, loadBackboneWeights, openSplit, readCheckpoint, startBackend } from './common.js';
import { InputError } from './errors.js';

export interface TrainOptions {
  config: WsssConfig;
  preset: string;
  out: Output;
  /** Run folder (default runs/train-<time>). */
  runDir?: string;
  /** A run folder or checkpoint to continue; its config is used (with `overrides` applied on top). */
  resume?: string;
  /** Command-line overrides, re-applied over a resumed run's config (model keys may not change). */
  overrides?: PartialConfig[];
  signal?: AbortSignal;
  /** For tests: stop after this many steps (checkpoint written). */
  stopAfterSteps?: number;
  /** Write report.html at the end (default true). */
  report?: boolean;
  argv?: string[];
}

export interface TrainResult extends TrainLoopResult {
  runDir: string;
  backend: string;
  report?: string;
  net: WsFcn;
  config: WsssConfig;
  classNames: string[];
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
    if (!existsSync(file)) throw new InputError(`--resume ${p}: the run folder has no checkpoints/${LAST}`);
    return { file, runDir: resolve(p) };
  }
  if (!existsSync(p)) throw new InputError(`--resume ${p}: no such run folder or checkpoint`);
  return { file: p, runDir: resolve(dirname(p), '..') };
}

export async function runTrain(o: TrainOptions): Promise<TrainResult> {
  const out = o.out;
  let config = o.config;
  let runDir = resolve(o.runDir ?? defaultRunDir('train'));
  let ckpt: Checkpoint | undefined;
  if (o.resume) {
    const target = resumeTarget(o.resume);
    ckpt = await readCheckpoint(target.file);
    if (ckpt.state.stage)
      throw new InputError(
        `--resume ${o.resume}: a FickleNet + DSRG ${ckpt.state.stage} checkpoint; resume such a run with its run folder (wsss train --resume <run folder>)`,
      );
    runDir = o.runDir ? runDir : target.runDir;
    config = deepMerge(VOC_PRESET, ckpt.state.config, ...(o.overrides ?? []));
    validate(config);
    checkConsistency(config);
    if (JSON.stringify(config.model) !== JSON.stringify(ckpt.state.config.model))
      throw new ConfigError(
        '--resume: model options cannot change when resuming (the checkpoint holds that model)',
      );
  }
  const backend = await startBackend(config.backend, config.threads, out);
  const train = await openSplit(config, config.data.trainSplit, runDir, out);
  const val = await openSplit(config, config.data.valSplit, runDir, out).catch((e) => {
    out.warn(
      `no validation split '${config.data.valSplit}' (${(e as Error).message}); training without validation`,
    );
    return null;
  });
  const classNames = [...train.classNames];
  const net = buildSeededNet(config, train.numClasses, config.train.seed);
  if (ckpt) {
    applyCheckpointWeights(net, ckpt, o.resume);
  } else {
    if (config.model.weights) await loadBackboneWeights(net, config.model.weights, out);
    else if (config.model.backbone.bnMode !== 'batch')
      out.warn(
        'training without ImageNet backbone weights (model.weights) while backbone BN is frozen; pass --weights <.pth|.safetensors> or use bnMode batch',
      );
  }
  const preset = ckpt
    ? await readRunConfig(runDir).then(
        (r) => r.preset,
        () => o.preset,
      )
    : o.preset;
  await writeRunConfig(runDir, config, {
    preset,
    command: o.argv ?? [],
    createdAt: new Date().toISOString(),
  });
  out.info(
    `training ${config.model.variant} (${net.countParameters().toLocaleString('en')} parameters) on ${train.length} ${config.data.dataset} images, ` +
      `${val ? `${val.length} for validation, ` : ''}${config.train.epochs} epochs of ${Math.floor(train.length / config.train.batchSize) || 1} steps → ${runDir}`,
  );
  out.event('start', {
    runDir,
    config,
    numClasses: train.numClasses,
    trainImages: train.length,
    valImages: val?.length ?? 0,
  });
  const loop = await trainLoop({
    net,
    config,
    train,
    val,
    runDir,
    out,
    ...(ckpt ? { resume: ckpt } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.stopAfterSteps !== undefined ? { stopAfterSteps: o.stopAfterSteps } : {}),
  });
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
    });
    result.report = r.file;
  }
  return result;
}
