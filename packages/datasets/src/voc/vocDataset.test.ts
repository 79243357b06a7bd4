import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeIndexPng } from '../io/indexPng.js';
import { vocColorMap } from './classes.js';
import { VocDataset } from './vocDataset.js';

let dir: string;
let root: string;

const xml = (names: string[]) =>
  `<annotation><filename>x.jpg</filename>${names
    .map((n) => `<object><name>${n}</name><part><name>head</name></part><difficult>0</difficult></object>`)
    .join('')}</annotation>`;

async function jpeg(w: number, h: number): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r: 10, g: 200, b: 30 } } })
    .jpeg()
    .toBuffer();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wsss-voc-'));
  root = join(dir, 'VOCdevkit', 'VOC2012');
  for (const d of [
    'JPEGImages',
    'SegmentationClass',
    'SegmentationClassAug',
    'Annotations',
    'ImageSets/Segmentation',
  ]) {
    mkdirSync(join(root, d), { recursive: true });
  }
  const cm = vocColorMap();
  const put = (id: string, mask: number[], w: number, h: number, dirName = 'SegmentationClass') =>
    writeFileSync(
      join(root, dirName, `${id}.png`),
      encodeIndexPng({ width: w, height: h, data: Uint8Array.from(mask) }, cm),
    );
  // a: 4x2 with person(15), aeroplane(1), ignore border
  writeFileSync(join(root, 'JPEGImages', 'a.jpg'), await jpeg(4, 2));
  put('a', [0, 15, 15, 255, 1, 1, 0, 255], 4, 2);
  writeFileSync(join(root, 'Annotations', 'a.xml'), xml(['person', 'dog', 'person']));
  // b: background only
  writeFileSync(join(root, 'JPEGImages', 'b.jpg'), await jpeg(2, 2));
  put('b', [0, 0, 0, 255], 2, 2);
  writeFileSync(join(root, 'Annotations', 'b.xml'), '<annotation></annotation>');
  // bad records
  writeFileSync(join(root, 'JPEGImages', 'nomask.jpg'), await jpeg(2, 2));
  put('noimage', [0, 0, 0, 0], 2, 2);
  writeFileSync(join(root, 'JPEGImages', 'size.jpg'), await jpeg(3, 2));
  put('size', [0, 0, 0, 0], 2, 2);
  writeFileSync(join(root, 'JPEGImages', 'range.jpg'), await jpeg(2, 1));
  put('range', [0, 21], 2, 1);
  writeFileSync(join(root, 'JPEGImages', 'trunc.jpg'), await jpeg(2, 2));
  const good = encodeIndexPng({ width: 2, height: 2, data: new Uint8Array(4) }, cm);
  writeFileSync(join(root, 'SegmentationClass', 'trunc.png'), good.subarray(0, good.length - 16));
  const j = await jpeg(64, 64);
  writeFileSync(join(root, 'JPEGImages', 'cutjpg.jpg'), j.subarray(0, j.length >> 1));
  put('cutjpg', new Array(64 * 64).fill(0), 64, 64);
  writeFileSync(
    join(root, 'Annotations', 'badxml.xml'),
    '<annotation><object><name>unicorn</name></object></annotation>',
  );
  writeFileSync(join(root, 'JPEGImages', 'badxml.jpg'), await jpeg(2, 2));
  put('badxml', [0, 0, 0, 0], 2, 2);

  const seg = join(root, 'ImageSets', 'Segmentation');
  writeFileSync(join(seg, 'train.txt'), 'a\nb\n');
  writeFileSync(join(seg, 'val.txt'), 'b\n');
  writeFileSync(join(seg, 'bad.txt'), 'a\nnomask\nnoimage\nsize\nrange\ntrunc\ncutjpg\nb\n');
  writeFileSync(join(seg, 'pairs.txt'), '/JPEGImages/a.jpg /SegmentationClass/a.png\n');
  writeFileSync(join(seg, 'escape.txt'), 'a\n../../../etc/passwd\n');
  writeFileSync(join(seg, 'xmlbad.txt'), 'badxml\n');
  // SegmentationClassAug: a, b (val), c → train_aug = a, c
  put('a', [0, 15, 15, 255, 1, 1, 0, 255], 4, 2, 'SegmentationClassAug');
  put('b', [0, 0, 0, 255], 2, 2, 'SegmentationClassAug');
  put('c', [3, 3, 3, 3], 2, 2, 'SegmentationClassAug');
  writeFileSync(join(root, 'JPEGImages', 'c.jpg'), await jpeg(2, 2));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('VocDataset', () => {
  it('reads masks as exact indices and derives labels from the mask (spec §3.10)', async () => {
    const ds = await VocDataset.open({ root: join(dir, 'VOCdevkit'), split: 'train' });
    expect(ds.ids).toEqual(['a', 'b']);
    expect(ds.numClasses).toBe(20);
    const a = await ds.read(0);
    expect(a.image.width).toBe(4);
    expect(a.image.height).toBe(2);
    expect(a.image.data.length).toBe(24);
    expect([...a.mask!.data]).toEqual([0, 15, 15, 255, 1, 1, 0, 255]);
    expect(a.labels).toEqual([1, 15]);
    const b = await ds.read(1);
    expect(b.labels).toEqual([]);
  });

  it('takes labels from XML annotations when asked', async () => {
    const ds = await VocDataset.open({ root, split: 'train', labelsFrom: 'xml', withMask: false });
    const a = await ds.read(0);
    expect(a.labels).toEqual([12, 15]);
    expect(a.mask).toBeUndefined();
    expect((await ds.read(1)).labels).toEqual([]);
    const bad = await VocDataset.open({ root, split: 'xmlbad', labelsFrom: 'xml' });
    await expect(bad.read(0)).rejects.toThrow(
      `${join(root, 'Annotations', 'badxml.xml')}: unknown class name "unicorn"`,
    );
  });

  it('reads reference-style "image mask" pair lists', async () => {
    const ds = await VocDataset.open({ root, split: 'pairs' });
    expect(ds.ids).toEqual(['a']);
    expect((await ds.read(0)).labels).toEqual([1, 15]);
  });

  it('derives train_aug from SegmentationClassAug minus val', async () => {
    const ds = await VocDataset.open({ root, split: 'train_aug' });
    expect(ds.ids).toEqual(['a', 'c']);
    expect((await ds.read(1)).labels).toEqual([3]);
  });

  it('names the file and the problem for every bad record', async () => {
    const ds = await VocDataset.open({ root, split: 'bad' });
    const p = (d: string, f: string) => join(root, d, f);
    await expect(ds.read(1)).rejects.toThrow(`${p('SegmentationClass', 'nomask.png')}: mask file is missing`);
    await expect(ds.read(2)).rejects.toThrow(`${p('JPEGImages', 'noimage.jpg')}: image file is missing`);
    await expect(ds.read(3)).rejects.toThrow(
      `${p('SegmentationClass', 'size.png')}: mask size 2x2 differs from image size 3x2`,
    );
    await expect(ds.read(4)).rejects.toThrow(
      `${p('SegmentationClass', 'range.png')}: label value 21 out of range (expected 0..20 or 255) at pixel 1`,
    );
    await expect(ds.read(5)).rejects.toThrow(`${p('SegmentationClass', 'trunc.png')}: truncated PNG`);
    await expect(ds.read(6)).rejects.toThrow(`${p('JPEGImages', 'cutjpg.jpg')}: corrupt or unreadable image`);
  });

  it('skips and counts bad records with skipBad', async () => {
    const ds = await VocDataset.open({ root, split: 'bad' });
    const ids: string[] = [];
    for await (const r of ds.records({ skipBad: true })) ids.push(r.id);
    expect(ids).toEqual(['a', 'b']);
    expect(ds.skipped.count).toBe(6);
    expect(ds.skipped.reasons[0]).toContain('nomask.png: mask file is missing');
    const strict = await VocDataset.open({ root, split: 'bad' });
    const it = strict.records();
    await it.next();
    await expect(it.next()).rejects.toThrow('mask file is missing');
  });

  it('refuses a split path that leaves the root and a missing split', async () => {
    await expect(VocDataset.open({ root, split: 'escape' })).rejects.toThrow(
      `${join(root, 'ImageSets', 'Segmentation', 'escape.txt')}: path "JPEGImages/../../../etc/passwd.jpg" leaves the dataset root`,
    );
    await expect(VocDataset.open({ root, split: 'nope' })).rejects.toThrow('nope.txt: split list is missing');
  });

  it('refuses a file that a symbolic link puts outside the root, with the error of a .. path', async () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'secret.jpg'), await jpeg(2, 2));
    // a linked file, and a linked folder
    symlinkSync(join(outside, 'secret.jpg'), join(root, 'JPEGImages', 'evil.jpg'));
    symlinkSync(outside, join(root, 'JPEGImages', 'evildir'));
    const cm = vocColorMap();
    const mask = encodeIndexPng({ width: 2, height: 2, data: new Uint8Array(4) }, cm);
    writeFileSync(join(root, 'SegmentationClass', 'evil.png'), mask);
    mkdirSync(join(root, 'SegmentationClass', 'evildir'), { recursive: true });
    writeFileSync(join(root, 'SegmentationClass', 'evildir', 'secret.png'), mask);
    // a link that stays inside the root is fine
    symlinkSync(join(root, 'JPEGImages', 'b.jpg'), join(root, 'JPEGImages', 'alias.jpg'));
    writeFileSync(
      join(root, 'SegmentationClass', 'alias.png'),
      encodeIndexPng({ width: 2, height: 2, data: new Uint8Array(4) }, cm),
    );
    const list = join(root, 'ImageSets', 'Segmentation', 'links.txt');
    writeFileSync(
      list,
      'evil\n/JPEGImages/evildir/secret.jpg /SegmentationClass/evildir/secret.png\nalias\n',
    );
    const ds = await VocDataset.open({ root, split: 'links' });
    await expect(ds.read(0)).rejects.toThrow(
      new RegExp(
        `^${list}: path "JPEGImages/evil.jpg" leaves the dataset root .* \\(through a symbolic link, to ${join(outside, 'secret.jpg')}\\)$`,
      ),
    );
    await expect(ds.read(1)).rejects.toThrow('path "JPEGImages/evildir/secret.jpg" leaves the dataset root');
    expect((await ds.read(2)).image.width).toBe(2);
  });
});
