import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImageBytes, encodeImage, readImage } from './image.js';

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'ascii'), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** An uncompressed 8-bit CMYK TIFF of one colour (sharp has no raw CMYK input; it reads this and keeps CMYK). */
function cmykTiff(w: number, h: number, cmyk: number[]): Buffer {
  // tag, type (3 SHORT, 4 LONG), value; BitsPerSample and StripOffsets point into the file
  const entries: [number, number, number][] = [
    [256, 3, w],
    [257, 3, h],
    [258, 3, 0],
    [259, 3, 1], // no compression
    [262, 3, 5], // separated (CMYK)
    [273, 4, 0],
    [277, 3, 4],
    [278, 3, h],
    [279, 4, w * h * 4],
    [284, 3, 1],
  ];
  const bitsAt = 8 + 2 + entries.length * 12 + 4;
  const dataAt = bitsAt + 8;
  const buf = Buffer.alloc(dataAt + w * h * 4);
  buf.write('II', 0, 'ascii');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(8, 4);
  buf.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, value], i) => {
    const o = 10 + i * 12;
    buf.writeUInt16LE(tag, o);
    buf.writeUInt16LE(type, o + 2);
    buf.writeUInt32LE(tag === 258 ? 4 : 1, o + 4);
    if (tag === 258) buf.writeUInt32LE(bitsAt, o + 8);
    else if (tag === 273) buf.writeUInt32LE(dataAt, o + 8);
    else if (type === 3) buf.writeUInt16LE(value, o + 8);
    else buf.writeUInt32LE(value, o + 8);
  });
  for (let i = 0; i < 4; i++) buf.writeUInt16LE(8, bitsAt + 2 * i);
  for (let i = 0; i < w * h; i++) buf.set(cmyk, dataAt + i * 4);
  return buf;
}

/** Bit depth and colour type from a PNG's IHDR. */
const pngKind = (png: Buffer) => ({ depth: png[24], colourType: png[25] });

