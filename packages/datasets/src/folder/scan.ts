import type { RandomAccessDataset } from '../io/dataset.js';
import { DatasetError, type DatasetProblem } from '../io/errors.js';

/** Options of {@link scanDataset}. */
export interface ScanOptions {
  /** Records read at the same time (default 8; decoding runs on libuv's thread pool). */
  concurrency?: number;
  /** Called after each record with the number of records done so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Reads every record of `ds` in full (`ds.read(i)`: image and mask decoded, everything checked) and lists what
 * is wrong, so that a whole data set can be checked before training instead of failing at its first bad file.
 * @returns one problem per record that failed with a {@link DatasetError} (its `file` and its `problem` as
 *   `reason`), in index order; empty when every record reads.
 * @throws the first error that is not a DatasetError (a bug or an I/O failure, not bad data); records still
 *   being read then finish, and no further ones start.
 */
export async function scanDataset(
  ds: RandomAccessDataset,
  opts: ScanOptions = {},
): Promise<DatasetProblem[]> {
  const concurrency = opts.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`scanDataset: concurrency must be an integer ≥ 1, got ${concurrency}`);
  const total = ds.length;
  const found: (DatasetProblem | undefined)[] = new Array(total);
  let next = 0;
  let done = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < total) {
      const i = next++;
      try {
        await ds.read(i);
      } catch (err) {
        if (!(err instanceof DatasetError)) {
          failed = true;
          throw err;
        }
        found[i] = { file: err.file, reason: err.problem };
      }
      done++;
      opts.onProgress?.(done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return found.filter((p): p is DatasetProblem => p !== undefined);
}

/**
 * Formats problems one per line as `file: reason`, the first `max` of them, then `… and N more` for the rest;
 * an empty string for no problems.
 */
export function formatProblems(problems: readonly DatasetProblem[], max = 20): string {
  const lines = problems.slice(0, Math.max(0, max)).map((p) => `${p.file}: ${p.reason}`);
  if (problems.length > lines.length) lines.push(`… and ${problems.length - lines.length} more`);
  return lines.join('\n');
}
