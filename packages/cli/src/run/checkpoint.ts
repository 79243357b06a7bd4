/**
 * Checkpoints: one safetensors file per checkpoint, streamed to a flushed temporary file and renamed over the old
 * one, so a crash (kill -9 included) or Ctrl-C at any moment leaves the previous checkpoint or the new one, never a
 * half-written file. The file carries the CRC-32 of its tensor data (`__metadata__.checksum`), which loading
 * verifies: a truncated or altered file is reported as corrupt instead of loading wrong numbers.
 *
 * Format (`wsss-checkpoint` version 1):
 * - tensors `model/<weight originalName>`: every model weight, BN running statistics included
 *   (e.g. `model/backbone/b2/conv_branch2a/kernel`, HWIO, float32);
 * - tensors `optim/<weight originalName>/<slot>`: the optimiser slots (SGD: 0 = momentum; Adam: 0 = m, 1 = v);
 * - `__metadata__`: `format` = `wsss-checkpoint`, `version` = `1`, and `state` = a JSON string of
 *   {@link CheckpointState} (epoch, step, data-loader position, RNG state, optimiser step count, best score,
 *   the resolved config).
 */

import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  type OptimizerState,
  parseSafetensors,
  SAFETENSORS_CHECKSUM_KEY,
  type SafetensorsEntry,
  safetensorsLayout,
  serializeSafetensors,
} from '@wsss/core';
import { readSafetensorsFile, tempPathFor, writeFileAtomic } from '@wsss/core/node';
import type { LoaderPosition } from '@wsss/datasets';
import type { WsssConfig } from '../config/schema.js';
import type { EpochStats } from '../train/epochs.js';
import { CRC_PLACEHOLDER, FileWriterThread } from './fileWriterThread.js';

export const CHECKPOINT_FORMAT = 'wsss-checkpoint';
export const CHECKPOINT_VERSION = '1';

/** Anything whose weights a checkpoint holds: a network with its `tf.LayersModel`. */
export interface CheckpointNet {
  model: tfl.LayersModel;
}

/** Everything but the tensors. */
export interface CheckpointState {
  /** Epochs completed when `position.index` is 0; otherwise the epoch in progress. */
  epoch: number;
  /** Optimisation steps taken. */
  step: number;
  /** Where the data loader resumes. */
  position: LoaderPosition;
  /** @wsss/core `randomState()` (dropout and gate draws). */
  random: { seed: number; counter: number } | null;
  optimizerStep: number;
  /** Best validation score so far (spec §3.10: 1 − mean val loss) and the epoch it was reached. */
  best: { score: number; epoch: number } | null;
  /** Why it was written: 'epoch', 'interval', 'interrupt', 'stop', 'best', 'final'. */
  reason: string;
  /** Running sums of the epoch in progress when written inside an epoch (so its mean covers every step). */
  epochStats?: EpochStats;
  /** FickleNet stages: the epoch-mean training losses of the stage's completed epochs (its early-stop rule's input). */
  epochLosses?: number[];
  /** The FickleNet classifier: each completed epoch's mean prior loss (the level of predicting class frequencies). */
  epochPriorLosses?: number[];
  /** The FickleNet classifier, inside an epoch: the labels of the epoch's batches so far (for its prior loss). */
  labelCounts?: { images: number; positives: number[] };
  config: WsssConfig;
  /** Class names, background first. */
  classNames: string[];
  /** Which network of a multi-stage method (`method: 'ficklenet'`): 'classifier' or 'dsrg'; absent for WS-FCN. */
  stage?: 'classifier' | 'dsrg';
  /** ISO time. */
  savedAt: string;
}

/** The numClasses the config and data imply is stored in `classNames`. */
export interface Checkpoint {
  state: CheckpointState;
  /** Model weights by originalName. */
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  /** Optimiser slots by weight originalName (values in slot order). */
  slots: Map<string, { shape: number[]; values: Float32Array[] }>;
}