describe('decodeImageBytes', () => {
  it('gives 8-bit RGB for 16-bit, grayscale and RGBA inputs', async () => {
    // 1x1 16-bit RGB PNG: (65535, 0, 32896) → (255, 0, 128)
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(1, 0);
    ihdr.writeUInt32BE(1, 4);
    ihdr[8] = 16;
    ihdr[9] = 2;
    const row = Buffer.from([0, 0xff, 0xff, 0, 0, 0x80, 0x80]);
    const png16 = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(row)),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    expect([...(await decodeImageBytes(png16)).data]).toEqual([255, 0, 128]);
    const gray = await sharp(Buffer.from([10, 200]), { raw: { width: 2, height: 1, channels: 1 } })
      .png()
      .toBuffer();
    const g = await decodeImageBytes(gray);
    expect([...g.data]).toEqual([10, 10, 10, 200, 200, 200]);
    const rgba = await sharp(Buffer.from([1, 2, 3, 255]), { raw: { width: 1, height: 1, channels: 4 } })
      .png()
      .toBuffer();
    expect([...(await decodeImageBytes(rgba)).data]).toEqual([1, 2, 3]);
  });

  it('round-trips PNG exactly and reports corrupt data with the file name', async () => {
    const img = { width: 2, height: 1, data: Uint8Array.from([1, 2, 3, 250, 251, 252]) };
    expect([...(await decodeImageBytes(await encodeImage(img, 'png'))).data]).toEqual([...img.data]);
    await expect(decodeImageBytes(Uint8Array.from([1, 2, 3]), 'x.jpg')).rejects.toThrow(
      /^x\.jpg: corrupt or unreadable image/,
    );
  });

  it('decodes grayscale, grayscale+alpha, RGBA, palette, 16-bit gray PNGs and CMYK JPEGs to 8-bit RGB', async () => {
    const raw = (data: number[], w: number, channels: 1 | 2 | 3 | 4) =>
      sharp(Buffer.from(data), { raw: { width: w, height: 1, channels } });
    const gray = await raw([10, 200], 2, 1).toColourspace('b-w').png().toBuffer();
    expect(pngKind(gray)).toEqual({ depth: 8, colourType: 0 });
    expect([...(await decodeImageBytes(gray)).data]).toEqual([10, 10, 10, 200, 200, 200]);

    const grayAlpha = await raw([10, 255, 200, 0], 2, 2).toColourspace('b-w').png().toBuffer();
    expect(pngKind(grayAlpha)).toEqual({ depth: 8, colourType: 4 });
    // alpha is dropped, not composited: a transparent pixel keeps its gray value
    expect([...(await decodeImageBytes(grayAlpha)).data]).toEqual([10, 10, 10, 200, 200, 200]);

    const rgba = await raw([1, 2, 3, 255, 250, 128, 7, 0], 2, 4).png().toBuffer();
    expect(pngKind(rgba)).toEqual({ depth: 8, colourType: 6 });
    expect([...(await decodeImageBytes(rgba)).data]).toEqual([1, 2, 3, 250, 128, 7]);

    const palette = await raw([255, 0, 0, 0, 0, 255, 10, 200, 30], 3, 3)
      .png({ palette: true, colours: 4, dither: 0 })
      .toBuffer();
    expect(pngKind(palette).colourType).toBe(3);
    expect([...(await decodeImageBytes(palette)).data]).toEqual([255, 0, 0, 0, 0, 255, 10, 200, 30]);

    // 8-bit v becomes 16-bit v·257: 65535, 0, 32896 → 255, 0, 128
    const gray16 = await raw([255, 0, 128], 3, 1).toColourspace('grey16').png().toBuffer();
    expect(pngKind(gray16)).toEqual({ depth: 16, colourType: 0 });
    expect([...(await decodeImageBytes(gray16)).data]).toEqual([255, 255, 255, 0, 0, 0, 128, 128, 128]);

    // pure cyan ink, and 50 % cyan with 50 % black, as PIL converts them (no colour management)
    for (const [cmyk, rgb] of [
      [
        [255, 0, 0, 0],
        [0, 255, 255],
      ],
      [
        [128, 0, 0, 128],
        [63, 127, 127],
      ],
    ]) {
      const jpeg = await sharp(cmykTiff(16, 16, cmyk!))
        .pipelineColourspace('cmyk')
        .toColourspace('cmyk')
        .jpeg({ quality: 100 })
        .toBuffer();
      const meta = await sharp(jpeg).metadata();
      expect([meta.format, meta.space, meta.channels]).toEqual(['jpeg', 'cmyk', 4]);
      const img = await decodeImageBytes(jpeg, 'cmyk.jpg');
      expect([img.width, img.height, img.data.length]).toEqual([16, 16, 16 * 16 * 3]);
      for (let i = 0; i < img.data.length; i++)
        expect(Math.abs(img.data[i]! - rgb![i % 3]!)).toBeLessThanOrEqual(3);
    }
  });

  it('applies the EXIF orientation only with orient: true', async () => {
    // 32x16, white with a red 8x8 block in the top-left corner, tagged "rotate 90° clockwise to display"
    const px = Buffer.alloc(32 * 16 * 3, 255);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) px.set([255, 0, 0], (y * 32 + x) * 3);
    const jpeg = await sharp(px, { raw: { width: 32, height: 16, channels: 3 } })
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const at = (img: { width: number; data: Uint8Array }, x: number, y: number) =>
      [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)].map(
        (v) => Math.round(v / 8) * 8,
      );
    const upright = await decodeImageBytes(jpeg, 'o.jpg', { orient: true });
    expect([upright.width, upright.height]).toEqual([16, 32]);
    // turned clockwise, the top-left corner goes to the top-right
    expect(at(upright, 15, 0)).toEqual([256, 0, 0]);
    expect(at(upright, 0, 0)).toEqual([256, 256, 256]);
    for (const stored of [
      await decodeImageBytes(jpeg, 'o.jpg'),
      await decodeImageBytes(jpeg, 'o.jpg', { orient: false }),
    ]) {
      expect([stored.width, stored.height]).toEqual([32, 16]);
      expect(at(stored, 0, 0)).toEqual([256, 0, 0]);
      expect(at(stored, 31, 0)).toEqual([256, 256, 256]);
    }
  });

  it('says a zero-byte file is empty, and a missing one missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsss-image-'));
    try {
      writeFileSync(join(dir, 'empty.jpg'), '');
      await expect(readImage(join(dir, 'empty.jpg'))).rejects.toThrow(
        `${join(dir, 'empty.jpg')}: image file is empty (0 bytes)`,
      );
      await expect(readImage(join(dir, 'none.jpg'))).rejects.toThrow(
        `${join(dir, 'none.jpg')}: image file is missing`,
      );
      await expect(decodeImageBytes(new Uint8Array(0), 'x.png')).rejects.toThrow(
        'x.png: image file is empty',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
