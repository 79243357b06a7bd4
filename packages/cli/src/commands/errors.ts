/**
 * Exit codes of `wsss` (documented in `wsss --help` and the README) and the errors that map to them.
 */
import { BackendUnavailableError } from '@wsss/core';
import { DatasetError } from '@wsss/datasets';
import { ConfigError } from '../config/schema.js';
import { RunLockedError } from '../run/runFolder.js';

export const EXIT = {
  /** Success. */
  OK: 0,
  /** An unexpected error (a bug: please report it with the message). */
  INTERNAL: 1,
  /** Bad command line or configuration: unknown command/option, a value not allowed. */
  USAGE: 2,
  /** Input problem: a missing or unreadable file, data set, checkpoint or weights file. */
  INPUT: 3,
  /** The requested compute backend or inference engine (ONNX Runtime, its execution provider) cannot start. */
  BACKEND: 4,
  /** Training stopped on a NaN/Inf loss; the last good checkpoint is kept. */
  DIVERGED: 5,
  /** The run folder is in use by another wsss process (its lock is live). */
  LOCKED: 6,
  /** The backend ran out of memory (the wasm heap's 4 GB, or `WSSS_WASM_HEAP_LIMIT_MB`); the message says what uses less. */
  MEMORY: 7,
  /** Interrupted (Ctrl-C / SIGTERM); training wrote a checkpoint to resume from. */
  INTERRUPTED: 130,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    unexpected error (a bug; please report the message)
  2    bad command line or configuration (the message names the option or key, the value and what is allowed)
  3    input problem: missing/unreadable data set, image, checkpoint or weights file
  4    the requested backend or --engine onnx cannot start (the message says why and what to install)
  5    training stopped on a NaN/Inf loss (the message names the step; the last good checkpoint is kept)
  6    the run folder is in use by another wsss process (the message names it: pid, host, command)
  7    the backend ran out of memory (the message says which options use less; wsss bench --find-batch)
  130  interrupted (Ctrl-C/SIGTERM); training writes checkpoints/last.safetensors first, continue with --resume`;

/** An input problem (exit 3). */
export class InputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InputError';
  }
}

/** Training diverged (exit 5). */
/** The requested inference engine cannot start: onnxruntime-node missing, or its execution provider unavailable. */
export class EngineUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineUnavailableError';
  }
}

export class DivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DivergedError';
  }
}

/** The run was interrupted by a signal (exit 130). */
export class InterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterruptedError';
  }
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof ConfigError) return EXIT.USAGE;
  if (e instanceof InputError || e instanceof DatasetError) return EXIT.INPUT;
  if (e instanceof BackendUnavailableError || e instanceof EngineUnavailableError) return EXIT.BACKEND;
  if (e instanceof DivergedError) return EXIT.DIVERGED;
  if (e instanceof InterruptedError) return EXIT.INTERRUPTED;
  if (e instanceof RunLockedError) return EXIT.LOCKED;
  if (isOutOfMemory((e as Error)?.message ?? '')) return EXIT.MEMORY;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR') return EXIT.INPUT;
  return EXIT.INTERNAL;
}

/** Whether an error message is the wasm heap running out (our guard's, or the runtime's abort). */
export function isOutOfMemory(message: string): boolean {
  return /^Aborted\(|wasm backend out of memory|memory access out of bounds/.test(message);
}
