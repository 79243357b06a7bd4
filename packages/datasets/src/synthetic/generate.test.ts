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
import { ImageFolderDataset } from '../folder/imageFolder.js';
import { readClassNames } from '../folder/labelsFile.js';
import { DataLoader } from '../loader/loader.js';
import { VOC_CLASSES } from '../voc/classes.js';
import { VocDataset } from '../voc/vocDataset.js';
import { generateSyntheticSet } from './generate.js';
import { renderSyntheticSample, SYNTHETIC_CLASSES } from './render.js';
import { renderSceneSample, SCENE_CLASS_IDS } from './scenes.js';

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

  it('writes the folder layout with the same images and labels, which ImageFolderDataset reads with masks', async () => {
    const opts = { count: 12, size: 48, seed: 11, imageFormat: 'png' as const, splits: { train: 9, val: 3 } };
    const vocRoot = join(dir, 'same-voc');
    const root = join(dir, 'same-folder');
    await generateSyntheticSet({ ...opts, root: vocRoot });
    const sum = await generateSyntheticSet({ ...opts, root, layout: 'folder' });
    expect(readdirSync(root).sort()).toEqual([
      'classes.json',
      'classes.txt',
      'images',
      'labels.csv',
      'masks',
      'splits',
    ]);
    expect(readFileSync(join(root, 'classes.json'), 'utf8')).toBe(
      readFileSync(join(vocRoot, 'classes.json'), 'utf8'),
    );
    const classNames = SYNTHETIC_CLASSES.slice(0, 6);
    expect(readFileSync(join(root, 'classes.txt'), 'utf8')).toBe(`${classNames.join('\n')}\n`);
    expect(await readClassNames(join(root, 'classes.txt'))).toEqual(classNames);
    const csv = readFileSync(join(root, 'labels.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe('image,labels');
    expect(csv).toHaveLength(14);
    expect(readFileSync(join(root, 'splits', 'val.txt'), 'utf8')).toBe(
      'synth_000009.png\nsynth_000010.png\nsynth_000011.png\n',
    );
    expect(readFileSync(join(root, 'splits', 'trainval.txt'), 'utf8').split('\n')).toHaveLength(13);
    expect(sum.splits.val).toEqual(['synth_000009', 'synth_000010', 'synth_000011']);

    const voc = await VocDataset.open({ root: vocRoot, split: 'trainval' });
    const ds = await ImageFolderDataset.open({
      root: join(root, 'images'),
      labels: join(root, 'labels.csv'),
      masks: join(root, 'masks'),
      classNames: await readClassNames(join(root, 'classes.txt')),
    });
    expect(ds.ids).toEqual(voc.ids);
    expect([ds.unlisted, ds.numClasses]).toEqual([0, 5]);
    for (let i = 0; i < ds.length; i++) {
      const [a, b] = [await ds.read(i), await voc.read(i)];
      expect(a.id).toBe(b.id);
      expect(a.labels).toEqual(b.labels);
      expect(ds.labelsOf(i)).toEqual(b.labels);
      expect(Buffer.from(a.image.data).equals(Buffer.from(b.image.data))).toBe(true);
      expect(Buffer.from(a.mask!.data).equals(Buffer.from(b.mask!.data))).toBe(true);
      expect(
        readFileSync(join(root, 'masks', `${a.id}.png`)).equals(
          readFileSync(join(vocRoot, 'SegmentationClass', `${a.id}.png`)),
        ),
      ).toBe(true);
    }
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await expect(
      generateSyntheticSet({ ...opts, root: join(dir, 'no'), layout: 'coco' as 'voc' }),
    ).rejects.toThrow(`${join(dir, 'no')}: layout must be 'voc' or 'folder', got coco`);
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

  it("defaults to the 'shapes' generator, whose classes.json does not name a generator kind", async () => {
    const root = join(dir, 'default');
    const sum = await generateSyntheticSet({ root, count: 2, seed: 1, size: 32 });
    expect(sum.generator).toBe('shapes');
    const meta = JSON.parse(readFileSync(join(root, 'classes.json'), 'utf8'));
    expect(meta.generator).toEqual({
      name: '@wsss/datasets synthetic',
      version: 1,
      seed: 1,
      count: 2,
      size: 32,
      numClasses: 5,
    });
  });

  it("'scenes' writes a VOC-layout set with VOC ids and names that VocDataset reads back exactly", async () => {
    const root = join(dir, 'scenes-voc');
    const sum = await generateSyntheticSet({
      root,
      generator: 'scenes',
      count: 8,
      size: 48,
      seed: 4,
      imageFormat: 'png',
      splits: { train: 6, val: 2 },
    });
    expect(sum.generator).toBe('scenes');
    expect(sum.classNames).toEqual([...VOC_CLASSES]);
    expect(sum.classCounts).toHaveLength(21);
    sum.classCounts.forEach((n, c) => {
      if (!SCENE_CLASS_IDS.includes(c)) expect(n).toBe(0);
    });
    expect(sum.classCounts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(8);
    const meta = JSON.parse(readFileSync(join(root, 'classes.json'), 'utf8'));
    expect(meta.classes).toEqual([...VOC_CLASSES]);
    expect(meta.generator).toMatchObject({ generator: 'scenes', seed: 4, count: 8, size: 48, numClasses: 6 });
    const ds = await VocDataset.open({ root, split: 'trainval' });
    expect(ds.numClasses).toBe(20);
    expect([ds.classNames[1], ds.classNames[3], ds.classNames[7], ds.classNames[15]]).toEqual([
      'aeroplane',
      'bird',
      'car',
      'person',
    ]);
    for (let k = 0; k < ds.length; k++) {
      const rec = await ds.read(k);
      const ref = renderSceneSample(4, k, { size: 48 });
      expect(Buffer.from(rec.mask!.data).equals(Buffer.from(ref.mask.data))).toBe(true);
      expect(Buffer.from(rec.image.data).equals(Buffer.from(ref.image.data))).toBe(true);
      expect(rec.labels).toEqual(ref.labels);
      for (const c of rec.labels) expect(SCENE_CLASS_IDS).toContain(c);
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('.scenes-voc.tmp-'))).toEqual([]);
  });

  it("'scenes' writes the folder layout with VOC class names, which ImageFolderDataset reads with masks", async () => {
    const root = join(dir, 'scenes-folder');
    await generateSyntheticSet({
      root,
      layout: 'folder',
      generator: 'scenes',
      numClasses: 3,
      count: 6,
      size: 40,
      seed: 9,
      imageFormat: 'png',
    });
    expect(await readClassNames(join(root, 'classes.txt'))).toEqual([...VOC_CLASSES]);
    const csv = readFileSync(join(root, 'labels.csv'), 'utf8').trim().split('\n').slice(1);
    for (const row of csv) {
      for (const name of row.split(',')[1]!.split(';')) expect(['aeroplane', 'bird', 'car']).toContain(name);
    }
    const ds = await ImageFolderDataset.open({
      root: join(root, 'images'),
      labels: join(root, 'labels.csv'),
      masks: join(root, 'masks'),
      classNames: await readClassNames(join(root, 'classes.txt')),
    });
    expect(ds.numClasses).toBe(20);
    for (let i = 0; i < ds.length; i++) {
      const rec = await ds.read(i);
      const ref = renderSceneSample(9, Number(rec.id.slice(6)), { size: 40, numClasses: 3 });
      expect(rec.labels).toEqual(ref.labels);
      expect(Buffer.from(rec.mask!.data).equals(Buffer.from(ref.mask.data))).toBe(true);
    }
  });

  it("'scenes' rejects a bad generator name, distractors and numClasses over 6", async () => {
    const root = join(dir, 'scenes-bad');
    await expect(
      generateSyntheticSet({ root, count: 2, seed: 1, generator: 'blobs' as 'shapes' }),
    ).rejects.toThrow(`${root}: generator must be 'shapes' or 'scenes', got blobs`);
    await expect(
      generateSyntheticSet({ root, count: 2, seed: 1, generator: 'scenes', distractors: [0, 1] }),
    ).rejects.toThrow("distractors apply to the 'shapes' generator only");
    await expect(
      generateSyntheticSet({ root, count: 2, seed: 1, generator: 'scenes', numClasses: 7 }),
    ).rejects.toThrow('scenes: numClasses must be an integer in 1..6, got 7');
    expect(existsSync(root)).toBe(false);
  });
});
