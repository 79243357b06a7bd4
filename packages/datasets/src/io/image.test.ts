import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImageBytes, encodeImage } from './image.js';

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'ascii'), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

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
});
