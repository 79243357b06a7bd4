import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { writeFileAtomic } from './atomicWrite.js';
import { DatasetError } from './errors.js';
import type { RgbImage } from './types.js';

/** Options of {@link decodeImageBytes} and {@link readImage}. */
export interface DecodeImageOptions {
  /**
   * Apply the EXIF orientation tag, so the pixels come out the way a photo viewer shows them (a portrait photo
   * stored sideways with orientation 6 comes out upright, width and height swapped). Default false: the stored
   * pixels as they are, which is what PIL — and so the reference and its VOC numbers — reads.
   */
  orient?: boolean;
}

/**
 * The number of colour components of a baseline or progressive JPEG (from its first SOF marker), or 0 when
 * `bytes` is not a JPEG or has no SOF marker. Four components means CMYK (or YCCK, which the decoder turns
 * into CMYK).
 */
function jpegComponents(bytes: Uint8Array): number {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return 0;
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) return 0;
    const marker = bytes[pos + 1]!;
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return pos + 9 < bytes.length ? bytes[pos + 9]! : 0;
    }
    if (marker === 0xd9 || marker === 0xda) return 0; // end of image or start of scan before any SOF
    pos += 2 + ((bytes[pos + 2]! << 8) | bytes[pos + 3]!);
  }
  return 0;
}

/**
 * CMYK → RGB the way PIL converts (`Image.convert('RGB')`): each channel is `(255 − K) − C·(255 − K)/255`
 * rounded, with no colour management, so pure cyan ink (255, 0, 0, 0) becomes (0, 255, 255). libvips would
 * convert through a CMYK ICC profile instead and give a duller (0, 153, 228).
 */
function cmykToRgb(cmyk: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const nk = 255 - cmyk[i * 4 + 3]!;
    for (let c = 0; c < 3; c++) {
      const t = cmyk[i * 4 + c]! * nk + 128;
      out[i * 3 + c] = nk - (((t >> 8) + t) >> 8);
    }
  }
  return out;
}

/**
 * Decodes a JPEG/PNG/WebP (anything sharp reads) from bytes into 8-bit RGB, the way PIL's `convert('RGB')`
 * does: alpha is dropped (not composited), grayscale is repeated into three channels, palette images are
 * expanded, 16-bit samples are scaled to 8 bits (65535 → 255) and CMYK JPEGs are converted without colour
 * management (see {@link DecodeImageOptions.orient} for EXIF orientation). Empty, truncated or corrupt data is
 * an error naming `file`.
 */
export async function decodeImageBytes(
  bytes: Uint8Array,
  file = '<buffer>',
  opts: DecodeImageOptions = {},
): Promise<RgbImage> {
  if (bytes.length === 0) throw new DatasetError(file, 'image file is empty (0 bytes)');
  try {
    let s = sharp(bytes, { failOn: 'truncated' });
    if (opts.orient) s = s.rotate();
    if (jpegComponents(bytes) === 4) {
      const { data, info } = await s
        .pipelineColourspace('cmyk')
        .toColourspace('cmyk')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      const pixels = info.width * info.height;
      if (info.channels !== 4 || data.length !== pixels * 4) {
        throw new Error(`CMYK JPEG decoded to ${info.channels} channels, ${data.length} bytes`);
      }
      return { width: info.width, height: info.height, data: cmykToRgb(data, pixels) };
    }
    const { data, info } = await s
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

/**
 * Reads and decodes an image file to RGB (see {@link decodeImageBytes}); a missing, an empty and a corrupt file
 * give distinct messages.
 */
export async function readImage(file: string, opts: DecodeImageOptions = {}): Promise<RgbImage> {
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
  return decodeImageBytes(bytes, file, opts);
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
