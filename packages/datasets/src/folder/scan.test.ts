import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RandomAccessDataset } from '../io/dataset.js';
import { DatasetError } from '../io/errors.js';
import { encodeIndexPng } from '../io/indexPng.js';
import type { DataRecord } from '../io/types.js';
import { vocColorMap } from '../voc/classes.js';
import { ImageFolderDataset } from './imageFolder.js';
import { formatProblems, scanDataset } from './scan.js';

/** A dataset whose record i fails as `fail(i)` says, after a delay that makes later records finish first. */
function fake(n: number, fail: (i: number) => Error | null): RandomAccessDataset & { maxInFlight: number } {
  let inFlight = 0;
  const ds = {
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
    length: n,
    numClasses: 1,
    classNames: ['background', 'x'],
    maxInFlight: 0,
    async read(i: number): Promise<DataRecord> {
      inFlight++;
      ds.maxInFlight = Math.max(ds.maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, (n - i) % 4));
      inFlight--;
      const err = fail(i);
      if (err) throw err;
      return { id: `r${i}`, image: { width: 1, height: 1, data: new Uint8Array(3) }, labels: [] };
    },
  };
  return ds;
}

describe('scanDataset', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wsss-scan-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists every DatasetError in index order, with progress and bounded concurrency', async () => {
    const ds = fake(40, (i) => (i % 7 === 3 ? new DatasetError(`f${i}.jpg`, `bad ${i}`) : null));
    const progress: number[] = [];
    const problems = await scanDataset(ds, {
      concurrency: 5,
      onProgress: (done, total) => {
        expect(total).toBe(40);
        progress.push(done);
      },
    });
    expect(problems).toEqual([3, 10, 17, 24, 31, 38].map((i) => ({ file: `f${i}.jpg`, reason: `bad ${i}` })));
    expect(progress).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(ds.maxInFlight).toBe(5);
    expect(await scanDataset(fake(0, () => null))).toEqual([]);
    await expect(scanDataset(ds, { concurrency: 0 })).rejects.toThrow(
      'scanDataset: concurrency must be an integer ≥ 1, got 0',
    );
  });

  it('lets other errors through and starts no further reads', async () => {
    const started: number[] = [];
    const ds = fake(100, (i) => (i === 2 ? new TypeError('a bug') : null));
    const read = ds.read.bind(ds);
    ds.read = (i) => {
      started.push(i);
      return read(i);
    };
    await expect(scanDataset(ds, { concurrency: 2 })).rejects.toThrow(new TypeError('a bug'));
    expect(started.length).toBeLessThan(10);
  });

  it('finds the corrupt images, empty files and bad masks of an image folder', async () => {
    const root = join(dir, 'images');
    const masks = join(dir, 'masks');
    mkdirSync(root);
    mkdirSync(masks);
    const ok = await sharp({ create: { width: 4, height: 3, channels: 3, background: 'gray' } })
      .jpeg()
      .toBuffer();
    for (const n of ['a', 'b', 'c', 'd']) writeFileSync(join(root, `${n}.jpg`), ok);
    writeFileSync(join(root, 'e.jpg'), '');
    writeFileSync(join(root, 'f.jpg'), ok.subarray(0, 20));
    writeFileSync(
      join(masks, 'b.png'),
      encodeIndexPng({ width: 2, height: 2, data: new Uint8Array(4) }, vocColorMap()),
    );
    writeFileSync(
      join(masks, 'c.png'),
      encodeIndexPng({ width: 4, height: 3, data: new Uint8Array(12) }, vocColorMap()),
    );
    const ds = await ImageFolderDataset.open({ root, masks });
    const problems = await scanDataset(ds);
    expect(problems.map((p) => p.file)).toEqual([
      join(masks, 'b.png'),
      join(root, 'e.jpg'),
      join(root, 'f.jpg'),
    ]);
    expect(problems[0]!.reason).toBe('mask size 2x2 differs from image size 4x3');
    expect(problems[1]!.reason).toBe('image file is empty (0 bytes)');
    expect(problems[2]!.reason).toMatch(/^corrupt or unreadable image/);
  });
});

describe('formatProblems', () => {
  it('lists the first max problems as "file: reason" and counts the rest', () => {
    const ps = Array.from({ length: 5 }, (_, i) => ({ file: `f${i}`, reason: `r${i}` }));
    expect(formatProblems(ps)).toBe('f0: r0\nf1: r1\nf2: r2\nf3: r3\nf4: r4');
    expect(formatProblems(ps, 2)).toBe('f0: r0\nf1: r1\n… and 3 more');
    expect(formatProblems(ps, 0)).toBe('… and 5 more');
    expect(formatProblems([])).toBe('');
  });
});
