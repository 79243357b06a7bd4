import { readFile } from 'node:fs/promises';
import { deflateSync, inflateSync } from 'node:zlib';
import { writeFileAtomic } from './atomicWrite.js';
import { DatasetError } from './errors.js';
import type { IndexMask } from './types.js';

// Index masks are read and written by this small PNG codec rather than sharp: sharp (libvips) expands
// palette PNGs to RGB, and VOC masks must be read as class indices, never as colours (DESIGN §6).

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** What {@link decodeIndexPng} returns: the mask plus the palette if the file had one. */
export interface DecodedIndexPng extends IndexMask {
  /** RGB triples of the PLTE chunk (colour type 3), else undefined. */
  palette?: Uint8Array;
}

/**
 * Decodes a palette (colour type 3) or 8-bit-or-less grayscale (colour type 0) PNG into class indices.
 * RGB and RGBA masks are refused: a colour mask would have to be mapped back through a colour map, which is
 * exactly what reading "as RGB" gets wrong. Checks the signature, chunk CRCs and the data length, so a corrupt
 * or truncated file is reported rather than silently read.
 * @param bytes - the file contents.
 * @param file - the name used in error messages.
 */
export function decodeIndexPng(bytes: Uint8Array, file = '<buffer>'): DecodedIndexPng {
  if (bytes.length < 8 || !SIGNATURE.every((b, i) => bytes[i] === b)) {
    throw new DatasetError(file, 'not a PNG file (bad signature)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  let colorType = -1;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let sawEnd = false;
  while (pos < bytes.length) {
    if (pos + 12 > bytes.length) throw new DatasetError(file, 'truncated PNG (incomplete chunk header)');
    const len = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4]!, bytes[pos + 5]!, bytes[pos + 6]!, bytes[pos + 7]!);
    const dataStart = pos + 8;
    const dataEnd = dataStart + len;
    if (dataEnd + 4 > bytes.length) throw new DatasetError(file, `truncated PNG (chunk ${type} cut short)`);
    if (crc32(bytes, pos + 4, dataEnd) !== view.getUint32(dataEnd)) {
      throw new DatasetError(file, `corrupt PNG (CRC mismatch in chunk ${type})`);
    }
    const data = bytes.subarray(dataStart, dataEnd);
    if (type === 'IHDR') {
      if (len !== 13) throw new DatasetError(file, 'corrupt PNG (IHDR length)');
      width = view.getUint32(dataStart);
      height = view.getUint32(dataStart + 4);
      bitDepth = data[8]!;
      colorType = data[9]!;
      if (data[12] !== 0) throw new DatasetError(file, 'interlaced PNG masks are not supported');
    } else if (type === 'PLTE') {
      palette = data.slice();
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    pos = dataEnd + 4;
  }
  if (colorType < 0) throw new DatasetError(file, 'corrupt PNG (no IHDR chunk)');
  if (!sawEnd) throw new DatasetError(file, 'truncated PNG (no IEND chunk)');
  if (colorType !== 3 && colorType !== 0) {
    const kind = colorType === 2 ? 'RGB' : colorType === 6 ? 'RGBA' : `colour type ${colorType}`;
    throw new DatasetError(file, `mask is ${kind}; expected a palette or grayscale index PNG`);
  }
  if (bitDepth !== 1 && bitDepth !== 2 && bitDepth !== 4 && bitDepth !== 8) {
    throw new DatasetError(file, `unsupported mask bit depth ${bitDepth} (expected 1, 2, 4 or 8)`);
  }
  if (width === 0 || height === 0) throw new DatasetError(file, 'PNG has zero width or height');
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (err) {
    throw new DatasetError(file, `corrupt PNG (image data does not inflate: ${(err as Error).message})`, {
      cause: err,
    });
  }
  const stride = Math.ceil((width * bitDepth) / 8);
  if (raw.length < (stride + 1) * height) {
    throw new DatasetError(
      file,
      `truncated PNG (image data holds ${raw.length} of ${(stride + 1) * height} bytes)`,
    );
  }
  const rows = new Uint8Array(stride * height);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = rows.subarray(y * stride, (y + 1) * stride);
    for (let x = 0; x < stride; x++) {
      const a = x > 0 ? cur[x - 1]! : 0;
      const b = prev[x]!;
      const c = x > 0 ? prev[x - 1]! : 0;
      const v = src[x]!;
      switch (filter) {
        case 0:
          cur[x] = v;
          break;
        case 1:
          cur[x] = v + a;
          break;
        case 2:
          cur[x] = v + b;
          break;
        case 3:
          cur[x] = v + ((a + b) >> 1);
          break;
        case 4:
          cur[x] = v + paeth(a, b, c);
          break;
        default:
          throw new DatasetError(file, `corrupt PNG (unknown filter type ${filter} on row ${y})`);
      }
    }
    prev = cur;
  }
  let out: Uint8Array;
  if (bitDepth === 8) {
    out = rows;
  } else {
    out = new Uint8Array(width * height);
    const perByte = 8 / bitDepth;
    const maskBits = (1 << bitDepth) - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const byte = rows[y * stride + Math.floor(x / perByte)]!;
        const shift = 8 - bitDepth * ((x % perByte) + 1);
        out[y * width + x] = (byte >> shift) & maskBits;
      }
    }
  }
  return palette ? { width, height, data: out, palette } : { width, height, data: out };
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/**
 * Encodes an index mask as an 8-bit palette PNG (colour type 3). The palette is written as given (RGB
 * triples, up to 256 entries, e.g. {@link vocColorMap}); pixel values are stored unchanged.
 */
export function encodeIndexPng(mask: IndexMask, palette: Uint8Array): Uint8Array {
  const { width, height, data } = mask;
  if (data.length !== width * height) {
    throw new RangeError(`encodeIndexPng: data length ${data.length} != width*height ${width * height}`);
  }
  if (palette.length % 3 !== 0 || palette.length === 0 || palette.length > 768) {
    throw new RangeError(
      `encodeIndexPng: palette length ${palette.length} must be 3..768 and a multiple of 3`,
    );
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = 3;
  // 'Sub' filter on every row: masks are runs of equal values, which Sub turns into zeros.
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (width + 1);
    raw[o] = 1;
    const row = y * width;
    raw[o + 1] = data[row]!;
    for (let x = 1; x < width; x++) raw[o + 1 + x] = (data[row + x]! - data[row + x - 1]!) & 0xff;
  }
  const parts = [
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('PLTE', palette),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  return Buffer.concat(parts);
}

/** Reads an index PNG from disk; errors name the file (missing, corrupt, truncated, RGB). */
export async function readIndexPng(file: string): Promise<DecodedIndexPng> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DatasetError(file, code === 'ENOENT' ? 'mask file is missing' : `cannot read mask (${code})`, {
      cause: err,
    });
  }
  return decodeIndexPng(bytes, file);
}

/** Writes an index mask as a palette PNG atomically (temp file + rename). */
export async function writeIndexPng(file: string, mask: IndexMask, palette: Uint8Array): Promise<void> {
  await writeFileAtomic(file, encodeIndexPng(mask, palette));
}
