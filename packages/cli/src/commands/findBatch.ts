/**
 * `wsss bench --find-batch`: the largest batch whose training step fits in memory, with the other options as given
 * (size, accumulate, recompute, backend, threads, preset). A step that does not fit can take the process down with
 * it (the wasm runtime aborts; a GPU driver may too), so every trial is a child process: `wsss bench --train-only
 * --reps 1 --batch b`, judged by its exit code (7 = out of memory). Batches double from 1 until one fails or
 * `maxBatch` is reached, then bisect between the last that fitted and the first that did not.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MemoryUsage } from '@wsss/core';
import { EXIT } from './errors.js';

/** One trial step. */
export interface BatchTrial {
  batch: number;
  fits: boolean;
  /** Milliseconds of the timed step (fits only). */
  ms?: number;
  /** Memory after the step (fits only): the wasm heap is its high-water mark. */
  memory?: MemoryUsage;
  /** The most bytes of live tensors during the step (fits only; null on webgpu). */
  stepPeakTensorBytes?: number | null;
  /** Why it did not fit: the child's message. */
  reason?: string;
}

export interface FindBatchResult {
  /** The largest batch that fitted, or null when even batch 1 did not. */
  largest: BatchTrial | null;
  /** Every trial in the order run. */
  trials: BatchTrial[];
  maxBatch: number;
}

/** The search over batches 1…maxBatch with `trial` (doubling, then bisection). */
export async function searchLargestBatch(
  maxBatch: number,
  trial: (batch: number) => Promise<BatchTrial>,
): Promise<FindBatchResult> {
  if (!Number.isInteger(maxBatch) || maxBatch < 1)
    throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
  const trials: BatchTrial[] = [];
  const run = async (b: number) => {
    const t = await trial(b);
    trials.push(t);
    return t;
  };
  let largest: BatchTrial | null = null;
  let failed = maxBatch + 1;
  for (let b = 1; ; b = Math.min(2 * b, maxBatch)) {
    const t = await run(b);
    if (!t.fits) {
      failed = b;
      break;
    }
    largest = t;
    if (b === maxBatch) break;
  }
  let lo = largest?.batch ?? 0;
  let hi = failed;
  while (hi - lo > 1 && hi <= maxBatch) {
    const mid = (lo + hi) >> 1;
    const t = await run(mid);
    if (t.fits) {
      largest = t;
      lo = mid;
    } else hi = mid;
  }
  return { largest, trials, maxBatch };
}

const WSSS_BIN = () => fileURLToPath(new URL('../bin/wsss.mjs', import.meta.url));

/**
 * A trial in a child process: `wsss bench <args> --train-only --reps 1 --batch b --json -q`, with
 * `WSSS_WASM_HEAP_LIMIT_MB` when `heapLimitMiB` is given. Exit 7 (out of memory) or a kill by signal (the
 * system's OOM killer) is "does not fit"; any other failure is an error carrying the child's message.
 */
export function childTrial(
  args: readonly string[],
  heapLimitMiB?: number,
): (batch: number) => Promise<BatchTrial> {
  return (batch) =>
    new Promise((resolve, reject) => {
      const env = { ...process.env };
      if (heapLimitMiB !== undefined) env['WSSS_WASM_HEAP_LIMIT_MB'] = String(heapLimitMiB);
      const child = spawn(
        process.execPath,
        [
          WSSS_BIN(),
          'bench',
          ...args,
          '--train-only',
          '--reps',
          '1',
          '--batch',
          String(batch),
          '--json',
          '-q',
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (code, signal) => {
        let last: Record<string, unknown> = {};
        try {
          last = JSON.parse(stdout.trim().split('\n').filter(Boolean).at(-1) ?? '{}') as Record<
            string,
            unknown
          >;
        } catch {
          // not a JSON line (a crash before the result): judged by the exit code and stderr below
        }
        const message = (last['message'] as string | undefined) ?? stderr.trim().split('\n')[0] ?? '';
        if (code === EXIT.OK && last['type'] === 'result') {
          const rows = last['rows'] as { ms: number }[];
          resolve({
            batch,
            fits: true,
            ms: rows[0]!.ms,
            memory: last['memory'] as MemoryUsage,
            stepPeakTensorBytes: (last['stepPeakTensorBytes'] as number | null | undefined) ?? null,
          });
        } else if (code === EXIT.MEMORY || signal === 'SIGKILL') {
          resolve({ batch, fits: false, reason: message || `killed by ${signal}` });
        } else {
          reject(new Error(`the trial step at batch ${batch} failed (exit ${code ?? signal}): ${message}`));
        }
      });
    });
}

/** The human table of `wsss bench --find-batch`. */
export function formatFindBatch(
  r: FindBatchResult & { size: number; backend: string; heapLimitMiB?: number },
): string {
  const mib = (b: number | null | undefined) => (b == null ? '–' : `${(b / 2 ** 20).toFixed(0)} MiB`);
  const limit = r.heapLimitMiB !== undefined ? `, heap limit ${r.heapLimitMiB} MiB` : '';
  const rows = r.trials.map((t) =>
    t.fits
      ? `  batch ${String(t.batch).padStart(4)}  fits       step ${(t.ms! / 1000).toFixed(2).padStart(8)} s  wasm heap ${mib(t.memory?.wasmHeapBytes)}  tensors ${mib(t.memory?.tensorBytes)} (peak ${mib(t.stepPeakTensorBytes)})`
      : `  batch ${String(t.batch).padStart(4)}  does not fit: ${t.reason}`,
  );
  const verdict = r.largest
    ? `largest batch that fits: ${r.largest.batch}${r.largest.batch === r.maxBatch ? ` (the most tried: --max-batch ${r.maxBatch})` : ''}`
    : 'not even batch 1 fits: try --recompute all, a smaller --size (data.crop) or a GPU backend';
  return [
    `${r.backend}, ${r.size}×${r.size} images${limit}: trial training steps in child processes`,
    ...rows,
    verdict,
  ].join('\n');
}
