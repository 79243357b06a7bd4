/**
 * Test helpers (not exported from the package): a ZIP writer that can force ZIP64 records, and a tiny pickle
 * assembler for hand-crafted (including hostile) pickles.
 */
import { crc32 } from './zip.js';

export interface TestZipEntry {
  name: string;
  data: Uint8Array;
  /** Already-deflated bytes to store with method 8 instead of `data` (which still gives size and CRC). */
  deflated?: Uint8Array;
}

export interface TestZipOptions {
  /** Write ZIP64 records: saturated 32-bit fields with ZIP64 extra fields, and a ZIP64 end record + locator. */
  zip64?: boolean;
  /** Archive comment. */
  comment?: string;
}

/** Writes a ZIP archive (local headers, central directory, end records). */
export function buildZip(entries: TestZipEntry[], opts: TestZipOptions = {}): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const z64 = opts.zip64 ?? false;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const body = e.deflated ?? e.data;
    const crc = crc32(e.data);
    const method = e.deflated ? 8 : 0;
    // Local header; with ZIP64, sizes go in a ZIP64 extra field.
    const localExtra = z64 ? 20 : 0;
    const local = new Uint8Array(30 + name.length + localExtra);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, z64 ? 45 : 20, true);
    lv.setUint16(8, method, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, z64 ? 0xffffffff : body.length, true);
    lv.setUint32(22, z64 ? 0xffffffff : e.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, localExtra, true);
    local.set(name, 30);
    if (z64) {
      lv.setUint16(30 + name.length, 1, true);
      lv.setUint16(32 + name.length, 16, true);
      lv.setBigUint64(34 + name.length, BigInt(e.data.length), true);
      lv.setBigUint64(42 + name.length, BigInt(body.length), true);
    }
    // Central header; with ZIP64: uncompressed size, compressed size, offset in the extra field, in that order.
    const cExtra = z64 ? 28 : 0;
    const c = new Uint8Array(46 + name.length + cExtra);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, z64 ? 45 : 20, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, z64 ? 0xffffffff : body.length, true);
    cv.setUint32(24, z64 ? 0xffffffff : e.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, cExtra, true);
    cv.setUint32(42, z64 ? 0xffffffff : offset, true);
    c.set(name, 46);
    if (z64) {
      const x = 46 + name.length;
      cv.setUint16(x, 1, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(e.data.length), true);
      cv.setBigUint64(x + 12, BigInt(body.length), true);
      cv.setBigUint64(x + 20, BigInt(offset), true);
    }
    parts.push(local, body);
    central.push(c);
    offset += local.length + body.length;
  }
  const cdOffset = offset;
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  parts.push(...central);
  offset += cdSize;
  const n = entries.length;
  if (z64 || n > 0xfffe) {
    const rec = new Uint8Array(56 + 20);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(n), true);
    rv.setBigUint64(32, BigInt(n), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(cdOffset), true);
    rv.setUint32(56, 0x07064b50, true);
    rv.setBigUint64(64, BigInt(offset), true);
    rv.setUint32(72, 1, true);
    parts.push(rec);
  }
  const comment = enc.encode(opts.comment ?? '');
  const eocd = new Uint8Array(22 + comment.length);
  const ev = new DataView(eocd.buffer);
  const big = z64 || n > 0xfffe;
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, big ? 0xffff : n, true);
  ev.setUint16(10, big ? 0xffff : n, true);
  ev.setUint32(12, big ? 0xffffffff : cdSize, true);
  ev.setUint32(16, big ? 0xffffffff : cdOffset, true);
  ev.setUint16(20, comment.length, true);
  eocd.set(comment, 22);
  parts.push(eocd);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Pickle assembler: each helper returns the bytes of one opcode (with its argument). */
export const P = {
  proto: (v: number) => [0x80, v],
  stop: [0x2e],
  mark: [0x28],
  none: [0x4e],
  true: [0x88],
  false: [0x89],
  emptyDict: [0x7d],
  emptyList: [0x5d],
  emptyTuple: [0x29],
  tuple: [0x74],
  tuple1: [0x85],
  tuple2: [0x86],
  tuple3: [0x87],
  setitem: [0x73],
  setitems: [0x75],
  appends: [0x65],
  reduce: [0x52],
  build: [0x62],
  newobj: [0x81],
  binpersid: [0x51],
  stackGlobal: [0x93],
  memoize: [0x94],
  int: (v: number) => {
    const b = new Uint8Array(5);
    b[0] = 0x4a;
    new DataView(b.buffer).setInt32(1, v, true);
    return [...b];
  },
  str: (s: string) => {
    const u = new TextEncoder().encode(s);
    const b = new Uint8Array(5 + u.length);
    b[0] = 0x58;
    new DataView(b.buffer).setUint32(1, u.length, true);
    b.set(u, 5);
    return [...b];
  },
  global: (module: string, name: string) => [0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)],
  inst: (module: string, name: string) => [0x69, ...new TextEncoder().encode(`${module}\n${name}\n`)],
  binput: (i: number) => [0x71, i],
  binget: (i: number) => [0x68, i],
};

/** Concatenates opcode byte lists into a pickle. */
export function pickle(...ops: (number[] | number)[]): Uint8Array {
  return Uint8Array.from(ops.flatMap((o) => (typeof o === 'number' ? [o] : o)));
}

/** A minimal `.pth` zip: `archive/data.pkl`, `archive/version` and the given storages `archive/data/<key>`. */
export function buildPth(pkl: Uint8Array, storages: Record<string, Uint8Array> = {}): Uint8Array {
  return buildZip([
    { name: 'archive/data.pkl', data: pkl },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: 'archive/version', data: new TextEncoder().encode('3\n') },
  ]);
}
