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
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeIndexPng } from '../io/indexPng.js';
import { parseMat5 } from './mat5.js';
import { convertSbdToPng, readSbdClsMat } from './sbd.js';

// A minimal little-endian MAT v5 writer for fixtures (independent of the reader under test).
const le32 = (...v: number[]) => {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => {
    b.writeInt32LE(x, 4 * i);
  });
  return b;
};
function el(type: number, data: Buffer): Buffer {
  const pad = Buffer.alloc((8 - (data.length % 8)) % 8);
  return Buffer.concat([le32(type, data.length), data, pad]);
}
function matrix(name: string, mxClass: number, dims: number[], body: Buffer[]): Buffer {
  const inner = Buffer.concat([
    el(6, le32(mxClass, 0)),
    el(5, le32(...dims)),
    el(1, Buffer.from(name)),
    ...body,
  ]);
  return Buffer.concat([le32(14, inner.length), inner]);
}
function header(): Buffer {
  const h = Buffer.alloc(128, 32);
  h.write('MATLAB 5.0 MAT-file, written by a wsss test');
  h.writeUInt16LE(0x0100, 124);
  h.write('IM', 126, 'latin1');
  return h;
}
/** GTcls struct with Boundaries (cell), Segmentation (uint8, column-major) and CategoriesPresent (double). */
function gtclsMat(rows: number[][], compress: boolean, segClass = 9, segType = 2): Buffer {
  const h = rows.length;
  const w = rows[0]!.length;
  const colMajor: number[] = [];
  for (let c = 0; c < w; c++) for (let r = 0; r < h; r++) colMajor.push(rows[r]![c]!);
  const segData = segType === 2 ? Buffer.from(colMajor) : Buffer.from(new Float64Array(colMajor).buffer);
  const fields = ['Boundaries', 'Segmentation', 'CategoriesPresent'];
  const names = Buffer.alloc(32 * fields.length);
  fields.forEach((f, i) => {
    names.write(f, 32 * i);
  });
  const struct = matrix(
    'GTcls',
    2,
    [1, 1],
    [
      // field-name length as a small data element: (4 bytes << 16) | miINT32, then the value
      le32((4 << 16) | 5, 32),
      el(1, names),
      matrix('', 1, [1, 1], [matrix('', 6, [0, 0], [el(9, Buffer.alloc(0))])]),
      matrix('', segClass, [h, w], [el(segType, segData)]),
      matrix('', 6, [1, 1], [el(9, Buffer.from(new Float64Array([15]).buffer))]),
    ],
  );
  const body = compress ? el(15, deflateSync(struct)).subarray(0, 8 + deflateSync(struct).length) : struct;
  return Buffer.concat([header(), body]);
}

let dir: string;
const seg = [
  [0, 0, 15, 15],
  [0, 1, 15, 0],
  [20, 1, 0, 0],
];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wsss-sbd-'));
  mkdirSync(join(dir, 'cls'));
  writeFileSync(join(dir, 'cls', '2008_000001.mat'), gtclsMat(seg, true));
  writeFileSync(join(dir, 'cls', '2008_000002.mat'), gtclsMat(seg, false, 6, 9));
  writeFileSync(join(dir, 'bad-range.mat'), gtclsMat([[0, 21]], true));
  const good = gtclsMat(seg, true);
  writeFileSync(join(dir, 'trunc.mat'), good.subarray(0, good.length - 10));
  writeFileSync(join(dir, 'text.mat'), Buffer.from('hello'.repeat(40)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SBD .mat', () => {
  it('parses the struct and reads GTcls.Segmentation row-major (compressed uint8 and plain double)', async () => {
    const vars = parseMat5(readFileSync(join(dir, 'cls', '2008_000001.mat')));
    const gt = vars.get('GTcls')!;
    expect(gt.kind).toBe('struct');
    if (gt.kind === 'struct') expect(gt.fields).toEqual(['Boundaries', 'Segmentation', 'CategoriesPresent']);
    for (const id of ['2008_000001', '2008_000002']) {
      const m = await readSbdClsMat(join(dir, 'cls', `${id}.mat`));
      expect([m.width, m.height]).toEqual([4, 3]);
      expect([...m.data]).toEqual(seg.flat());
    }
  });

  it('names the file and the problem for bad files', async () => {
    await expect(readSbdClsMat(join(dir, 'bad-range.mat'))).rejects.toThrow(
      `${join(dir, 'bad-range.mat')}: label value 21 out of range (expected 0..20 or 255) at row 0, column 1`,
    );
    await expect(readSbdClsMat(join(dir, 'trunc.mat'))).rejects.toThrow(
      `${join(dir, 'trunc.mat')}: corrupt MAT file`,
    );
    await expect(readSbdClsMat(join(dir, 'text.mat'))).rejects.toThrow(
      'corrupt MAT file (not a MATLAB 5 MAT file)',
    );
    await expect(readSbdClsMat(join(dir, 'nope.mat'))).rejects.toThrow('nope.mat: mat file is missing');
  });

  it('converts a cls folder to palette PNGs, atomically', async () => {
    const out = join(dir, 'SegmentationClassAug');
    const r = await convertSbdToPng(join(dir, 'cls'), out);
    expect(r.written).toBe(2);
    expect(readdirSync(out).sort()).toEqual(['2008_000001.png', '2008_000002.png']);
    expect([...decodeIndexPng(readFileSync(join(out, '2008_000001.png'))).data]).toEqual(seg.flat());
    const out2 = join(dir, 'out2');
    writeFileSync(join(dir, 'cls', 'zz_bad.mat'), 'garbage');
    await expect(convertSbdToPng(join(dir, 'cls'), out2)).rejects.toThrow('zz_bad.mat: corrupt MAT file');
    expect(existsSync(out2)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const r2 = await convertSbdToPng(join(dir, 'cls'), out2, { skipBad: true });
    expect([r2.written, r2.skipped.count]).toEqual([2, 1]);
  });
});
