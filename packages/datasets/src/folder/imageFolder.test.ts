import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeIndexPng } from '../io/indexPng.js';
import { VOC_CLASSES, vocColorMap } from '../voc/classes.js';
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

  it('reads labels from CSV and JSON by path or id, names or indices; records are the listed images', async () => {
    const csv = await ImageFolderDataset.open({
      root,
      labels: join(root, 'labels.csv'),
      classNames: VOC_CLASSES,
    });
    expect(csv.ids).toEqual(['a', 'sub/c']);
    expect([csv.unlisted, csv.backgroundOnly]).toEqual([2, 0]);
    expect((await csv.read(0)).labels).toEqual([8, 12]);
    expect((await csv.read(1)).labels).toEqual([15]);
    expect(csv.labelsOf(1)).toEqual([15]);
    // listedOnly: false keeps every image; those without a row have no labels
    const all = await ImageFolderDataset.open({
      root,
      labels: join(root, 'labels.csv'),
      classNames: VOC_CLASSES,
      listedOnly: false,
    });
    expect(all.ids).toEqual(['a', 'b', 'broken', 'sub/c']);
    expect([all.unlisted, all.backgroundOnly]).toEqual([2, 2]);
    expect((await all.read(0)).labels).toEqual([8, 12]);
    expect((await all.read(3)).labels).toEqual([15]);
    const json = await ImageFolderDataset.open({
      root,
      labels: join(root, 'labels.json'),
      classNames: VOC_CLASSES,
    });
    expect(json.ids).toEqual(['b', 'sub/c']);
    expect((await json.read(0)).labels).toEqual([15]);
    expect((await json.read(1)).labels).toEqual([1, 8]);
  });

  it('names the file and problem for bad labels, escaping paths, unknown images and corrupt images', async () => {
    await expect(
      ImageFolderDataset.open({ root, labels: join(root, 'bad.csv'), classNames: VOC_CLASSES }),
    ).rejects.toThrow(
      `${join(root, 'bad.csv')}: line 2: label "unicorn" of "b" is not a class name or an index in 1..20`,
    );
    await expect(ImageFolderDataset.open({ root, labels: join(root, 'escape.json') })).rejects.toThrow(
      `${join(root, 'escape.json')}: line 1: path "../x" leaves the dataset root`,
    );
    await expect(ImageFolderDataset.open({ root, labels: join(root, 'missing.json') })).rejects.toThrow(
      `${join(root, 'missing.json')}: line 1: "zzz" names no image`,
    );
    await expect(ImageFolderDataset.open({ root, labels: join(root, 'nope.csv') })).rejects.toThrow(
      'nope.csv: unreadable labels file (ENOENT)',
    );
    // class indices mean nothing without class names
    await expect(ImageFolderDataset.open({ root, labels: join(root, 'labels.csv') })).rejects.toThrow(
      `${join(root, 'labels.csv')}: line 3: label "15" of "sub/c" is a class index; indices need the classNames option`,
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

describe('ImageFolderDataset with labels, masks and problems', () => {
  let dir: string;
  const png = (w: number, h: number, rgb: [number, number, number]) =>
    sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
      .png()
      .toBuffer();
  const mask = (w: number, h: number, values: number[]) =>
    encodeIndexPng({ width: w, height: h, data: Uint8Array.from(values) }, vocColorMap());

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wsss-folder-own-'));
    const imgs = join(dir, 'images');
    mkdirSync(join(imgs, 'pets'), { recursive: true });
    for (const [name, w, h] of [
      ['pets/cat1.png', 2, 2],
      ['pets/dog1.png', 2, 2],
      ['street.png', 3, 2],
      ['empty.png', 2, 1],
      ['unlisted.png', 2, 2],
      ['twice.png', 2, 2],
      ['twice.jpg', 2, 2],
    ] as const)
      writeFileSync(join(imgs, name), await png(w, h, [9, 9, 9]));
    writeFileSync(
      join(dir, 'labels.csv'),
      'image,labels\npets/cat1.png,cat\npets/dog1,dog\nstreet.png,person;dog\nempty.png,\n',
    );
    // masks: street has one (values 0..2 and 255), the cats' is inside images/ and must not be listed as an image
    mkdirSync(join(dir, 'masks'));
    writeFileSync(join(dir, 'masks', 'street.png'), mask(3, 2, [0, 1, 2, 255, 0, 0]));
    mkdirSync(join(imgs, 'm', 'pets'), { recursive: true });
    writeFileSync(join(imgs, 'm', 'pets', 'cat1.png'), mask(2, 2, [0, 1, 1, 0]));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('collects sorted class names from the labels file and counts unlisted and background-only images', async () => {
    const ds = await ImageFolderDataset.open({ root: join(dir, 'images'), labels: join(dir, 'labels.csv') });
    expect(ds.classNames).toEqual(['background', 'cat', 'dog', 'person']);
    expect(ds.numClasses).toBe(3);
    expect(ds.ids).toEqual(['empty', 'pets/cat1', 'pets/dog1', 'street']);
    // m/pets/cat1.png is an image to this dataset (no mask folder given)
    expect([ds.unlisted, ds.backgroundOnly]).toEqual([4, 1]);
    expect([0, 1, 2, 3].map((i) => ds.labelsOf(i))).toEqual([[], [1], [2], [2, 3]]);
    expect(ds.maskFileOf(3)).toBeNull();
    expect(() => ds.labelsOf(4)).toThrow(RangeError);
    const rec = await ds.read(3);
    expect([rec.id, rec.labels, rec.mask]).toEqual(['street', [2, 3], undefined]);
  });

  it('reads a relative labels file and mask folder from the root, not the working directory; names a file given as a folder', async () => {
    const root = join(dir, 'images');
    const ds = await ImageFolderDataset.open({ root, labels: '../labels.csv', masks: 'm' });
    const abs = await ImageFolderDataset.open({
      root,
      labels: join(dir, 'labels.csv'),
      masks: join(root, 'm'),
    });
    expect(ds.ids).toEqual(abs.ids);
    expect(ds.maskFileOf(1)).toBe(join(root, 'm', 'pets', 'cat1.png'));
    await expect(ImageFolderDataset.open({ root: join(root, 'street.png') })).rejects.toThrow(
      `${join(root, 'street.png')}: is a file; expected a folder of images`,
    );
    await expect(ImageFolderDataset.open({ root, masks: 'street.png' })).rejects.toThrow(
      `${join(root, 'street.png')}: is a file; expected the mask folder`,
    );
    await expect(ImageFolderDataset.open({ root, labels: 'labels.csv' })).rejects.toThrow(
      `${join(root, 'labels.csv')}: unreadable labels file (ENOENT)`,
    );
  });

  it('reads masks where they exist, and does not list a mask folder inside the root as images', async () => {
    const classNames = ['background', 'cat', 'dog', 'person'];
    const ds = await ImageFolderDataset.open({
      root: join(dir, 'images'),
      labels: join(dir, 'labels.csv'),
      masks: join(dir, 'masks'),
      classNames,
    });
    expect(ds.maskFileOf(3)).toBe(join(dir, 'masks', 'street.png'));
    expect(ds.maskFileOf(1)).toBeNull();
    const street = await ds.read(3);
    expect([...street.mask!.data]).toEqual([0, 1, 2, 255, 0, 0]);
    expect((await ds.read(1)).mask).toBeUndefined();
    const inner = await ImageFolderDataset.open({
      root: join(dir, 'images'),
      labels: join(dir, 'labels.csv'),
      masks: join(dir, 'images', 'm'),
      classNames,
    });
    expect(inner.unlisted).toBe(3); // unlisted, twice.png and twice.jpg; m/ is not listed
    expect([...(await inner.read(1)).mask!.data]).toEqual([0, 1, 1, 0]);
    // a mask value above numClasses, and a mask of the wrong size, name the mask file
    const two = await ImageFolderDataset.open({
      root: join(dir, 'images'),
      labels: join(dir, 'labels.csv'),
      masks: join(dir, 'masks'),
      classNames: ['background', 'cat', 'dog', 'person'].slice(0, 2),
      onProblem: () => {},
    });
    expect(two.ids).toEqual(['empty', 'pets/cat1']);
    const m = join(dir, 'masks2');
    mkdirSync(join(m, 'pets'), { recursive: true });
    writeFileSync(join(m, 'pets', 'cat1.png'), mask(2, 2, [0, 4, 1, 0]));
    writeFileSync(join(m, 'empty.png'), mask(2, 2, [0, 0, 0, 0]));
    const bad = await ImageFolderDataset.open({
      root: join(dir, 'images'),
      labels: join(dir, 'labels.csv'),
      masks: m,
      classNames,
    });
    await expect(bad.read(1)).rejects.toThrow(
      `${join(m, 'pets', 'cat1.png')}: label value 4 out of range (expected 0..3 or 255) at pixel 1`,
    );
    await expect(bad.read(0)).rejects.toThrow(
      `${join(m, 'empty.png')}: mask size 2x2 differs from image size 2x1`,
    );
    await expect(
      ImageFolderDataset.open({ root: join(dir, 'images'), masks: join(dir, 'nomasks') }),
    ).rejects.toThrow(`${join(dir, 'nomasks')}: mask folder does not exist`);
  });

  it('reports bad rows to onProblem and skips them, or throws the first without it', async () => {
    const lf = join(dir, 'problems.csv');
    writeFileSync(
      lf,
      [
        'image,labels',
        'pets/cat1.png,cat', // 2
        'pets/dog1.png,unicorn', // 3: unknown class
        'street,person;dog', // 4
        'street.png,dog', // 5: second row for street
        'ghost.png,cat', // 6: no such image
        '../outside.png,cat', // 7: leaves the root
        'twice,cat', // 8: twice.png or twice.jpg?
        'empty.png,5', // 9: index out of range
        'unlisted.png,background', // 10
        '',
      ].join('\n'),
    );
    const problems: { file: string; reason: string }[] = [];
    const ds = await ImageFolderDataset.open({
      root: join(dir, 'images'),
      labels: lf,
      classNames: ['background', 'cat', 'dog', 'person'],
      onProblem: (p) => problems.push(p),
    });
    expect(problems).toEqual([
      {
        file: lf,
        reason: 'line 3: label "unicorn" of "pets/dog1.png" is not a class name or an index in 1..3',
      },
      { file: lf, reason: 'line 5: "street.png" is listed again (first on line 4)' },
      { file: lf, reason: `line 6: "ghost.png" names no image in ${join(dir, 'images')}` },
      { file: lf, reason: `line 7: path "../outside.png" leaves the dataset root ${join(dir, 'images')}` },
      {
        file: lf,
        reason: 'line 8: "twice" matches 2 images (twice.jpg, twice.png); name the file with its extension',
      },
      { file: lf, reason: 'line 9: label "5" of "empty.png" is not a class name or an index in 1..3' },
      {
        file: lf,
        reason:
          'line 10: label "background" of "unlisted.png" is not a foreground class (leave the labels empty for a background-only image)',
      },
    ]);
    // rejected images are neither records nor unlisted; the first street row stands
    expect(ds.ids).toEqual(['pets/cat1', 'street']);
    expect(ds.labelsOf(1)).toEqual([2, 3]);
    expect(ds.unlisted).toBe(3); // m/pets/cat1.png, twice.jpg, twice.png
    const all = await ImageFolderDataset.open({
      root: join(dir, 'images'),
      labels: lf,
      classNames: ['background', 'cat', 'dog', 'person'],
      onProblem: () => {},
      listedOnly: false,
    });
    expect(all.ids).toEqual(['m/pets/cat1', 'pets/cat1', 'street', 'twice', 'twice']);
    await expect(
      ImageFolderDataset.open({
        root: join(dir, 'images'),
        labels: lf,
        classNames: ['background', 'cat', 'dog', 'person'],
      }),
    ).rejects.toThrow(
      `${lf}: line 3: label "unicorn" of "pets/dog1.png" is not a class name or an index in 1..3`,
    );
    writeFileSync(join(dir, 'none.csv'), 'image,labels\n# nothing yet\n');
    await expect(
      ImageFolderDataset.open({ root: join(dir, 'images'), labels: join(dir, 'none.csv') }),
    ).rejects.toThrow(`${join(dir, 'none.csv')}: labels file has no rows`);
  });

  it('turns photos upright from their EXIF orientation by default, and not with orient: false', async () => {
    const r = join(dir, 'photos');
    mkdirSync(r);
    await sharp({ create: { width: 32, height: 16, channels: 3, background: 'white' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toFile(join(r, 'p.jpg'));
    const upright = await ImageFolderDataset.open({ root: r });
    const a = (await upright.read(0)).image;
    expect([a.width, a.height]).toEqual([16, 32]);
    const stored = await ImageFolderDataset.open({ root: r, orient: false });
    const b = (await stored.read(0)).image;
    expect([b.width, b.height]).toEqual([32, 16]);
    // a mask drawn on the stored pixels says what to do
    mkdirSync(join(dir, 'photoMasks'));
    writeFileSync(join(dir, 'photoMasks', 'p.png'), mask(32, 16, new Array(32 * 16).fill(0)));
    const withMask = await ImageFolderDataset.open({ root: r, masks: join(dir, 'photoMasks') });
    await expect(withMask.read(0)).rejects.toThrow(
      `${join(dir, 'photoMasks', 'p.png')}: mask size 32x16 differs from image size 16x32 (swapped: if the mask was drawn on the stored pixels of a photo with an EXIF rotation, open with orient: false)`,
    );
    const plain = await ImageFolderDataset.open({ root: r, masks: join(dir, 'photoMasks'), orient: false });
    expect((await plain.read(0)).mask!.width).toBe(32);
  });
});
