import type { RandomAccessDataset } from '../io/dataset.js';
import { DatasetError, SkipCounter } from '../io/errors.js';
import type { DataRecord } from '../io/types.js';
import { mixSeed, Rng } from '../synthetic/rng.js';
import { type AugmentOptions, augmentTrain, normalizeImageNet, toUnitFloat } from '../transforms/augment.js';
import { AugmentPool, defaultWorkerScript } from './workerPool.js';

/** A transformed sample ready for batching: HWC float32 at a fixed `size`. */
export interface PreparedSample {
  size: number;
  /** Normalised image, `size*size*3`. */
  image: Float32Array;
  /** [0,1] image for PAMR (spec §1.2), `size*size*3`. */
  raw: Float32Array;
  /** Class-index mask, `size*size`. */
  mask?: Uint8Array;
}

/** A per-sample transform; `rng` is seeded from (seed, epoch, position) so results do not depend on timing. */
export type SampleTransform = (record: DataRecord, rng: Rng) => PreparedSample;

/** Where a loader stands: the next sample position within `epoch` (in shuffled order). */
export interface LoaderPosition {
  epoch: number;
  index: number;
}

/** Options of {@link DataLoader}. */
export interface LoaderOptions {
  dataset: RandomAccessDataset;
  batchSize: number;
  /** Shuffle each epoch with a permutation drawn from (seed, epoch) (default true). */
  shuffle?: boolean;
  /** Seed of shuffling and augmentation (default 0). */
  seed?: number;
  /** Drop the last incomplete batch of an epoch (default false; the reference trains with drop_last, spec §3.10). */
  dropLast?: boolean;
  /**
   * Per-sample transform: augmentation options for {@link augmentTrain} (spec §3.10), `'none'` (no geometric
   * change, only normalisation; images must share one square size), or a function.
   */
  transform?: AugmentOptions | 'none' | SampleTransform;
  /** Batches decoded and transformed ahead of the consumer (default 2). */
  prefetch?: number;
  /** Skip bad records (counted in {@link DataLoader.skipped}) instead of failing (default false). */
  skipBad?: boolean;
  /** Resume from this position (default epoch 0, index 0). */
  start?: LoaderPosition;
  /**
   * Worker threads running the augmentation (default 0: on the calling thread, interleaved with decoding).
   * Needs `transform` to be augmentation options, not a function. Results are identical either way.
   */
  workers?: number;
  /** The worker script (default: `augmentWorker.js`/`.cjs` next to the package bundle). */
  workerScript?: string;
}

/** One batch as typed arrays, NHWC. Turn into tensors with `batchToTensors`. */
export interface Batch {
  ids: string[];
  size: number;
  /** `n*size*size*3` normalised images. */
  images: Float32Array;
  /** `n*size*size*3` [0,1] images. */
  raw: Float32Array;
  /** `n*numClasses` multi-hot image labels (background excluded, spec §1.1). */
  labels: Float32Array;
  /**
   * `n*size*size` class-index masks when at least one record had one; an image without a mask is all 255
   * (ignore) here and 0 in {@link Batch.hasMask}.
   */
  masks?: Uint8Array;
  /** With `masks`: 1 for each image whose mask came from its record, 0 for the all-ignore fill. */
  hasMask?: Uint8Array;
  /** Epoch the batch belongs to. */
  epoch: number;
  /** Position just after this batch: save it to resume exactly here. */
  position: LoaderPosition;
}

const noTransform: SampleTransform = (record) => {
  const { width, height, data } = record.image;
  if (width !== height) {
    throw new DatasetError(record.id, `transform 'none' needs square images, got ${width}x${height}`);
  }
  const raw = toUnitFloat(data);
  const out: PreparedSample = { size: width, image: normalizeImageNet(raw), raw };
  if (record.mask) out.mask = record.mask.data;
  return out;
};

type Loaded =
  | { ok: true; id: string; labels: number[]; sample: PreparedSample }
  | { ok: false; error: unknown };

/**
 * Batches a dataset for training: seeded per-epoch shuffling, decoding and augmentation running ahead of the
 * consumer (`prefetch` batches; image decoding runs on sharp's thread pool), `dropLast`, and an exact resume
 * position. Batches are plain typed arrays, so the loader never holds a tensor.
 */
