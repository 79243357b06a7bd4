/**
 * What the compute commands share: backend start-up, opening data sets, building the network from a config,
 * loading backbone weights and checkpoints.
 */
import { existsSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { wrn38StateDictRules } from '@wsss/backbone-wrn38';
import {
  type BackendChoice,
  describeBackend,
  loadStateDict,
  seedRandom,
  setBackend,
  withoutInitialization,
} from '@wsss/core';
import { readPth, readSafetensorsFile } from '@wsss/core/node';
import { ImageFolderDataset } from '@wsss/datasets';
import { type PartialConfig, savedConfig } from '../config/presets.js';
import { validate, type WsssConfig } from '../config/schema.js';
import { buildDsrgNet } from '../ficklenet/build.js';
import type { DsrgNet } from '../ficklenet/model.js';
import { createWsFcn, type WsFcn } from '../model/wsfcn.js';
import { applyCheckpointWeights, type Checkpoint, loadCheckpoint } from '../run/checkpoint.js';
import type { Output } from '../run/output.js';
import { InputError } from './errors.js';

/** Options of the commands that read a checkpoint and write a split's results into a folder. */
export interface SplitOutputOptions {
  checkpoint: string;
  output: string;
  out: Output;
  /** Split (default: the command's, from the checkpoint's config). */
  split?: string;
  /** First n images only. */
  limit?: number;
  /** Config overrides from the command line. */
  overrides?: PartialConfig[];
}

/** Starts the backend and prints which one runs (and its adapter or wasm threads). */
export async function startBackend(
  choice: BackendChoice,
  threads: number | 'auto',
  out: Output,
): Promise<string> {
  const name = await setBackend(choice, { wasmThreads: threads });
  const d = describeBackend();
  const detail = d.adapter
    ? ` (${d.adapter.description || d.adapter.device || d.adapter.vendor}${d.adapter.software ? ', software' : ''})`
    : d.wasm
      ? ` (SIMD ${d.wasm.simd ? 'on' : 'off'}, ${d.wasm.threads} thread${d.wasm.threads === 1 ? '' : 's'})`
      : '';
  out.info(`backend: ${name}${detail}${choice === 'auto' ? ' [auto]' : ''}`);
  out.event('backend', { backend: name, requested: choice, ...d });
  return name;
}

export { ensureSyntheticSet, openSplit, syntheticRoot } from './data.js';

/**
 * Opens a folder of images for inference: every image in it (recursively), EXIF orientation applied; with
 * `labels`, each listed image carries its labels (an image without a row has none).
 */
export async function openFolder(
  dir: string,
  classNames?: readonly string[],
  labels?: string,
): Promise<ImageFolderDataset> {
  return ImageFolderDataset.open({
    root: dir,
    ...(classNames ? { classNames } : {}),
    ...(labels ? { labels: resolve(labels), listedOnly: false } : {}),
  });
}

const VARIANT_MODULES = {
  wsfcn: { context: 'fca', fusion: 'sf2' },
  ssss: { context: 'aspp', fusion: 'gci' },
  'fca-gci': { context: 'fca', fusion: 'gci' },
  'aspp-sf2': { context: 'aspp', fusion: 'sf2' },
} as const;

/** Builds the configured network for `numClasses` foreground classes. */
export function buildNet(config: WsssConfig, numClasses: number): WsFcn {
  const m = config.model;
  const { channels, ...rest } = m.backbone;
  return createWsFcn({
    numClasses,
    backbone: channels ? { ...rest, channels } : rest,
    ...VARIANT_MODULES[m.variant],
    psi: m.psi,
    contextBnMode: m.contextBnMode,
  });
}

/**
 * Builds the network with a reproducible initialisation: the wsss initialisers draw from @wsss/core's seeded
 * stream while it is seeded (`seedRandom`), so the same seed gives the same weights. The stream is then left
 * unseeded; the training loop seeds it for the dropout and gate draws (and restores it on resume).
 */
export function buildSeededNet(config: WsssConfig, numClasses: number, seed: number): WsFcn {
  return buildSeededWith(seed, () => buildNet(config, numClasses));
}

/** Runs a network builder with @wsss/core's random stream seeded from `seed` (see {@link buildSeededNet}). */
export function buildSeededWith<T>(seed: number, build: () => T): T {
  seedRandom(seed ^ 0x5eed17);
  try {
    return build();
  } finally {
    seedRandom(null);
  }
}

/** Loads ImageNet backbone weights (reference ResNet-38d names) from a `.pth` or `.safetensors` file. */
export async function loadBackboneWeights(
  net: Pick<WsFcn, 'backbone'>,
  file: string,
  out: Output,
): Promise<void> {
  if (!existsSync(file)) throw new InputError(`backbone weights: no file ${file}`);
  const ext = extname(file).toLowerCase();
  let tensors: Map<string, { shape: readonly number[]; data: ArrayLike<number> }>;
  try {
    tensors =
      ext === '.safetensors' ? (await readSafetensorsFile(file)).tensors : (await readPth(file)).tensors;
  } catch (e) {
    throw new InputError(`backbone weights ${file}: ${(e as Error).message}`, { cause: e });
  }
  const first = [...tensors.keys()][0] ?? '';
  const prefix = first.startsWith('module.') ? 'module.' : '';
  try {
    const report = loadStateDict(net.backbone, tensors, wrn38StateDictRules('backbone', prefix));
    out.info(
      `loaded ${report.loaded.length} backbone weights from ${file} (${report.ignored.length} keys ignored)`,
    );
  } catch (e) {
    throw new InputError(`backbone weights ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads a checkpoint, naming the file in errors. */
export async function readCheckpoint(file: string): Promise<Checkpoint> {
  if (!existsSync(file)) throw new InputError(`no checkpoint at ${file}`);
  try {
    return await loadCheckpoint(file);
  } catch (e) {
    throw new InputError(`checkpoint ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * A checkpoint path from `--checkpoint`: a `.safetensors` file, or a run folder (its `checkpoints/best`, else
 * `checkpoints/last`).
 */
export function checkpointPath(p: string): string {
  if (p.endsWith('.safetensors')) return p;
  for (const name of ['best', 'last']) {
    const f = join(p, 'checkpoints', `${name}.safetensors`);
    if (existsSync(f)) return f;
  }
  throw new InputError(
    `${p}: neither a .safetensors checkpoint nor a run folder with checkpoints/best|last.safetensors`,
  );
}

/** What {@link openCheckpoint} and {@link openAnyCheckpoint} return. */
interface OpenedCheckpoint {
  file: string;
  ckpt: Checkpoint;
  config: WsssConfig;
  classNames: string[];
  backend: string;
}

export async function openCheckpointFile(path: string, overrides: PartialConfig[]) {
  const file = checkpointPath(path);
  const ckpt = await readCheckpoint(file);
  // keys added after the checkpoint was written take the reference defaults (or the behaviour it was made with)
  const config: WsssConfig = savedConfig(ckpt.state.config, ...overrides);
  validate(config);
  return { file, ckpt, config, classNames: ckpt.state.classNames };
}

/**
 * Opens a WS-FCN checkpoint for the inference commands: reads it, applies command-line overrides to its config
 * (eval.*, data.*, backend, threads), starts the backend, then builds the network with the checkpoint's weights.
 * A FickleNet + DSRG checkpoint is refused with a message saying which commands read it.
 */
export async function openCheckpoint(
  path: string,
  overrides: PartialConfig[],
  out: Output,
): Promise<OpenedCheckpoint & { net: WsFcn }> {
  const c = await openCheckpointFile(path, overrides);
  const stage = c.ckpt.state.stage;
  if (stage)
    throw new InputError(
      `${c.file} is a FickleNet + DSRG ${stage} checkpoint (wsss train --method ficklenet): wsss eval reads the DSRG network, wsss localize the classifier; this command needs a WS-FCN checkpoint`,
    );
  const backend = await startBackend(c.config.backend, c.config.threads, out);
  const net = withoutInitialization(() => buildNet(c.ckpt.state.config, c.classNames.length - 1));
  applyCheckpointWeights(net, c.ckpt, c.file);
  return { ...c, backend, net };
}

/** As {@link openCheckpoint}, but a DSRG checkpoint of a FickleNet + DSRG run opens too (as `dsrg`). */
export async function openAnyCheckpoint(
  path: string,
  overrides: PartialConfig[],
  out: Output,
): Promise<OpenedCheckpoint & ({ net: WsFcn; dsrg?: undefined } | { net?: undefined; dsrg: DsrgNet })> {
  const c = await openCheckpointFile(path, overrides);
  const stage = c.ckpt.state.stage;
  if (stage === 'classifier')
    throw new InputError(
      `${c.file} is a FickleNet classifier checkpoint: it localizes (wsss localize) but does not segment; evaluate the run's DSRG network (checkpoints/last.safetensors)`,
    );
  const backend = await startBackend(c.config.backend, c.config.threads, out);
  if (stage === 'dsrg') {
    const dsrg = withoutInitialization(() => buildDsrgNet(c.ckpt.state.config, c.classNames.length - 1));
    applyCheckpointWeights(dsrg, c.ckpt, c.file);
    return { ...c, backend, dsrg };
  }
  const net = withoutInitialization(() => buildNet(c.ckpt.state.config, c.classNames.length - 1));
  applyCheckpointWeights(net, c.ckpt, c.file);
  return { ...c, backend, net };
}
