/**
 * A minimal ZIP reader over a `Uint8Array` (browser and Node): end-of-central-directory and ZIP64 records, the
 * central directory (with ZIP64 extra fields) and local headers. Entries stored (method 0) are returned as views
 * into the input without copying; deflated entries (method 8) are inflated. Encrypted, multi-disk and other
 * compression methods are refused.
 */
import { inflateRaw } from './inflate.js';

/** One file in a ZIP archive, as its central directory describes it. */
export interface ZipEntry {
  /** Entry name (UTF-8 decoded). */
  name: string;
  /** Compression method: 0 stored, 8 deflate. */
  method: number;
  /** General-purpose flags. */
  flags: number;
  /** CRC-32 of the uncompressed data. */
  crc32: number;
  /** Size of the data in the archive. */
  compressedSize: number;
  /** Size once decompressed. */
  size: number;
  /** Offset of the local file header. */
  localHeaderOffset: number;
  /** Offset of the (compressed) data, just after the local header. */
  dataOffset: number;
}

/** What `readZip` returns. */
export interface ZipArchive {
  /** Entries by name, in central-directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** Whether the archive was written with ZIP64 records. */
  readonly zip64: boolean;
  /**
   * The uncompressed bytes of an entry: a view into the archive for stored entries, a fresh array for deflated
   * ones. Throws if the entry is missing or its CRC-32 does not match (when `verifyCrc`).
   */
  read(name: string): Uint8Array;
}

