import { DatasetError, type SkipCounter } from './errors.js';
import type { DataRecord } from './types.js';

/**
 * A dataset with random access by position, which is what the loader shuffles over. `read` rejects with a
 * {@link DatasetError} for a bad record.
 */
export interface RandomAccessDataset {
  /** Record ids in list order. */
  readonly ids: readonly string[];
  /** Number of records (`ids.length`). */
  readonly length: number;
  /** Foreground class count (labels are 1..numClasses). */
  readonly numClasses: number;
  /** Class names including background at index 0. */
  readonly classNames: readonly string[];
  /** Reads and decodes record `index`. */
  read(index: number): Promise<DataRecord>;
}

/** Options common to streaming reads. */
export interface StreamOptions {
  /** Skip bad records and count them instead of throwing (default false). */
  skipBad?: boolean;
  /** Called once per skipped record. */
  onSkip?: (err: DatasetError) => void;
}

/**
 * Streams every record of `ds` in list order. With `skipBad`, a record failing with a `DatasetError` is counted in
 * `skipped` and skipped; otherwise the first bad record throws.
 */
export async function* streamRecords(
  ds: RandomAccessDataset,
  skipped: SkipCounter,
  options: { skipBad?: boolean } = {},
): AsyncGenerator<DataRecord> {
  for (let i = 0; i < ds.length; i++) {
    let rec: DataRecord;
    try {
      rec = await ds.read(i);
    } catch (err) {
      if (options.skipBad && err instanceof DatasetError) {
        skipped.add(err);
        continue;
      }
      throw err;
    }
    yield rec;
  }
}
