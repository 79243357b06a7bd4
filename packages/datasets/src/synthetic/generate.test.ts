import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataLoader } from '../loader/loader.js';
import { VocDataset } from '../voc/vocDataset.js';
import { generateSyntheticSet } from './generate.js';
import { renderSyntheticSample, SYNTHETIC_CLASSES } from './render.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wsss-synth-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('generateSyntheticSet', () => {
  it('writes a VOC-layout set that VocDataset reads back exactly (PNG images)', async () => {
    const root = join(dir, 'png');
    const sum = await generateSyntheticSet({
      root,
      count: 10,
      size: 64,
      seed: 7,
      imageFormat: 'png',
      splits: { train: 7, val: 3 },
    });
    expect(sum.splits.train).toHaveLength(7);
    expect(sum.splits.val).toEqual(['synth_000007', 'synth_000008', 'synth_000009']);
    expect(readFileSync(join(root, 'ImageSets/Segmentation/trainval.txt'), 'utf8').split('\n')).toHaveLength(
      11,
    );
    expect(JSON.parse(readFileSync(join(root, 'classes.json'), 'utf8')).classes).toEqual(
      SYNTHETIC_CLASSES.slice(0, 6),
    );
    const ds = await VocDataset.open({ root, split: 'val' });
    expect(ds.numClasses).toBe(5);
    expect(ds.classNames[1]).toBe('striped-disc');
    for (let k = 0; k < 3; k++) {
      const rec = await ds.read(k);
      const ref = renderSyntheticSample(7, 7 + k, { size: 64 });
      expect(rec.id).toBe(`synth_00000${7 + k}`);
      expect(Buffer.from(rec.mask!.data).equals(Buffer.from(ref.mask.data))).toBe(true);
      expect(Buffer.from(rec.image.data).equals(Buffer.from(ref.image.data))).toBe(true);
      expect(rec.labels).toEqual(ref.labels);
    }
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writes JPEGs close to the rendered image, with fractional splits', async () => {
    const root = join(dir, 'jpg');
    const sum = await generateSyntheticSet({ root, count: 5, size: 64, seed: 3 });
    expect(sum.splits.train).toHaveLength(4);
    expect(sum.splits.val).toHaveLength(1);
    const ds = await VocDataset.open({ root, split: 'train' });
    const rec = await ds.read(0);
    const ref = renderSyntheticSample(3, 0, { size: 64 });
    let err = 0;
    for (let i = 0; i < ref.image.data.length; i++) err += Math.abs(rec.image.data[i]! - ref.image.data[i]!);
    expect(err / ref.image.data.length).toBeLessThan(4);
    expect(rec.labels).toEqual(ref.labels);
  });

  it('feeds the loader end to end (synthetic set → VocDataset → augmented batches)', async () => {
    const root = join(dir, 'e2e');
    await generateSyntheticSet({ root, count: 8, size: 32, seed: 2, splits: { train: 1 } });
    const ds = await VocDataset.open({ root, split: 'train' });
    const loader = new DataLoader({
      dataset: ds,
      batchSize: 4,
      seed: 1,
      dropLast: true,
      transform: { size: 24 },
    });
    const seen: string[] = [];
    for await (const b of loader.batches(1)) {
      expect(b.images.length).toBe(4 * 24 * 24 * 3);
      expect(b.labels.length).toBe(4 * 5);
      for (let k = 0; k < 4; k++) {
        // multi-hot labels match the record's labels
        const rec = await ds.read(ds.ids.indexOf(b.ids[k]!));
        const hot = [...b.labels.subarray(k * 5, k * 5 + 5)].flatMap((v, c) => (v ? [c + 1] : []));
        expect(hot).toEqual(rec.labels);
      }
      seen.push(...b.ids);
    }
    expect(seen.sort()).toEqual([...ds.ids].sort());
  });

  it('refuses a non-empty root and bad options, leaving nothing behind', async () => {
    const root = join(dir, 'busy');
    mkdirSync(root);
    writeFileSync(join(root, 'keep.txt'), 'x');
    await expect(generateSyntheticSet({ root, count: 2, seed: 1 })).rejects.toThrow(
      `${root}: output folder exists and is not empty (pass overwrite: true to replace it)`,
    );
    const root2 = join(dir, 'bad');
    await expect(generateSyntheticSet({ root: root2, count: 2, seed: 1, numClasses: 12 })).rejects.toThrow(
      'numClasses',
    );
    await expect(
      generateSyntheticSet({ root: root2, count: 4, seed: 1, splits: { train: 3, val: 2 } }),
    ).rejects.toThrow('split sizes must be fractions summing to 1 or counts summing to 4, got sum 5');
    expect(existsSync(root2)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await generateSyntheticSet({ root, count: 2, seed: 1, size: 32, overwrite: true });
    expect(existsSync(join(root, 'keep.txt'))).toBe(false);
  });

  it("removes the temporary folder of a killed generation at the next one; keeps a live process's", async () => {
    const root = join(dir, 'again');
    // pid 2^22 + 1 is above Linux's pid_max limit: no process has it
    const dead = join(dir, `.again.tmp-${2 ** 22 + 1}-abc123`);
    const live = join(dir, `.again.tmp-${process.pid}-def456`);
    mkdirSync(join(dead, 'JPEGImages'), { recursive: true });
    mkdirSync(live);
    await generateSyntheticSet({ root, count: 2, seed: 1, size: 32 });
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(join(root, 'classes.json'))).toBe(true);
  });
});
