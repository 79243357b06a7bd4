import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { RandomAccessDataset } from '../io/dataset.js';
import { DatasetError } from '../io/errors.js';
import type { DataRecord } from '../io/types.js';
import { type Batch, DataLoader } from './loader.js';
import { batchToTensors, disposeBatchTensors } from './tensors.js';

/** 4x4 images whose pixels all hold the record number; record i has label (i % 3) + 1; `bad` ids fail. */
function memoryDataset(n: number, bad: number[] = []): RandomAccessDataset & { reads: number[] } {
  const reads: number[] = [];
  return {
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
    length: n,
    numClasses: 3,
    classNames: ['background', 'a', 'b', 'c'],
    reads,
    async read(i: number): Promise<DataRecord> {
      reads.push(i);
      await new Promise((r) => setTimeout(r, 1));
      if (bad.includes(i)) throw new DatasetError(`r${i}.jpg`, 'corrupt or unreadable image');
      return {
        id: `r${i}`,
        image: { width: 4, height: 4, data: new Uint8Array(48).fill(i) },
        labels: [(i % 3) + 1],
        mask: { width: 4, height: 4, data: new Uint8Array(16).fill((i % 3) + 1) },
      };
    },
  };
}

async function collect(loader: DataLoader, epochs: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.batches(epochs)) out.push(b);
  return out;
}

