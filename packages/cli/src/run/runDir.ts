/**
 * Run folders (DESIGN §5):
 *
 * ```
 * <run>/config.json                 the resolved configuration (+ preset, command line, versions)
 * <run>/metrics.jsonl               one JSON object per line: step, epoch, val, diverged, eval records
 * <run>/checkpoints/last.safetensors  after every epoch and on Ctrl-C (atomic)
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
  command: string[];
  createdAt: string;
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

  /** Drops records written after `step` (a resumed run replays those steps). */
  async truncateAfter(step: number): Promise<void> {
    const records = await readMetrics(this.file);
    const keep = records.filter((r) => typeof r['step'] !== 'number' || (r['step'] as number) <= step);
    if (keep.length === records.length) return;
    await writeFileAtomic(this.file, keep.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}

/** All records of a metrics log (missing file: none; a torn last line is skipped). */
export async function readMetrics(file: string): Promise<Record<string, unknown>[]> {
  if (!existsSync(file)) return [];
  const out: Record<string, unknown>[] = [];
  for (const line of (await fsp.readFile(file, 'utf8')).split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a line cut by a crash
    }
  }
  return out;
}
