import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { vocColorMap } from '../voc/classes.js';
import { DatasetError } from './errors.js';
import { decodeIndexPng, encodeIndexPng } from './indexPng.js';

// An independent little PNG writer for fixtures: raw scanlines are given already filtered.
function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'ascii'), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}
function makePng(
  w: number,
  h: number,
  depth: number,
  colorType: number,
  scanlines: number[][],
  plte?: number[],
) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const raw = Buffer.from(scanlines.flat());
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    ...(plte ? [pngChunk('PLTE', Buffer.from(plte))] : []),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('vocColorMap', () => {
  it('has the standard VOC colours', () => {
    const m = vocColorMap();
    const at = (i: number) => [m[i * 3], m[i * 3 + 1], m[i * 3 + 2]];
    expect(at(0)).toEqual([0, 0, 0]);
    expect(at(1)).toEqual([128, 0, 0]);
    expect(at(2)).toEqual([0, 128, 0]);
    expect(at(15)).toEqual([192, 128, 128]);
    expect(at(20)).toEqual([0, 64, 128]);
    expect(at(255)).toEqual([224, 224, 192]);
  });
});

describe('index PNG codec', () => {
  it('round-trips an index mask exactly', () => {
    const data = Uint8Array.from([0, 1, 15, 255, 20, 20, 3, 0, 7, 0, 0, 255]);
    const png = encodeIndexPng({ width: 4, height: 3, data }, vocColorMap());
    const back = decodeIndexPng(png);
    expect(back.width).toBe(4);
    expect(back.height).toBe(3);
    expect([...back.data]).toEqual([...data]);
    expect(back.palette?.length).toBe(768);
  });

  it('writes a palette that an independent decoder (sharp) maps to the VOC colours', async () => {
    const data = Uint8Array.from([0, 1, 15, 255]);
    const png = encodeIndexPng({ width: 2, height: 2, data }, vocColorMap());
    const rgb = await sharp(png).removeAlpha().raw().toBuffer();
    expect([...rgb]).toEqual([0, 0, 0, 128, 0, 0, 192, 128, 128, 224, 224, 192]);
  });

  it('undoes every PNG filter type (8-bit palette)', () => {
    // Target rows: [5,6,7], [5,8,9], [6,6,6], [1,2,3], [9,0,4]
    // average row 3: up=[6,6,6]: x0 1-(0+6>>1)=-2, x1 2-((1+6)>>1)=-1, x2 3-((2+6)>>1)=-1.
    // paeth row 4, above=[1,2,3]: x0 b=1 → 9-1; x1 a=9,b=2,c=1 → a, 0-9; x2 a=0,b=3,c=2 → p=1 → a, 4-0.
    const decoded = decodeIndexPng(
      makePng(
        3,
        5,
        8,
        3,
        [
          [0, 5, 6, 7],
          [2, 0, 2, 2],
          [1, 6, 0, 0],
          [3, (1 - 3) & 255, (2 - 3) & 255, (3 - 4) & 255],
          [4, (9 - 1) & 255, (0 - 9) & 255, 4],
        ],
        new Array(30).fill(0),
      ),
    );
    expect([...decoded.data]).toEqual([5, 6, 7, 5, 8, 9, 6, 6, 6, 1, 2, 3, 9, 0, 4]);
  });

  it('unpacks 4-bit and 1-bit palette rows and 8-bit grayscale', () => {
    const p4 = makePng(3, 1, 4, 3, [[0, 0x1f, 0x20]], new Array(48).fill(0));
    expect([...decodeIndexPng(p4).data]).toEqual([1, 15, 2]);
    const p1 = makePng(10, 1, 1, 3, [[0, 0b10110000, 0b01000000]], [0, 0, 0, 255, 255, 255]);
    expect([...decodeIndexPng(p1).data]).toEqual([1, 0, 1, 1, 0, 0, 0, 0, 0, 1]);
    const g8 = makePng(2, 1, 8, 0, [[0, 12, 255]]);
    expect([...decodeIndexPng(g8).data]).toEqual([12, 255]);
  });

  it('refuses RGB masks, bad signatures, truncation and CRC damage, naming the file', () => {
    const rgb = makePng(1, 1, 8, 2, [[0, 1, 2, 3]]);
    expect(() => decodeIndexPng(rgb, 'm.png')).toThrow(
      'm.png: mask is RGB; expected a palette or grayscale index PNG',
    );
    expect(() => decodeIndexPng(Buffer.from('hello world'), 'x.png')).toThrow(
      'x.png: not a PNG file (bad signature)',
    );
    const good = encodeIndexPng({ width: 2, height: 2, data: new Uint8Array(4) }, vocColorMap());
    expect(() => decodeIndexPng(good.subarray(0, good.length - 20), 't.png')).toThrow(
      /^t\.png: truncated PNG/,
    );
    const bad = Uint8Array.from(good);
    bad[45] = bad[45]! ^ 0xff; // inside the PLTE data
    expect(() => decodeIndexPng(bad, 'c.png')).toThrow('c.png: corrupt PNG (CRC mismatch in chunk PLTE)');
    try {
      decodeIndexPng(rgb, 'm.png');
    } catch (e) {
      expect(e).toBeInstanceOf(DatasetError);
      expect((e as DatasetError).file).toBe('m.png');
    }
  });
});
