/**
 * Run folders (DESIGN §5):
 *
 * ```
 * <run>/config.json                 the resolved configuration (+ preset, command line, resumes)
 * <run>/metrics.jsonl               one JSON object per line: step, epoch, val, diverged, eval records
 * <run>/checkpoints/last.safetensors  after every epoch, every train.checkpointEvery, on Ctrl-C and stops
 *                                   (atomic, checksummed)
 * <run>/.lock                       while a process trains into the folder (run/runFolder.ts)
 * <run>/checkpoints/best.safetensors  best validation score (spec §3.10 rule)
 * <run>/report.html                 self-contained report (pictures, curves, per-class IoU)
 * ```
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '@wsss/core/node';
import type { WsssConfig } from '../config/schema.js';

/** `runs/<prefix>-YYYYMMDD-HHMMSS` (UTC). */
export function defaultRunDir(prefix: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return resolve('runs', `${prefix}-${stamp}`);
}

export interface RunInfo {
  preset: string;
  /** The command line that started the run. */
  command: string[];
  createdAt: string;
  /** Each `--resume` of the run: its command line, when, and the step it continued from. */
  resumed?: { command: string[]; at: string; step: number }[];
  /** A run started from another run's checkpoint (a fork): that run folder, the checkpoint and its step. */
  forkedFrom?: { run: string; checkpoint: string; step: number };
  /** Class names, background first (also in every checkpoint). */
  classNames?: string[];
  /** The data the run trains on: image counts, how many train on masks, what the pre-flight scan left out. */
  data?: Record<string, unknown>;
  /** For a run made by `wsss import`: the source file, the code it came from, what it held. */
  imported?: Record<string, unknown>;
}

/** Writes `config.json` (atomically). */
export async function writeRunConfig(dir: string, config: WsssConfig, info: RunInfo): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify({ ...info, config }, null, 2)}\n`);
}

/** Reads `config.json` of a run folder. */
export async function readRunConfig(dir: string): Promise<{ config: WsssConfig } & RunInfo> {
  return JSON.parse(await fsp.readFile(join(dir, 'config.json'), 'utf8'));
}

/** `metrics.jsonl`: appended in memory, flushed to disk (append) at epoch ends and on exit. */
export class MetricsLog {
  private pending: string[] = [];
  constructor(readonly file: string) {}

  append(record: Record<string, unknown>): void {
    this.pending.push(JSON.stringify({ time: new Date().toISOString(), ...record }));
  }

  async flush(): Promise<void> {
    if (!this.pending.length) return;
    const text = `${this.pending.join('\n')}\n`;
    this.pending = [];
    await fsp.appendFile(this.file, text);
  }

  /**
   * Drops records written after `step` (a resumed run replays those steps), any record `drop` selects, and a line
   * a crash cut short (so that the next append starts on a line of its own).
   */
  async truncateAfter(step: number, drop?: (r: Record<string, unknown>) => boolean): Promise<void> {
    const { records, torn } = await readMetricsFile(this.file);
    const keep = records.filter(
      (r) => (typeof r['step'] !== 'number' || (r['step'] as number) <= step) && !drop?.(r),
    );
    if (keep.length === records.length && !torn) return;
    await writeFileAtomic(this.file, keep.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}

/** All records of a metrics log (missing file: none; a torn last line is skipped). */
export async function readMetrics(file: string): Promise<Record<string, unknown>[]> {
  return (await readMetricsFile(file)).records;
}

/** The records of a metrics log, and whether a line was cut short (by a crash during a write). */
async function readMetricsFile(file: string): Promise<{ records: Record<string, unknown>[]; torn: boolean }> {
  if (!existsSync(file)) return { records: [], torn: false };
  const text = await fsp.readFile(file, 'utf8');
  const out: Record<string, unknown>[] = [];
  let torn = text.length > 0 && !text.endsWith('\n');
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      torn = true; // a line cut by a crash
    }
  }
  return { records: out, torn };
}
