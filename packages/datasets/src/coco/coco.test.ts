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
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeIndexPng } from '../io/indexPng.js';
import { CocoDataset } from './cocoDataset.js';
import { fillPolygons } from './polygon.js';
import { decodeRleString, encodeRleString, rleToMask } from './rle.js';

let dir: string;
const jpeg = (w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: 1, g: 2, b: 3 } } })
    .jpeg()
    .toBuffer();

const categories = [
  { id: 90, name: 'toothbrush' },
  { id: 1, name: 'person' },
  { id: 18, name: 'dog' },
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wsss-coco-'));
  mkdirSync(join(dir, 'train2014'));
  writeFileSync(join(dir, 'train2014', 'a.jpg'), await jpeg(6, 5));
  writeFileSync(join(dir, 'train2014', 'b.jpg'), await jpeg(3, 2));
  writeFileSync(join(dir, 'train2014', 'wrong.jpg'), await jpeg(4, 4));
  const ann = {
    images: [
      { id: 3, file_name: 'empty.jpg', width: 2, height: 2 },
      { id: 1, file_name: 'a.jpg', width: 6, height: 5 },
      { id: 2, file_name: 'b.jpg', width: 3, height: 2 },
      { id: 4, file_name: 'wrong.jpg', width: 3, height: 3 },
    ],
    annotations: [
      {
        id: 10,
        image_id: 1,
        category_id: 18,
        segmentation: [[1, 1, 5, 1, 5, 4, 1, 4]],
        area: 12,
        iscrowd: 0,
      },
      { id: 11, image_id: 1, category_id: 1, segmentation: [[3, 0, 5, 0, 5, 2, 3, 2]], area: 4, iscrowd: 0 },
      // crowd: columns 0 and 1, compressed RLE of runs [0, 10, 20] written by hand
      {
        id: 12,
        image_id: 1,
        category_id: 1,
        segmentation: { counts: '0:d0', size: [5, 6] },
        area: 10,
        iscrowd: 1,
      },
      // uncompressed RLE, column-major runs [1, 2, 3] on 2x3
      {
        id: 13,
        image_id: 2,
        category_id: 90,
        segmentation: { counts: [1, 2, 3], size: [2, 3] },
        area: 2,
        iscrowd: 0,
      },
      {
        id: 14,
        image_id: 4,
        category_id: 18,
        segmentation: { counts: [9], size: [3, 3] },
        area: 0,
        iscrowd: 0,
      },
    ],
    categories,
  };
  writeFileSync(join(dir, 'instances_train2014.json'), JSON.stringify(ann));
  const bad = structuredClone(ann);
  bad.annotations[3]!.segmentation = { counts: [1, 2, 3], size: [3, 2] };
  bad.images = bad.images.filter((i) => i.id === 2);
  writeFileSync(join(dir, 'bad_rle.json'), JSON.stringify(bad));
  writeFileSync(join(dir, 'broken.json'), '{"images": [');
  const esc = structuredClone(ann);
  esc.images[1]!.file_name = '../../etc/passwd';
  writeFileSync(join(dir, 'escape.json'), JSON.stringify(esc));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('COCO RLE and polygons', () => {
  it('decodes hand-encoded RLE strings, including a negative delta', () => {
    expect(decodeRleString('0:d0')).toEqual([0, 10, 20]);
    expect(decodeRleString('234')).toEqual([2, 3, 4]);
    expect(decodeRleString('152L')).toEqual([1, 5, 2, 1]); // 'L' = -4 relative to the run two back
    for (const c of [
      [0, 10, 20],
      [1, 5, 2, 1],
      [5, 100000, 3, 7, 99999],
    ])
      expect(decodeRleString(encodeRleString(c))).toEqual(c);
    expect(() => decodeRleString('0d')).toThrow('RLE string ends inside a number');
  });

  it('expands column-major runs to a row-major mask and checks coverage', () => {
    expect([...rleToMask([1, 2, 3], 2, 3)]).toEqual([0, 1, 0, 1, 0, 0]);
    expect(() => rleToMask([1, 2], 2, 3)).toThrow('RLE runs cover 3 of 6 pixels');
  });

  it('fills polygons by pixel centres', () => {
    // triangle (0,0) (4,0) (0,4) on 4x4: centre (x+.5, y+.5) inside when x + y + 1 < 4
    expect([...fillPolygons([[0, 0, 4, 0, 0, 4]], 4, 4)]).toEqual([
      1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    ]);
  });
});

describe('CocoDataset', () => {
  it('maps category ids to 1..K ascending and drops unlabelled images', async () => {
    const ds = await CocoDataset.open({
      annotationFile: join(dir, 'instances_train2014.json'),
      imageDir: join(dir, 'train2014'),
    });
    expect(ds.classNames).toEqual(['background', 'person', 'dog', 'toothbrush']);
    expect(ds.categoryIds).toEqual([0, 1, 18, 90]);
    expect(ds.ids).toEqual(['a', 'b', 'wrong']);
    expect(ds.labelsOf(0)).toEqual([1, 2]);
  });

  it('rasterises polygons, RLE and crowd by the documented overlap rule', async () => {
    const ds = await CocoDataset.open({
      annotationFile: join(dir, 'instances_train2014.json'),
      imageDir: join(dir, 'train2014'),
    });
    const a = await ds.read(0);
    const X = 255;
    // biome-ignore format: the expected mask is laid out as its 5x6 grid
    expect([...a.mask!.data]).toEqual([
      X, X, 0, 1, 1, 0,
      X, 2, 2, 1, 1, 0,
      X, 2, 2, 2, 2, 0,
      X, 2, 2, 2, 2, 0,
      X, X, 0, 0, 0, 0,
    ]);
    const b = await ds.read(1);
    expect([...b.mask!.data]).toEqual([0, 3, 0, 3, 0, 0]);
    expect(b.labels).toEqual([3]);
  });

  it('names the file and problem for bad input; skipBad counts', async () => {
    const ds = await CocoDataset.open({
      annotationFile: join(dir, 'instances_train2014.json'),
      imageDir: join(dir, 'train2014'),
    });
    await expect(ds.read(2)).rejects.toThrow(
      `${join(dir, 'train2014', 'wrong.jpg')}: image size 4x4 differs from the annotation's 3x3`,
    );
    const ids: string[] = [];
    for await (const r of ds.records({ skipBad: true })) ids.push(r.id);
    expect(ids).toEqual(['a', 'b']);
    expect(ds.skipped.count).toBe(1);
    const bad = await CocoDataset.open({
      annotationFile: join(dir, 'bad_rle.json'),
      imageDir: join(dir, 'train2014'),
    });
    await expect(bad.read(0)).rejects.toThrow(
      `${join(dir, 'bad_rle.json')}: annotation 13 (image b.jpg): RLE size [3,2] differs from the image size [2, 3]`,
    );
    await expect(
      CocoDataset.open({ annotationFile: join(dir, 'broken.json'), imageDir: dir }),
    ).rejects.toThrow(`${join(dir, 'broken.json')}: unreadable annotation file`);
    await expect(
      CocoDataset.open({ annotationFile: join(dir, 'escape.json'), imageDir: dir }),
    ).rejects.toThrow('leaves the dataset root');
  });

  it('type-checks polygons, RLE, bbox and ids, naming the annotation and the value', async () => {
    const ann = (over: Record<string, unknown>) => ({
      images: [{ id: 1, file_name: 'a.jpg', width: 3, height: 2 }],
      annotations: [{ id: 7, image_id: 1, category_id: 1, segmentation: [[0, 0, 3, 0, 3, 2]], ...over }],
      categories,
    });
    const open = async (name: string, json: unknown) => {
      writeFileSync(join(dir, name), JSON.stringify(json));
      return CocoDataset.open({ annotationFile: join(dir, name), imageDir: join(dir, 'train2014') });
    };
    const f = join(dir, 't.json');
    const text = await open('t.json', ann({ segmentation: [[0, 0, 'abc', 0, 3, 2]] }));
    expect(() => text.maskOf(0)).toThrow(
      `${f}: annotation 7 (image a.jpg): polygon 0 has a coordinate that is not a finite number at 2: "abc"`,
    );
    const odd = await open('t.json', ann({ segmentation: [[0, 0, 3, 0, 3]] }));
    expect(() => odd.maskOf(0)).toThrow(
      'polygon 0 must be a flat array [x1, y1, x2, y2, …], got [0,0,3,0,3]',
    );
    await expect(open('t.json', ann({ bbox: [0, 0, 'w', 2] }))).rejects.toThrow(
      `${f}: annotation 7 (annotations[0]): "bbox" must be [x, y, width, height] of finite numbers, got [0,0,"w",2]`,
    );
    await expect(open('t.json', ann({ segmentation: { counts: 'abc', size: [2] } }))).rejects.toThrow(
      'RLE "size" must be [height, width], got [2]',
    );
    await expect(open('t.json', ann({ segmentation: { counts: 5, size: [2, 3] } }))).rejects.toThrow(
      'RLE "counts" must be a string or an array, got 5',
    );
    await expect(open('t.json', ann({ category_id: '1' }))).rejects.toThrow(
      '"category_id" must be an integer, got "1"',
    );
    await expect(open('t.json', ann({ iscrowd: 2 }))).rejects.toThrow('"iscrowd" must be 0 or 1, got 2');
    await expect(
      open('t.json', { ...ann({}), images: [{ id: 1, file_name: 'a.jpg', width: '3', height: 2 }] }),
    ).rejects.toThrow('images[0] (id 1): "width" must be a positive integer, got "3"');
    // a well-formed file still opens
    expect((await open('t.json', ann({ bbox: [0, 0, 3, 2], area: 6, iscrowd: 0 }))).length).toBe(1);
  });

  it('exports masks as palette PNGs atomically', async () => {
    const ds = await CocoDataset.open({
      annotationFile: join(dir, 'instances_train2014.json'),
      imageDir: join(dir, 'train2014'),
    });
    const out = join(dir, 'masks');
    expect(await ds.exportMasks(out)).toEqual({ written: 3, skipped: 0 });
    expect(readdirSync(out).sort()).toEqual(['a.png', 'b.png', 'classes.json', 'wrong.png']);
    expect([...decodeIndexPng(readFileSync(join(out, 'b.png'))).data]).toEqual([0, 3, 0, 3, 0, 0]);
    const bad = await CocoDataset.open({
      annotationFile: join(dir, 'bad_rle.json'),
      imageDir: join(dir, 'train2014'),
    });
    const out2 = join(dir, 'masks2');
    await expect(bad.exportMasks(out2)).rejects.toThrow('RLE size');
    expect(existsSync(out2)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(await bad.exportMasks(out2, { skipBad: true })).toEqual({ written: 0, skipped: 1 });
  });
});
