import { inflateSync } from 'node:zlib';

// A reader for the subset of MATLAB level-5 MAT files that SBD uses (numeric arrays, structs, cells, char,
// zlib-compressed elements), written from the published MAT-file format description.

const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
  UTF8: 16,
  UTF16: 17,
  UTF32: 18,
} as const;
const MX = { CELL: 1, STRUCT: 2, OBJECT: 3, CHAR: 4, SPARSE: 5 } as const;

/** A decoded MATLAB value. Numeric arrays keep MATLAB's column-major order with their `dims`. */
export type MatValue =
  | { kind: 'numeric'; dims: number[]; data: ArrayLike<number> }
  | { kind: 'char'; dims: number[]; text: string }
  | { kind: 'struct'; dims: number[]; fields: string[]; elements: Record<string, MatValue>[] }
  | { kind: 'cell'; dims: number[]; cells: MatValue[] }
  | { kind: 'unsupported'; dims: number[]; mxClass: number };

class Reader {
  constructor(
    readonly buf: Uint8Array,
    readonly little: boolean,
    readonly view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
  ) {}
  u32(p: number): number {
    if (p + 4 > this.buf.length) throw new Error('truncated MAT file');
    return this.view.getUint32(p, this.little);
  }
}

interface Element {
  type: number;
  data: Uint8Array;
  next: number;
}

function readElement(r: Reader, pos: number): Element {
  const first = r.u32(pos);
  // Small data element: the upper 16 bits hold the byte count, the data sits in the tag's second word.
  if (first >>> 16 !== 0) {
    const type = first & 0xffff;
    const n = first >>> 16;
    if (n > 4) throw new Error(`bad small data element at byte ${pos}`);
    return { type, data: r.buf.subarray(pos + 4, pos + 4 + n), next: pos + 8 };
  }
  const n = r.u32(pos + 4);
  const start = pos + 8;
  if (start + n > r.buf.length)
    throw new Error(`truncated MAT file (element at byte ${pos} needs ${n} bytes)`);
  const padded = first === MI.COMPRESSED ? n : Math.ceil(n / 8) * 8;
  return { type: first, data: r.buf.subarray(start, start + n), next: start + padded };
}

function numbers(r: Reader, e: Element): ArrayLike<number> {
  const d = e.data;
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const le = r.little;
  const read = (size: number, get: (o: number) => number) => {
    const out = new Float64Array(Math.floor(d.length / size));
    for (let i = 0; i < out.length; i++) out[i] = get(i * size);
    return out;
  };
  switch (e.type) {
    case MI.UINT8:
      return d;
    case MI.INT8:
      return new Int8Array(d.buffer, d.byteOffset, d.length);
    case MI.INT16:
      return read(2, (o) => v.getInt16(o, le));
    case MI.UINT16:
      return read(2, (o) => v.getUint16(o, le));
    case MI.INT32:
      return read(4, (o) => v.getInt32(o, le));
    case MI.UINT32:
      return read(4, (o) => v.getUint32(o, le));
    case MI.SINGLE:
      return read(4, (o) => v.getFloat32(o, le));
    case MI.DOUBLE:
      return read(8, (o) => v.getFloat64(o, le));
    case MI.INT64:
      return read(8, (o) => Number(v.getBigInt64(o, le)));
    case MI.UINT64:
      return read(8, (o) => Number(v.getBigUint64(o, le)));
    default:
      throw new Error(`unsupported numeric data type ${e.type}`);
  }
}