/** A checkpoint's tensors and metadata, read from the backend (the moment training has to wait for). */
export interface CheckpointSnapshot {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** Reads weights and optimiser slots off the backend into arrays, with the run state as metadata. */
export async function snapshotCheckpoint(
  net: CheckpointNet,
  optimizer: OptimizerState | null,
  state: CheckpointState,
): Promise<CheckpointSnapshot> {
  const entries = new Map<string, SafetensorsEntry>();
  const byVarName = new Map<string, string>();
  for (const w of net.model.weights) {
    // a fresh array on wasm/webgpu; on cpu the tensor's own values, which no update changes (updates make new tensors)
    const data = (await w.read().data()) as Float32Array;
    entries.set(`model/${w.originalName}`, { dtype: 'F32', shape: [...w.shape] as number[], data });
    byVarName.set((w.read() as tf.Variable).name, w.originalName);
  }
  if (optimizer) {
    for (const [varName, slot] of Object.entries(optimizer.slots)) {
      const name = byVarName.get(varName);
      if (!name) throw new Error(`checkpoint: optimiser slot for unknown variable '${varName}'`);
      slot.values.forEach((v, i) => {
        entries.set(`optim/${name}/${i}`, { dtype: 'F32', shape: slot.shape, data: v });
      });
    }
  }
  return {
    entries,
    metadata: { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, state: JSON.stringify(state) },
  };
}

/** Serialises weights, optimiser state and run state (with the checksum). */
export async function checkpointBytes(
  net: CheckpointNet,
  optimizer: OptimizerState | null,
  state: CheckpointState,
): Promise<Uint8Array> {
  const s = await snapshotCheckpoint(net, optimizer, state);
  return serializeSafetensors(s.entries, s.metadata, { checksum: true });
}

/** Writes a checkpoint file atomically (see the module comment). */
export async function saveCheckpoint(
  file: string,
  net: CheckpointNet,
  optimizer: OptimizerState | null,
  state: CheckpointState,
): Promise<void> {
  const s = await snapshotCheckpoint(net, optimizer, state);
  const layout = safetensorsLayout(s.entries, s.metadata, { checksum: true });
  await writeFileAtomic(file, [layout.header, ...layout.parts]);
}

/** Backends whose `data()` returns a fresh array (safe to hand to another thread); elsewhere the data is copied. */
const FRESH_DATA_BACKENDS = new Set(['wasm', 'webgpu', 'webgl']);

/**
 * Writes a run's checkpoints with as little pause as it can: `save` reads the tensors off the backend (training
 * waits for that), then a worker thread checksums the data and streams the file to disk while training goes on.
 * A save waits for the previous write first, and `settle()` waits for the last one; a failed write is thrown
 * there. `onWritten` runs after each file is in place.
 */
export class CheckpointWriter {
  private pending: Promise<void> | null = null;
  private failure: { error: unknown } | null = null;
  private readonly thread = new FileWriterThread();
  /** Milliseconds training waited in the last save (reading the tensors off the backend). */
  lastPauseMs = 0;
  /** Bytes of the last checkpoint file. */
  lastBytes = 0;

  constructor(private readonly onWritten?: (file: string) => void | Promise<void>) {}

  /** Snapshots the checkpoint now and writes `file` in the background (or before returning with `wait`). */
  async save(
    file: string,
    net: CheckpointNet,
    optimizer: () => Promise<OptimizerState | null>,
    state: CheckpointState,
    opts: { wait?: boolean } = {},
  ): Promise<void> {
    await this.settle();
    const t0 = performance.now();
    const s = await snapshotCheckpoint(net, await optimizer(), state);
    if (!FRESH_DATA_BACKENDS.has(tf.getBackend()))
      for (const e of s.entries.values()) e.data = (e.data as Float32Array).slice();
    const placeholder = `crc32:${CRC_PLACEHOLDER}`;
    const layout = safetensorsLayout(s.entries, { ...s.metadata, [SAFETENSORS_CHECKSUM_KEY]: placeholder });
    const needle = `"${SAFETENSORS_CHECKSUM_KEY}":"${placeholder}"`;
    const crcAt =
      Buffer.from(layout.header.buffer, layout.header.byteOffset, layout.header.length).indexOf(needle) +
      needle.length -
      1 -
      CRC_PLACEHOLDER.length;
    this.lastPauseMs = performance.now() - t0;
    this.lastBytes = layout.byteLength;
    await fsp.mkdir(dirname(file), { recursive: true });
    const write = this.thread
      .write(file, tempPathFor(file), layout.header, crcAt, layout.parts)
      .then(() => this.onWritten?.(file));
    this.pending = write.catch((error: unknown) => {
      this.failure = { error };
    });
    if (opts.wait) await this.settle();
  }

