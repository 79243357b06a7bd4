import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { writeFileAtomic } from './atomicWrite.js';
import { DatasetError } from './errors.js';
import type { RgbImage } from './types.js';

/**
 * Decodes a JPEG/PNG/WebP (anything sharp reads) from bytes into 8-bit RGB. Alpha is dropped, grayscale is
 * expanded to three channels, EXIF orientation is ignored (PIL, which the reference uses, does not apply it).
 * Truncated or corrupt data is an error naming `file`.
 */
export async function decodeImageBytes(bytes: Uint8Array, file = '<buffer>'): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes, { failOn: 'truncated' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' }) // 16-bit PNGs come out as 8-bit too
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`decoded to ${info.channels} channels, ${data.length} bytes`);
    }
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
  } catch (err) {
    throw new DatasetError(file, `corrupt or unreadable image (${(err as Error).message})`, { cause: err });
  }
}

/** Reads and decodes an image file to RGB; a missing file and a corrupt one give distinct messages. */
export async function readImage(file: string): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DatasetError(
      file,
      code === 'ENOENT' ? 'image file is missing' : `cannot read image (${code})`,
      {
        cause: err,
      },
    );
  }
  return decodeImageBytes(bytes, file);
}

/** Encodes an RGB image as JPEG (`quality` 1–100) or lossless PNG. */
export async function encodeImage(
  image: RgbImage,
  format: 'jpeg' | 'png',
  quality = 95,
): Promise<Uint8Array> {
  const s = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  const buf =
    format === 'jpeg'
      ? await s.jpeg({ quality, chromaSubsampling: '4:4:4' }).toBuffer()
      : await s.png({ compressionLevel: 6 }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Encodes and writes an RGB image atomically; the format follows the extension (.jpg/.jpeg or .png). */
export async function writeImage(file: string, image: RgbImage, quality = 95): Promise<void> {
  const lower = file.toLowerCase();
  const format = lower.endsWith('.png')
    ? 'png'
    : lower.endsWith('.jpg') || lower.endsWith('.jpeg')
      ? 'jpeg'
      : null;
  if (!format) throw new DatasetError(file, 'unsupported image extension (use .jpg, .jpeg or .png)');
  await writeFileAtomic(file, await encodeImage(image, format, quality));
}