describe('DataLoader', () => {
  it('shuffles with a seed: each epoch a permutation, reproducible, different per epoch', () => {
    const l = new DataLoader({ dataset: memoryDataset(10), batchSize: 4, seed: 3 });
    const e0 = [...l.order(0)];
    expect([...e0].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...new DataLoader({ dataset: memoryDataset(10), batchSize: 4, seed: 3 }).order(0)]).toEqual(e0);
    expect([...l.order(1)]).not.toEqual(e0);
    expect([
      ...new DataLoader({ dataset: memoryDataset(10), batchSize: 4, shuffle: false }).order(5),
    ]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a batch where only some records have masks fills the others with 255 and flags which are real', async () => {
    const base = memoryDataset(6);
    const some: RandomAccessDataset = {
      ...base,
      async read(i) {
        const r = await base.read(i);
        if (i % 3 !== 0) delete r.mask;
        return r;
      },
    };
    const [b] = await collect(
      new DataLoader({ dataset: some, batchSize: 3, shuffle: false, transform: 'none' }),
      1,
    );
    expect([...b!.hasMask!]).toEqual([1, 0, 0]);
    expect(b!.masks!.subarray(0, 16).every((v) => v === 1)).toBe(true);
    expect(b!.masks!.subarray(16).every((v) => v === 255)).toBe(true);
    const t = batchToTensors(b!);
    expect([...t.hasMask!]).toEqual([1, 0, 0]);
    disposeBatchTensors(t);
    // no record with a mask: no masks at all
    const none: RandomAccessDataset = {
      ...base,
      async read(i) {
        const r = await base.read(i);
        delete r.mask;
        return r;
      },
    };
    const [c] = await collect(
      new DataLoader({ dataset: none, batchSize: 3, shuffle: false, transform: 'none' }),
      1,
    );
    expect(c!.masks).toBeUndefined();
    expect(c!.hasMask).toBeUndefined();
  });

  it('batches NHWC with multi-hot labels, masks, and drop_last', async () => {
    const ds = memoryDataset(10);
    const keep = await collect(
      new DataLoader({ dataset: ds, batchSize: 4, shuffle: false, transform: 'none' }),
      1,
    );
    expect(keep.map((b) => b.ids.length)).toEqual([4, 4, 2]);
    const b0 = keep[0]!;
    expect(b0.ids).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(b0.images.length).toBe(4 * 16 * 3);
    expect(b0.raw[16 * 3]).toBeCloseTo(1 / 255, 7); // record 1, first pixel
    expect(b0.images[16 * 3]).toBeCloseTo((1 / 255 - 0.485) / 0.229, 5);
    expect([...b0.labels]).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]);
    expect([...b0.masks!.subarray(16, 20)]).toEqual([2, 2, 2, 2]);
    expect([...b0.hasMask!]).toEqual([1, 1, 1, 1]);
    expect(keep.map((b) => b.position)).toEqual([
      { epoch: 0, index: 4 },
      { epoch: 0, index: 8 },
      { epoch: 1, index: 0 },
    ]);
    const drop = new DataLoader({ dataset: ds, batchSize: 4, dropLast: true, transform: 'none' });
    const batches = await collect(drop, 2);
    expect(batches.map((b) => [b.epoch, b.ids.length])).toEqual([
      [0, 4],
      [0, 4],
      [1, 4],
      [1, 4],
    ]);
    // the last full batch of an epoch already reports the next epoch (the 2 left over are dropped), so a
    // consumer sees every epoch end
    expect(batches.map((b) => b.position)).toEqual([
      { epoch: 0, index: 4 },
      { epoch: 1, index: 0 },
      { epoch: 1, index: 4 },
      { epoch: 2, index: 0 },
    ]);
    expect(drop.position).toEqual({ epoch: 2, index: 0 });
    expect(drop.batchesPerEpoch).toBe(2);
  });

  it('resumes exactly from a saved position (order and augmentation)', async () => {
    const opts = { batchSize: 3, seed: 11, transform: { size: 4 } } as const;
    const full = await collect(new DataLoader({ dataset: memoryDataset(8), ...opts }), 2);
    const resumeAt = full[1]!.position;
    expect(resumeAt).toEqual({ epoch: 0, index: 6 });
    const rest = await collect(new DataLoader({ dataset: memoryDataset(8), ...opts, start: resumeAt }), 2);
    expect(rest.map((b) => b.ids)).toEqual(full.slice(2).map((b) => b.ids));
    expect(rest.map((b) => Array.from(b.images))).toEqual(full.slice(2).map((b) => Array.from(b.images)));
  });

  it('decodes ahead of the consumer (prefetch)', async () => {
    const ds = memoryDataset(20);
    const loader = new DataLoader({
      dataset: ds,
      batchSize: 2,
      prefetch: 3,
      shuffle: false,
      transform: 'none',
    });
    const it = loader.batches(1);
    await it.next();
    // One batch consumed; three more batches' worth were requested while it was assembled.
    expect(ds.reads.length).toBeGreaterThanOrEqual(2 + 2 * 2);
    expect(ds.reads.slice(0, 6)).toEqual([0, 1, 2, 3, 4, 5]);
    await it.return(undefined);
  });

  it('keeps prefetching across the end of an epoch', async () => {
    const ds = memoryDataset(4);
    const loader = new DataLoader({ dataset: ds, batchSize: 2, prefetch: 2, transform: 'none' });
    const it = loader.batches(2);
    await it.next();
    const second = await it.next();
    expect(second.value!.position).toEqual({ epoch: 1, index: 0 });
    // Epoch 1's first records were requested before epoch 0's last batch was handed over.
    expect(ds.reads.length).toBeGreaterThanOrEqual(6);
    const rest: number[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value.epoch);
    expect(rest).toEqual([1, 1]);
    expect(loader.position).toEqual({ epoch: 2, index: 0 });
  });

  it('skips and counts bad records with skipBad, else fails naming the file', async () => {
    const skip = new DataLoader({
      dataset: memoryDataset(6, [2]),
      batchSize: 2,
      shuffle: false,
      transform: 'none',
      skipBad: true,
    });
    const got = await collect(skip, 1);
    expect(got.map((b) => b.ids)).toEqual([['r0', 'r1'], ['r3', 'r4'], ['r5']]);
    expect(skip.skipped.count).toBe(1);
    expect(skip.skipped.reasons).toEqual(['r2.jpg: corrupt or unreadable image']);
    const strict = new DataLoader({
      dataset: memoryDataset(6, [2]),
      batchSize: 2,
      shuffle: false,
      transform: 'none',
    });
    await expect(collect(strict, 1)).rejects.toThrow('r2.jpg: corrupt or unreadable image');
  });

  it('makes tensors only at the edge and leaks none', async () => {
    const before = tf.memory().numTensors;
    const loader = new DataLoader({ dataset: memoryDataset(4), batchSize: 2, transform: { size: 8 } });
    for await (const b of loader.batches(1)) {
      const t = batchToTensors(b);
      expect(t.images.shape).toEqual([2, 8, 8, 3]);
      expect(t.raw.shape).toEqual([2, 8, 8, 3]);
      expect(t.labels.shape).toEqual([2, 3]);
      expect(t.masks!.shape).toEqual([2, 8, 8]);
      expect(t.masks!.dtype).toBe('int32');
      disposeBatchTensors(t);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fails instead of spinning when an epoch yields no batch', async () => {
    const l = new DataLoader({ dataset: memoryDataset(3), batchSize: 4, dropLast: true, transform: 'none' });
    await expect(collect(l, Number.POSITIVE_INFINITY)).rejects.toThrow(
      'DataLoader: epoch 0 produced no batch (3 records, 0 skipped so far, batchSize 4, dropLast true)',
    );
  });

  it('rejects bad options with the value', () => {
    expect(() => new DataLoader({ dataset: memoryDataset(2), batchSize: 0 })).toThrow(
      'batchSize must be a positive integer, got 0',
    );
  });
});