  /** Waits for the write in progress; throws if a background write failed. */
  async settle(): Promise<void> {
    const p = this.pending;
    this.pending = null;
    if (p) await p;
    const f = this.failure;
    this.failure = null;
    if (f) throw f.error;
  }

  /** Waits for the write in progress, then stops the writer thread. */
  async close(): Promise<void> {
    try {
      await this.settle();
    } finally {
      await this.thread.close();
    }
  }
}

/** Parses checkpoint bytes (see the format above). */
export function parseCheckpoint(bytes: Uint8Array, source = '<checkpoint>'): Checkpoint {
  return fromFile(parseSafetensors(bytes, { source }), source);
}

function fromFile(file: ReturnType<typeof parseSafetensors>, source: string): Checkpoint {
  if (file.metadata['format'] !== CHECKPOINT_FORMAT) {
    throw new Error(
      `${source} is not a wsss checkpoint (metadata format = ${JSON.stringify(file.metadata['format'])}; expected '${CHECKPOINT_FORMAT}')`,
    );
  }
  if (file.metadata['version'] !== CHECKPOINT_VERSION) {
    throw new Error(
      `${source}: checkpoint version ${file.metadata['version']} is not supported (expected ${CHECKPOINT_VERSION})`,
    );
  }
  const state = JSON.parse(file.metadata['state'] ?? 'null') as CheckpointState;
  const weights: Checkpoint['weights'] = new Map();
  const slots: Checkpoint['slots'] = new Map();
  for (const [key, t] of file.tensors) {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
    if (key.startsWith('model/')) weights.set(key.slice(6), { shape: [...t.shape], data });
    else if (key.startsWith('optim/')) {
      const at = key.lastIndexOf('/');
      const name = key.slice(6, at);
      const i = Number(key.slice(at + 1));
      const s = slots.get(name) ?? { shape: [...t.shape], values: [] };
      s.values[i] = data;
      slots.set(name, s);
    }
  }
  return { state, weights, slots };
}

/** Reads a checkpoint file. */
export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  return fromFile(await readSafetensorsFile(file), file);
}

/**
 * Writes checkpoint weights into a model built from the same config.
 * @throws listing missing, unexpected and mis-shaped weights.
 */
export function applyCheckpointWeights(net: CheckpointNet, ckpt: Checkpoint, source = 'checkpoint'): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const w of net.model.weights) {
    const c = ckpt.weights.get(w.originalName);
    seen.add(w.originalName);
    if (!c) problems.push(`missing '${w.originalName}'`);
    else if (!tf.util.arraysEqual(c.shape, w.shape as number[]))
      problems.push(
        `'${w.originalName}' has shape [${c.shape}] in the checkpoint, [${w.shape}] in the model`,
      );
  }
  for (const k of ckpt.weights.keys()) if (!seen.has(k)) problems.push(`unexpected '${k}'`);
  if (problems.length) {
    throw new Error(
      `${source} does not match the model (was it written with another model config?):\n  ${problems.slice(0, 20).join('\n  ')}` +
        (problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''),
    );
  }
  for (const w of net.model.weights) {
    const c = ckpt.weights.get(w.originalName)!;
    tf.tidy(() => {
      w.write(tf.tensor(c.data, c.shape, 'float32'));
    });
  }
}

/** The optimiser state of a checkpoint, keyed by the current model's variable names. */
export function checkpointOptimizerState(net: CheckpointNet, ckpt: Checkpoint): OptimizerState {
  const byOriginal = new Map(net.model.weights.map((w) => [w.originalName, (w.read() as tf.Variable).name]));
  const slots: OptimizerState['slots'] = {};
  for (const [name, s] of ckpt.slots) {
    const v = byOriginal.get(name);
    if (!v) throw new Error(`checkpoint: optimiser slot for '${name}', which the model lacks`);
    slots[v] = s;
  }
  return { step: ckpt.state.optimizerStep, slots };
}
