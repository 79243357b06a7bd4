import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageFolderDataset } from './imageFolder.js';

let root: string;
const solid = (fmt: 'jpeg' | 'png' | 'webp', w = 3, h = 2) =>
  sharp({ create: { width: w, height: h, channels: 4, background: { r: 200, g: 100, b: 50, alpha: 1 } } })
    .toFormat(fmt, fmt === 'webp' ? { lossless: true } : {})
    .toBuffer();

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'wsss-folder-'));
  mkdirSync(join(root, 'sub'));
  writeFileSync(join(root, 'a.JPG'), await solid('jpeg'));
  writeFileSync(join(root, 'b.png'), await solid('png', 5, 4));
  writeFileSync(join(root, 'sub', 'c.webp'), await solid('webp'));
  writeFileSync(join(root, 'notes.txt'), 'not an image');
  writeFileSync(join(root, 'broken.png'), 'garbage');
  writeFileSync(join(root, 'labels.csv'), 'image,labels\na.JPG,cat;dog\nsub/c,15\n');
  writeFileSync(join(root, 'labels.json'), JSON.stringify({ b: ['person'], 'sub/c.webp': [1, 'cat'] }));
  writeFileSync(join(root, 'bad.csv'), 'image,labels\nb,unicorn\n');
  writeFileSync(join(root, 'escape.json'), JSON.stringify({ '../x': ['cat'] }));
  writeFileSync(join(root, 'missing.json'), JSON.stringify({ zzz: ['cat'] }));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('ImageFolderDataset', () => {
  it('lists JPEG/PNG/WebP recursively in sorted order and decodes to RGB', async () => {
    const ds = await ImageFolderDataset.open({ root });
    expect(ds.files).toEqual(['a.JPG', 'b.png', 'broken.png', 'sub/c.webp']);
    expect(ds.ids).toEqual(['a', 'b', 'broken', 'sub/c']);
    const b = await ds.read(1);
    expect([b.image.width, b.image.height]).toEqual([5, 4]);
    expect([...b.image.data.subarray(0, 3)]).toEqual([200, 100, 50]);
    expect(b.labels).toEqual([]);
    const flat = await ImageFolderDataset.open({ root, recursive: false });
    expect(flat.ids).toEqual(['a', 'b', 'broken']);
  });

  it('reads labels from CSV and JSON by path or id, names or indices', async () => {
    const csv = await ImageFolderDataset.open({ root, labels: join(root, 'labels.csv') });
    expect((await csv.read(0)).labels).toEqual([8, 12]);
    expect((await csv.read(3)).labels).toEqual([15]);
    const json = await ImageFolderDataset.open({ root, labels: join(root, 'labels.json') });
    expect((await json.read(1)).labels).toEqual([15]);
    expect((await json.read(3)).labels).toEqual([1, 8]);
  });

  it('names the file and problem for bad labels, escaping paths, unknown images and corrupt images', async () => {
    await expect(ImageFolderDataset.open({ root, labels: join(root, 'bad.csv') })).rejects.toThrow(
      `${join(root, 'bad.csv')}: label "unicorn" of "b" is not a class name or an index in 1..20`,
    );
    await expect(ImageFolderDataset.open({ root, labels: join(root, 'escape.json') })).rejects.toThrow(
      'path "../x" leaves the dataset root',
    );
    await expect(ImageFolderDataset.open({ root, labels: join(root, 'missing.json') })).rejects.toThrow(
      '"zzz" names no image',
    );
    await expect(ImageFolderDataset.open({ root, labels: join(root, 'nope.csv') })).rejects.toThrow(
      'nope.csv: unreadable labels file (ENOENT)',
    );
    const ds = await ImageFolderDataset.open({ root });
    await expect(ds.read(2)).rejects.toThrow(`${join(root, 'broken.png')}: corrupt or unreadable image`);
    const ids: string[] = [];
    for await (const r of ds.records({ skipBad: true })) ids.push(r.id);
    expect(ids).toEqual(['a', 'b', 'sub/c']);
    expect(ds.skipped.count).toBe(1);
  });

  it('refuses a symbolic link out of the folder, follows none into a loop, and reads links inside it', async () => {
    const base = mkdtempSync(join(tmpdir(), 'wsss-folder-links-'));
    const r = join(base, 'photos');
    mkdirSync(join(r, 'sub'), { recursive: true });
    writeFileSync(
      join(r, 'a.png'),
      await sharp({ create: { width: 2, height: 2, channels: 3, background: 'red' } })
        .png()
        .toBuffer(),
    );
    symlinkSync(join(r, 'a.png'), join(r, 'sub', 'same.png'));
    symlinkSync(r, join(r, 'sub', 'loop'));
    const ok = await ImageFolderDataset.open({ root: r });
    expect(ok.ids).toEqual(['a', 'sub/same']);
    expect((await ok.read(1)).image.width).toBe(2);
    mkdirSync(join(base, 'elsewhere'));
    symlinkSync(join(base, 'elsewhere'), join(r, 'evil'));
    await expect(ImageFolderDataset.open({ root: r })).rejects.toThrow(
      `${r}: path "evil" leaves the dataset root ${r} (through a symbolic link, to ${join(base, 'elsewhere')})`,
    );
    rmSync(base, { recursive: true, force: true });
  });
});