export class DataLoader {
  /** Records skipped under `skipBad`. */
  readonly skipped = new SkipCounter();
  private pos: LoaderPosition;
  private readonly transform: SampleTransform;
  private readonly augment: AugmentOptions | undefined;
  private pool: AugmentPool | undefined;
  private readonly opts: Required<
    Pick<LoaderOptions, 'batchSize' | 'shuffle' | 'seed' | 'dropLast' | 'prefetch' | 'skipBad'>
  >;

  constructor(private readonly options: LoaderOptions) {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    const prefetch = options.prefetch ?? 2;
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      throw new RangeError(`DataLoader: prefetch must be a positive integer, got ${prefetch}`);
    }
    this.opts = {
      batchSize,
      shuffle: options.shuffle ?? true,
      seed: options.seed ?? 0,
      dropLast: options.dropLast ?? false,
      prefetch,
      skipBad: options.skipBad ?? false,
    };
    const t = options.transform;
    const workers = options.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0) {
      throw new RangeError(`DataLoader: workers must be a non-negative integer, got ${workers}`);
    }
    if (workers > 0 && (typeof t === 'function' || t === 'none')) {
      throw new RangeError(
        'DataLoader: workers need transform to be augmentation options (not a function or none)',
      );
    }
    this.augment = workers > 0 ? ((t as AugmentOptions | undefined) ?? {}) : undefined;
    this.transform =
      typeof t === 'function'
        ? t
        : t === 'none'
          ? noTransform
          : (record, rng) => augmentTrain(rng, record.image, record.mask, t);
    const start = options.start ?? { epoch: 0, index: 0 };
    if (
      !Number.isInteger(start.epoch) ||
      start.epoch < 0 ||
      !Number.isInteger(start.index) ||
      start.index < 0
    ) {
      throw new RangeError(`DataLoader: start must be non-negative integers, got ${JSON.stringify(start)}`);
    }
    this.pos = { ...start };
  }

  /** The position of the next sample to be consumed (after the last batch yielded). */
  get position(): LoaderPosition {
    return { ...this.pos };
  }

  /** Full batches per epoch when no record is bad. */
  get batchesPerEpoch(): number {
    const n = this.options.dataset.length;
    return this.opts.dropLast ? Math.floor(n / this.opts.batchSize) : Math.ceil(n / this.opts.batchSize);
  }

  /** The sample order of `epoch` (dataset indices). */
  order(epoch: number): Uint32Array {
    const n = this.options.dataset.length;
    const perm = new Uint32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i;
    if (this.opts.shuffle) {
      const rng = new Rng(mixSeed(this.opts.seed, 0x5eed0000 + epoch));
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(0, i);
        const t = perm[i]!;
        perm[i] = perm[j]!;
        perm[j] = t;
      }
    }
    return perm;
  }

  private async load(dsIndex: number, epoch: number, at: number): Promise<Loaded> {
    try {
      const rec = await this.options.dataset.read(dsIndex);
      const seed = mixSeed(mixSeed(this.opts.seed, epoch), at);
      const sample =
        this.pool && this.augment
          ? await this.pool.run(seed, rec.image, rec.mask, this.augment)
          : this.transform(rec, new Rng(seed));
      return { ok: true, id: rec.id, labels: rec.labels, sample };
    } catch (error) {
      return { ok: false, error };
    }
  }

  private assemble(items: Extract<Loaded, { ok: true }>[], epoch: number, position: LoaderPosition): Batch {
    const n = items.length;
    const size = items[0]!.sample.size;
    const px = size * size;
    const k = this.options.dataset.numClasses;
    const images = new Float32Array(n * px * 3);
    const raw = new Float32Array(n * px * 3);
    const labels = new Float32Array(n * k);
    const withMask = items.some((it) => it.sample.mask);
    const masks = withMask ? new Uint8Array(n * px).fill(255) : undefined;
    const hasMask = withMask ? new Uint8Array(n) : undefined;
    items.forEach((it, b) => {
      const s = it.sample;
      if (s.size !== size || s.image.length !== px * 3 || s.raw.length !== px * 3) {
        throw new DatasetError(
          it.id,
          `sample size ${s.size} differs from the batch size ${size} (or has a bad length)`,
        );
      }
      images.set(s.image, b * px * 3);
      raw.set(s.raw, b * px * 3);
      if (masks && s.mask) {
        masks.set(s.mask, b * px);
        hasMask![b] = 1;
      }
      for (const c of it.labels) {
        if (c < 1 || c > k) throw new DatasetError(it.id, `label ${c} out of range 1..${k}`);
        labels[b * k + c - 1] = 1;
      }
    });
    const batch: Batch = { ids: items.map((i) => i.id), size, images, raw, labels, epoch, position };
    if (masks) {
      batch.masks = masks;
      batch.hasMask = hasMask!;
    }
    return batch;
  }

  /**
   * Yields batches from the current position on, for `epochs` epochs (counting the current, possibly partial,
   * one; default: forever). Breaking out of the loop keeps the position of the last batch consumed.
   */
  async *batches(epochs = Number.POSITIVE_INFINITY): AsyncGenerator<Batch> {
    const workers = this.options.workers ?? 0;
    if (workers > 0 && !this.pool)
      this.pool = new AugmentPool(workers, this.options.workerScript ?? defaultWorkerScript());
    try {
      yield* this.run(epochs);
    } finally {
      await this.pool?.close();
      this.pool = undefined;
    }
  }

  private async *run(epochs: number): AsyncGenerator<Batch> {
    const { batchSize, dropLast, prefetch, skipBad } = this.opts;
    const n = this.options.dataset.length;
    if (n === 0) throw new RangeError('DataLoader: the dataset is empty');
    const first = this.pos.epoch;
    const lastEpoch = first + epochs;
    const startIndex = this.pos.index;
    // One lazy sequence of (epoch, position) over all epochs, so that prefetching runs across epoch ends.
    const order = this.order.bind(this);
    const positions = (function* () {
      for (let e = first; e < lastEpoch; e++) {
        const perm = order(e);
        for (let at = e === first ? startIndex : 0; at < n; at++) yield { epoch: e, at, dsIndex: perm[at]! };
      }
    })();
    type Job = { epoch: number; at: number; result: Promise<Loaded> };
    const pending: Job[] = [];
    const ahead = prefetch * batchSize;
    let exhausted = false;
    const fill = () => {
      while (!exhausted && pending.length < ahead) {
        const nx = positions.next();
        if (nx.done) {
          exhausted = true;
          break;
        }
        const { epoch, at, dsIndex } = nx.value;
        pending.push({ epoch, at, result: this.load(dsIndex, epoch, at) });
      }
    };
    let epoch = first;
    let epochStart = startIndex;
    let yielded = 0;
    let items: Extract<Loaded, { ok: true }>[] = [];
    // Ends `epoch`: the last partial batch (unless dropLast), then the position moves to the next epoch.
    const finish = (): Batch | undefined => {
      let out: Batch | undefined;
      if (items.length > 0 && !dropLast) {
        out = this.assemble(items, epoch, { epoch: epoch + 1, index: 0 });
      } else if (yielded === 0 && epochStart === 0) {
        // Without this, an all-bad dataset (or one smaller than a batch with dropLast) would spin forever.
        throw new RangeError(
          `DataLoader: epoch ${epoch} produced no batch (${n} records, ${this.skipped.count} skipped so far, ` +
            `batchSize ${batchSize}, dropLast ${dropLast})`,
        );
      }
      items = [];
      return out;
    };
    fill();
    while (pending.length > 0) {
      const job = pending.shift()!;
      const r = await job.result;
      fill();
      if (job.epoch !== epoch) {
        const last = finish();
        this.pos = { epoch: epoch + 1, index: 0 };
        if (last) yield last;
        epoch = job.epoch;
        epochStart = 0;
        yielded = 0;
      }
      if (!r.ok) {
        if (skipBad && r.error instanceof DatasetError) {
          this.skipped.add(r.error);
          continue;
        }
        throw r.error;
      }
      items.push(r);
      if (items.length === batchSize) {
        const consumed = job.at + 1;
        // With dropLast, fewer than a batch left means this was the epoch's last batch: the consumer sees the
        // epoch complete now (the rest is dropped), not after a batch that never comes.
        const complete = consumed >= n || (dropLast && n - consumed < batchSize);
        const position = complete ? { epoch: epoch + 1, index: 0 } : { epoch, index: consumed };
        const batch = this.assemble(items, epoch, position);
        items = [];
        this.pos = position;
        yielded++;
        yield batch;
      }
    }
    if (epoch < lastEpoch) {
      const last = finish();
      this.pos = { epoch: epoch + 1, index: 0 };
      if (last) yield last;
    }
  }
}
