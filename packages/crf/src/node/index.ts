/**
 * Node-only entry of @wsss/crf: CRF batches on worker threads. Import from '@wsss/crf/node'.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CrfResult } from '../recipes.js';
import type { CrfTask } from '../tasks.js';
import { runCrfTask } from '../tasks.js';

export type { CrfTask } from '../tasks.js';

/** Options of {@link crfBatch}. */
export interface CrfBatchOptions {
  /**
   * Worker threads (≥ 0). 0 runs every task on the calling thread. Default: min(tasks, available cores − 1), at
   * least 1. Results are identical for any value (each image is computed by the same single-threaded code).
   */
  workers?: number;
  /** The worker script; default the package's `dist/worker.js`. (Tests point it at a bundle of the sources.) */
  workerUrl?: URL | string;
}

/**
 * Runs a CRF on every task (one image each: {@link CrfTask}, e.g. `{ recipe: 'ws-fcn', image, fgProbs }`), spread
 * over worker threads, and resolves with the results in task order. Rejects with the first task's error, naming
 * its index.
 */
export async function crfBatch(
  tasks: readonly CrfTask[],
  options: CrfBatchOptions = {},
): Promise<CrfResult[]> {
  if (!Array.isArray(tasks)) throw new TypeError(`tasks must be an array of CRF tasks, got ${typeof tasks}`);
  const defaultWorkers = Math.max(1, Math.min(tasks.length, availableParallelism() - 1));
  const nWorkers = options.workers ?? defaultWorkers;
  if (!Number.isInteger(nWorkers) || nWorkers < 0) {
    throw new RangeError(`workers must be an integer ≥ 0, got ${String(options.workers)}`);
  }
  if (nWorkers === 0 || tasks.length === 0) {
    return tasks.map((t, i) => {
      try {
        return runCrfTask(t);
      } catch (e) {
        throw withIndex(e, i);
      }
    });
  }
  const url = options.workerUrl ?? new URL('./worker.js', import.meta.url);
  const pool = Array.from({ length: Math.min(nWorkers, tasks.length) }, () => new Worker(url));
  const results: CrfResult[] = new Array(tasks.length);
  let next = 0;
  try {
    await Promise.all(
      pool.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let current = -1;
            const feed = () => {
              if (next >= tasks.length) return resolve();
              current = next++;
              worker.postMessage({ id: current, task: tasks[current] });
            };
            worker.on(
              'message',
              (msg: { id: number; result?: CrfResult; error?: { name: string; message: string } }) => {
                if (msg.error) {
                  const e = new Error(msg.error.message);
                  e.name = msg.error.name;
                  return reject(withIndex(e, msg.id));
                }
                results[msg.id] = msg.result!;
                feed();
              },
            );
            worker.on('error', (e) => reject(withIndex(e, current)));
            worker.on('exit', (code) => {
              if (next < tasks.length || results[current] === undefined) {
                reject(new Error(`crfBatch: worker exited with code ${code} during task ${current}`));
              }
            });
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}

function withIndex(e: unknown, index: number): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  err.message = `crfBatch: task ${index}: ${err.message}`;
  return err;
}
