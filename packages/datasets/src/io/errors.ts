/**
 * An input problem tied to one file: a missing or corrupt image, a bad mask, an unreadable annotation file,
 * a path that leaves the dataset root. The message always reads `<file>: <problem>`.
 */
export class DatasetError extends Error {
  /** The file at fault (absolute or as given). */
  readonly file: string;
  /** What is wrong with it, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.name = 'DatasetError';
    this.file = file;
    this.problem = problem;
  }
}

/**
 * One problem found in the input, as {@link DatasetError} describes it but as a value, for reports that list
 * every problem instead of stopping at the first (`ImageFolderDataset`'s `onProblem`, `scanDataset`).
 */
export interface DatasetProblem {
  /** The file at fault (an image, a mask, the labels file). */
  file: string;
  /** What is wrong with it, without the file name (for a labels file, starting with `line N: `). */
  reason: string;
}

/** Counts records skipped under `skipBad`, with the first few reasons kept for the report. */
export class SkipCounter {
  /** Number of skipped records. */
  count = 0;
  /** Up to `keep` error messages, in the order they happened. */
  readonly reasons: string[] = [];

  constructor(private readonly keep = 20) {}

  /** Records one skipped record. */
  add(err: DatasetError): void {
    this.count++;
    if (this.reasons.length < this.keep) this.reasons.push(err.message);
  }
}