/** Options for `readZip`. */
export interface ReadZipOptions {
  /** Name of the archive in error messages (e.g. a file path). Default 'zip'. */
  source?: string;
  /** Check each entry's CRC-32 when it is read. Default true. */
  verifyCrc?: boolean;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

let crcTables: Int32Array[] | undefined;

/** CRC-32 (ISO-HDLC, as ZIP uses) of `bytes`, as an unsigned 32-bit number. Slicing-by-8, about 8 bytes a step. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTables) {
    const t0 = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t0[n] = c;
    }
    // Table k advances a byte through k further zero bytes.
    crcTables = [t0];
    for (let k = 1; k < 8; k++) {
      const prev = crcTables[k - 1]!;
      const t = new Int32Array(256);
      for (let n = 0; n < 256; n++) t[n] = t0[prev[n]! & 0xff]! ^ (prev[n]! >>> 8);
      crcTables.push(t);
    }
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crcTables as [
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
  ];
  let c = -1;
  let i = 0;
  const n8 = bytes.length - (bytes.length % 8);
  for (; i < n8; i += 8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t7[a & 0xff]! ^
      t6[(a >>> 8) & 0xff]! ^
      t5[(a >>> 16) & 0xff]! ^
      t4[a >>> 24]! ^
      t3[bytes[i + 4]!]! ^
      t2[bytes[i + 5]!]! ^
      t1[bytes[i + 6]!]! ^
      t0[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Reads an unsigned 64-bit little-endian value, refusing values past Number.MAX_SAFE_INTEGER. */
function u64(dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what} is ${v}, too large to address`);
  return Number(v);
}

/**
 * Parses the structure of a ZIP archive (no data is decompressed until `read`).
 * @throws Error naming the archive, the record or entry and what was wrong (truncated file, bad signature, a size
 * or offset outside the file, unsupported method, encryption, duplicate names).
 */
export function readZip(bytes: Uint8Array, opts: ReadZipOptions = {}): ZipArchive {
  const { source = 'zip', verifyCrc = true } = opts;
  if (!(bytes instanceof Uint8Array)) throw new Error(`${source}: expected a Uint8Array of file bytes`);
  const len = bytes.byteLength;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, len);
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };

  // End of central directory: the last signature whose comment length reaches exactly the end of the file.
  let eocd = -1;
  for (let p = len - EOCD_SIZE; p >= Math.max(0, len - EOCD_SIZE - MAX_COMMENT); p--) {
    if (dv.getUint32(p, true) === SIG_EOCD && p + EOCD_SIZE + dv.getUint16(p + 20, true) === len) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) {
    fail(
      len >= 4 && dv.getUint32(0, true) === SIG_LOCAL
        ? 'no end-of-central-directory record: the ZIP archive is truncated'
        : 'not a ZIP archive (no end-of-central-directory record)',
    );
  }
  const disk = dv.getUint16(eocd + 4, true);
  const cdDisk = dv.getUint16(eocd + 6, true);
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  let zip64 = false;

  const loc = eocd - 20;
  if (loc >= 0 && dv.getUint32(loc, true) === SIG_EOCD64_LOCATOR) {
    zip64 = true;
    const at = u64(dv, loc + 8, `${source}: ZIP64 end-of-central-directory offset`);
    if (at + 56 > loc) fail(`ZIP64 end-of-central-directory record at ${at} lies outside the file`);
    if (dv.getUint32(at, true) !== SIG_EOCD64) {
      fail(`bad signature for the ZIP64 end-of-central-directory record at ${at}`);
    }
    if (dv.getUint32(at + 16, true) !== 0 || dv.getUint32(at + 20, true) !== 0) {
      fail('multi-disk ZIP archives are not supported');
    }
    count = u64(dv, at + 32, `${source}: ZIP64 entry count`);
    cdSize = u64(dv, at + 40, `${source}: ZIP64 central directory size`);
    cdOffset = u64(dv, at + 48, `${source}: ZIP64 central directory offset`);
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    fail('the end-of-central-directory record defers to a ZIP64 record, but there is no ZIP64 locator');
  } else if (disk !== 0 || cdDisk !== 0) {
    fail('multi-disk ZIP archives are not supported');
  }
  if (cdOffset + cdSize > (zip64 ? loc : eocd)) {
    fail(
      `central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record: the file is truncated or corrupt`,
    );
  }

  const decoder = new TextDecoder('utf-8');
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize) fail(`central directory ends after ${i} of ${count} entries`);
    if (dv.getUint32(p, true) !== SIG_CENTRAL) fail(`bad central directory signature for entry ${i} at ${p}`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let entryDisk = dv.getUint16(p + 34, true);
    let localHeaderOffset = dv.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdOffset + cdSize)
      fail(`central directory entry ${i} runs past the end of the central directory`);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    const where = `entry '${name}'`;

    // ZIP64 extended information: 8-byte values for exactly the fields saturated in the fixed header, in order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = dv.getUint16(x, true);
      const n = dv.getUint16(x + 2, true);
      if (x + 4 + n > xEnd) fail(`${where}: extra field 0x${id.toString(16)} runs past the extra data`);
      if (id === 0x0001) {
        let q = x + 4;
        const take = (what: string): number => {
          if (q + 8 > x + 4 + n) fail(`${where}: ZIP64 extra field is too short for the ${what}`);
          const v = u64(dv, q, `${source}: ${where}: ZIP64 ${what}`);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take('uncompressed size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('local header offset');
        if (entryDisk === 0xffff) {
          if (q + 4 > x + 4 + n) fail(`${where}: ZIP64 extra field is too short for the disk number`);
          entryDisk = dv.getUint32(q, true);
        }
      }
      x += 4 + n;
    }
    if (size === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
      fail(`${where}: sizes or offset are saturated (0xFFFFFFFF) but no ZIP64 extra field gives them`);
    }
    if (entryDisk !== 0) fail(`${where}: starts on disk ${entryDisk}; multi-disk archives are not supported`);
    if (flags & 0x41) fail(`${where}: encrypted entries are not supported`);
    if (method !== 0 && method !== 8) {
      fail(`${where}: compression method ${method} is not supported (expected 0 stored or 8 deflate)`);
    }
    if (method === 0 && compressedSize !== size) {
      fail(`${where}: stored entry has compressed size ${compressedSize} but size ${size}`);
    }
    if (localHeaderOffset + 30 > cdOffset) {
      fail(`${where}: local header offset ${localHeaderOffset} lies outside the file data`);
    }
    if (dv.getUint32(localHeaderOffset, true) !== SIG_LOCAL) {
      fail(`${where}: bad local header signature at ${localHeaderOffset}`);
    }
    // The local header's extra field may differ from the central one (PyTorch pads it to align data to 64 bytes).
    const dataOffset =
      localHeaderOffset +
      30 +
      dv.getUint16(localHeaderOffset + 26, true) +
      dv.getUint16(localHeaderOffset + 28, true);
    if (dataOffset + compressedSize > cdOffset) {
      fail(
        `${where}: data [${dataOffset}, ${dataOffset + compressedSize}) runs into the central directory at ${cdOffset}: the file is truncated or corrupt`,
      );
    }
    if (entries.has(name)) fail(`duplicate entry '${name}'`);
    entries.set(name, {
      name,
      method,
      flags,
      crc32: crc,
      compressedSize,
      size,
      localHeaderOffset,
      dataOffset,
    });
    p = end;
  }

  const read = (name: string): Uint8Array => {
    const e = entries.get(name);
    if (!e) fail(`no entry '${name}' in the archive`);
    const entry = e!;
    const raw = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
    let data: Uint8Array;
    if (entry.method === 0) {
      data = raw;
    } else {
      try {
        data = inflateRaw(raw, entry.size);
      } catch (err) {
        throw new Error(`${source}: entry '${name}': ${(err as Error).message}`);
      }
    }
    if (verifyCrc) {
      const c = crc32(data);
      if (c !== entry.crc32) {
        fail(
          `entry '${name}': CRC-32 is 0x${c.toString(16).padStart(8, '0')}, the central directory says 0x${entry.crc32.toString(16).padStart(8, '0')}: the data is corrupt`,
        );
      }
    }
    return data;
  };
  return { entries, zip64, read };
}