function parseMatrix(r: Reader, e: Element): { name: string; value: MatValue } {
  const sub = new Reader(e.data, r.little);
  if (e.data.length === 0) return { name: '', value: { kind: 'numeric', dims: [0, 0], data: [] } };
  const flags = readElement(sub, 0);
  if (flags.data.length < 4) throw new Error('array flags element too short');
  const mxClass = new DataView(flags.data.buffer, flags.data.byteOffset, 4).getUint32(0, r.little) & 0xff;
  const dimsEl = readElement(sub, flags.next);
  const dims = Array.from(numbers(sub, dimsEl));
  const nameEl = readElement(sub, dimsEl.next);
  const name = new TextDecoder().decode(nameEl.data);
  let pos = nameEl.next;
  const count = dims.reduce((a, b) => a * b, 1);
  if (mxClass === MX.STRUCT || mxClass === MX.OBJECT) {
    if (mxClass === MX.OBJECT) pos = readElement(sub, pos).next; // class name
    const lenEl = readElement(sub, pos);
    const fieldLen = numbers(sub, lenEl)[0]!;
    const namesEl = readElement(sub, lenEl.next);
    pos = namesEl.next;
    const fields: string[] = [];
    for (let o = 0; o + fieldLen <= namesEl.data.length; o += fieldLen) {
      const raw = namesEl.data.subarray(o, o + fieldLen);
      const end = raw.indexOf(0);
      fields.push(new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end)));
    }
    const elements: Record<string, MatValue>[] = [];
    for (let i = 0; i < count; i++) {
      const rec: Record<string, MatValue> = {};
      for (const f of fields) {
        const el = readElement(sub, pos);
        if (el.type !== MI.MATRIX) throw new Error(`struct field ${f} is not a matrix element`);
        rec[f] = parseMatrix(sub, el).value;
        pos = el.next;
      }
      elements.push(rec);
    }
    return { name, value: { kind: 'struct', dims, fields, elements } };
  }
  if (mxClass === MX.CELL) {
    const cells: MatValue[] = [];
    for (let i = 0; i < count; i++) {
      const el = readElement(sub, pos);
      cells.push(parseMatrix(sub, el).value);
      pos = el.next;
    }
    return { name, value: { kind: 'cell', dims, cells } };
  }
  if (mxClass === MX.CHAR) {
    const el = readElement(sub, pos);
    const codes = el.type === MI.UTF8 ? Array.from(el.data) : Array.from(numbers(sub, el));
    return { name, value: { kind: 'char', dims, text: String.fromCharCode(...codes) } };
  }
  if (mxClass >= 6 && mxClass <= 15) {
    const real = readElement(sub, pos);
    return { name, value: { kind: 'numeric', dims, data: numbers(sub, real) } };
  }
  return { name, value: { kind: 'unsupported', dims, mxClass } };
}

/**
 * Parses a level-5 MAT file into its top-level variables. Throws a plain Error describing the first problem
 * (bad header, truncation, unsupported element); callers add the file name.
 */
export function parseMat5(bytes: Uint8Array): Map<string, MatValue> {
  if (bytes.length < 128) throw new Error('not a MAT file (shorter than the 128-byte header)');
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 116));
  if (!head.startsWith('MATLAB 5.0 MAT-file')) {
    throw new Error(
      head.startsWith('MATLAB 7.3') ? 'MAT v7.3 (HDF5) files are not supported' : 'not a MATLAB 5 MAT file',
    );
  }
  const endian = String.fromCharCode(bytes[126]!, bytes[127]!);
  if (endian !== 'IM' && endian !== 'MI') throw new Error(`bad endian indicator "${endian}"`);
  const r = new Reader(bytes, endian === 'IM');
  const vars = new Map<string, MatValue>();
  let pos = 128;
  while (pos < bytes.length) {
    let el = readElement(r, pos);
    pos = el.next;
    let rr = r;
    if (el.type === MI.COMPRESSED) {
      let inflated: Uint8Array;
      try {
        inflated = inflateSync(el.data);
      } catch (err) {
        throw new Error(`compressed element does not inflate (${(err as Error).message})`);
      }
      rr = new Reader(inflated, r.little);
      el = readElement(rr, 0);
    }
    if (el.type !== MI.MATRIX) continue;
    const { name, value } = parseMatrix(rr, el);
    vars.set(name, value);
  }
  return vars;
}
