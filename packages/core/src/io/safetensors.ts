/**
 * safetensors reader and writer in plain TypeScript (browser and Node).
 *
 * Format (https://github.com/huggingface/safetensors): an 8-byte little-endian unsigned header length N, then N
 * bytes of UTF-8 JSON — an object mapping each tensor name to `{dtype, shape, data_offsets: [begin, end]}` plus
 * an optional `"__metadata__"` object of string → string — then the data buffer. Offsets are relative to the
 * start of the data buffer (the end of the header); tensors are little-endian, row-major, and together must
 * cover the data buffer exactly, without gaps or overlaps.
 */
import * as tf from '@tensorflow/tfjs-core';
import { crc32, crc32Hex } from './crc32.js';
import { bfloat16BitsToFloat, floatToBfloat16Bits, floatToHalfBits, halfBitsToFloat } from './halfFloat.js';

/** The safetensors dtypes this reader and writer handle. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element of each supported dtype. */
export const SAFETENSORS_DTYPE_SIZES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Dtypes of the format that this implementation does not convert (named in the error). */
const KNOWN_UNSUPPORTED = [
  'U16',
  'I16',
  'U32',
  'U64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
];

/** Default limit on the JSON header size; the reference implementation refuses headers over 100 MB too. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

/**
 * One tensor read from a file. Floats (F64/F32/F16/BF16) arrive as `Float32Array`, I64/I32 as `Int32Array`,
 * U8 and BOOL as `Uint8Array`, I8 as `Int8Array`; `dtype` is the dtype stored in the file.
 */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array | Int8Array;
}

/** What `parseSafetensors` returns. */
export interface SafetensorsFile {
  /** Tensors by name, in the order of their data in the file. */
  tensors: Map<string, SafetensorsTensor>;
  /** The `__metadata__` object (string → string), empty when absent. */
  metadata: Record<string, string>;
}

/**
 * Options of {@link parseSafetensors} and {@link loadSafetensors}: a header-size limit, the source's name for
 * error messages and checksum verification.
 */
export interface ParseSafetensorsOptions {
  /** Refuse headers longer than this many bytes. Default 100 000 000. */
  maxHeaderBytes?: number;
  /** Name of the source in error messages (e.g. a file path). Default 'safetensors'. */
  source?: string;
  /**
   * Verify `__metadata__.checksum` (written with {@link SerializeSafetensorsOptions.checksum}) when the file has
   * one; a mismatch throws, naming the file as corrupt. Default true. Files without a checksum are read as they are.
   */
  verifyChecksum?: boolean;
}

/**
 * A tensor to write. `data` is converted to `dtype`: numbers for every dtype (float dtypes round to nearest,
 * integer dtypes must hold integers in range, BOOL 0/1), a `Uint16Array` of raw bit patterns for F16/BF16, or a
 * `BigInt64Array` for I64.
 */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: ArrayLike<number> | BigInt64Array;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(x: unknown): x is SafetensorsDtype {
  return typeof x === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_SIZES, x);
}

function describe(x: unknown): string {
  const s = JSON.stringify(x);
  return s === undefined ? String(x) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function checkShape(shape: unknown, where: string): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${where}: shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  return shape as number[];
}

function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Copies `n` little-endian elements starting at `bytes[start]` into a fresh typed array of the host's order. */
function copyAligned(bytes: Uint8Array, start: number, byteLength: number): ArrayBuffer {
  const out = new Uint8Array(byteLength);
  out.set(bytes.subarray(start, start + byteLength));
  return out.buffer;
}

function decodeTensor(
  bytes: Uint8Array,
  start: number,
  dtype: SafetensorsDtype,
  n: number,
  where: string,
): SafetensorsTensor['data'] {
  const size = SAFETENSORS_DTYPE_SIZES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, n * size);
  switch (dtype) {
    case 'F32': {
      if (LITTLE_ENDIAN_HOST) return new Float32Array(copyAligned(bytes, start, n * 4));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 'I32': {
      if (LITTLE_ENDIAN_HOST) return new Int32Array(copyAligned(bytes, start, n * 4));
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfBitsToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = bfloat16BitsToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case 'I64': {
      // tfjs has no int64: narrow to int32, refusing values that would wrap.
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n) {
          throw new Error(`${where}: I64 element ${i} is ${v}, outside the int32 range tfjs can hold`);
        }
        out[i] = Number(v);
      }
      return out;
    }
    case 'U8':
    case 'BOOL':
      return bytes.slice(start, start + n);
    case 'I8':
      return new Int8Array(copyAligned(bytes, start, n));
  }
}

/**
 * Parses a safetensors file. Every structural error (header size, JSON, dtype, shape, offsets, sizes) throws an
 * `Error` naming the tensor or key, the offending value and what was expected.
 */
export function parseSafetensors(bytes: Uint8Array, opts: ParseSafetensorsOptions = {}): SafetensorsFile {
  const { maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES, source = 'safetensors', verifyChecksum = true } = opts;
  if (!(bytes instanceof Uint8Array)) throw new Error(`${source}: expected a Uint8Array of file bytes`);
  if (bytes.byteLength < 8) {
    throw new Error(`${source}: file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = dv.getBigUint64(0, true);
  if (headerLen64 > BigInt(maxHeaderBytes)) {
    throw new Error(`${source}: header length ${headerLen64} exceeds the limit of ${maxHeaderBytes} bytes`);
  }
  const headerLen = Number(headerLen64);
  if (8 + headerLen > bytes.byteLength) {
    throw new Error(
      `${source}: header length ${headerLen} runs past the end of the file (${bytes.byteLength} bytes)`,
    );
  }
  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw new Error(`${source}: header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    throw new Error(`${source}: header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new Error(`${source}: header must be a JSON object, got ${describe(header)}`);
  }

  // Null-prototype objects: a key such as `__proto__` in a file must stay plain data.
  const metadata: Record<string, string> = Object.create(null);
  const rawMeta = (header as Record<string, unknown>)['__metadata__'];
  if (rawMeta !== undefined) {
    if (rawMeta === null || typeof rawMeta !== 'object' || Array.isArray(rawMeta)) {
      throw new Error(`${source}: __metadata__ must be an object of strings, got ${describe(rawMeta)}`);
    }
    for (const [k, v] of Object.entries(rawMeta)) {
      if (typeof v !== 'string') {
        throw new Error(`${source}: __metadata__.${k} must be a string, got ${describe(v)}`);
      }
      metadata[k] = v;
    }
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const described = Math.max(
    0,
    ...Object.entries(header as Record<string, unknown>).map(([k, v]) => {
      const end = k === '__metadata__' ? 0 : (v as { data_offsets?: unknown } | null)?.data_offsets;
      return Array.isArray(end) && Number.isSafeInteger(end[1]) ? (end[1] as number) : 0;
    }),
  );
  if (described > dataLen) {
    throw new Error(
      `${source}: the file is corrupt or truncated: its header describes ${described} bytes of tensor data, the file holds ${dataLen}`,
    );
  }
  const stored = metadata[SAFETENSORS_CHECKSUM_KEY];
  if (verifyChecksum && stored !== undefined) {
    const m = /^crc32:([0-9a-f]{8})$/.exec(stored);
    if (!m)
      throw new Error(`${source}: __metadata__.checksum ${describe(stored)} is not 'crc32:<8 hex digits>'`);
    const actual = crc32Hex(crc32(bytes.subarray(dataStart)));
    if (actual !== m[1])
      throw new Error(
        `${source}: the file is corrupt: the CRC-32 of its tensor data is ${actual}, its header says ${m[1]} (altered or partly written)`,
      );
  }
  interface Info {
    name: string;
    dtype: SafetensorsDtype;
    shape: number[];
    begin: number;
    end: number;
  }
  const infos: Info[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const where = `${source}: tensor '${name}'`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new Error(
        `${where}: entry must be an object with dtype, shape, data_offsets; got ${describe(raw)}`,
      );
    }
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (!isDtype(dtype)) {
      const known = KNOWN_UNSUPPORTED.includes(dtype as string)
        ? ' (valid in safetensors but not supported here)'
        : '';
      throw new Error(
        `${where}: dtype ${describe(dtype)}${known}; expected one of ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')}`,
      );
    }
    const dims = checkShape(shape, where);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw new Error(
        `${where}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${describe(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLen) {
      throw new Error(
        `${where}: data_offsets [${begin}, ${end}] run past the data buffer of ${dataLen} bytes`,
      );
    }
    const expectedBytes = numElements(dims) * SAFETENSORS_DTYPE_SIZES[dtype];
    if (end - begin !== expectedBytes) {
      throw new Error(
        `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${dims}] of ${dtype} needs ${expectedBytes}`,
      );
    }
    infos.push({ name, dtype, shape: dims, begin, end });
  }

  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: Info | undefined;
  for (const info of infos) {
    if (info.begin < cursor) {
      throw new Error(
        `${source}: tensor '${info.name}' [${info.begin}, ${info.end}] overlaps tensor '${previous!.name}' [${previous!.begin}, ${previous!.end}]`,
      );
    }
    if (info.begin > cursor) {
      throw new Error(
        `${source}: bytes [${cursor}, ${info.begin}) of the data buffer belong to no tensor (before tensor '${info.name}')`,
      );
    }
    cursor = info.end;
    previous = info;
  }
  if (cursor !== dataLen) {
    throw new Error(
      `${source}: bytes [${cursor}, ${dataLen}) at the end of the data buffer belong to no tensor`,
    );
  }

  const tensors = new Map<string, SafetensorsTensor>();
  for (const info of infos) {
    const n = numElements(info.shape);
    const data = decodeTensor(
      bytes,
      dataStart + info.begin,
      info.dtype,
      n,
      `${source}: tensor '${info.name}'`,
    );
    tensors.set(info.name, { dtype: info.dtype, shape: info.shape, data });
  }
  return { tensors, metadata };
}

function encodeInto(view: DataView, offset: number, entry: SafetensorsEntry, where: string): void {
  const { dtype, data } = entry;
  const n = data.length;
  const int = (i: number, lo: number, hi: number): number => {
    const v = (data as ArrayLike<number>)[i]!;
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new Error(`${where}: element ${i} is ${v}; ${dtype} needs integers in [${lo}, ${hi}]`);
    }
    return v;
  };
  if (data instanceof BigInt64Array) {
    if (dtype !== 'I64')
      throw new Error(`${where}: BigInt64Array data can only be written as I64, not ${dtype}`);
    for (let i = 0; i < n; i++) view.setBigInt64(offset + i * 8, data[i]!, true);
    return;
  }
  const raw16 = data instanceof Uint16Array && (dtype === 'F16' || dtype === 'BF16');
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case 'F64':
        view.setFloat64(offset + i * 8, data[i]!, true);
        break;
      case 'F32':
        view.setFloat32(offset + i * 4, data[i]!, true);
        break;
      case 'F16':
        view.setUint16(offset + i * 2, raw16 ? data[i]! : floatToHalfBits(data[i]!), true);
        break;
      case 'BF16':
        view.setUint16(offset + i * 2, raw16 ? data[i]! : floatToBfloat16Bits(data[i]!), true);
        break;
      case 'I64':
        view.setBigInt64(offset + i * 8, BigInt(int(i, -(2 ** 53) + 1, 2 ** 53 - 1)), true);
        break;
      case 'I32':
        view.setInt32(offset + i * 4, int(i, -2147483648, 2147483647), true);
        break;
      case 'I8':
        view.setInt8(offset + i, int(i, -128, 127));
        break;
      case 'U8':
        view.setUint8(offset + i, int(i, 0, 255));
        break;
      case 'BOOL':
        view.setUint8(offset + i, int(i, 0, 1));
        break;
    }
  }
}

/** Options of {@link serializeSafetensors} and {@link safetensorsLayout}. */
export interface SerializeSafetensorsOptions {
  /**
   * Add `__metadata__.checksum` = `crc32:<8 hex digits>`, the CRC-32 of the data buffer (every byte after the
   * header), which {@link parseSafetensors} verifies: a truncated or altered file is then reported as corrupt
   * instead of loading wrong numbers. Default false.
   */
  checksum?: boolean;
}

/** The metadata key holding a file's checksum (`crc32:<hex>` of the data buffer). */
export const SAFETENSORS_CHECKSUM_KEY = 'checksum';

/**
 * A safetensors file as pieces, for writers that stream them to disk without assembling one buffer: `header`
 * (the 8-byte length, the JSON header and its padding) followed by `parts` (each tensor's bytes, in data order) is
 * the file. F32 data in a `Float32Array` is not copied (its part is a view of it); other dtypes are encoded.
 */
export interface SafetensorsLayout {
  header: Uint8Array;
  parts: Uint8Array[];
  /** Total file size in bytes. */
  byteLength: number;
}

/**
 * Lays out tensors (and optional string metadata) as a safetensors file. Like the reference implementation,
 * tensors are ordered by decreasing element size, then by name, so every tensor is aligned to its element size;
 * the header lists `__metadata__` first, then the tensors in data order, and is padded with spaces to a multiple
 * of 8 bytes.
 */
export function safetensorsLayout(
  entries: Map<string, SafetensorsEntry> | Record<string, SafetensorsEntry>,
  metadata?: Record<string, string>,
  options: SerializeSafetensorsOptions = {},
): SafetensorsLayout {
  const list = entries instanceof Map ? [...entries] : Object.entries(entries);
  for (const [name, e] of list) {
    const where = `serializeSafetensors: tensor '${name}'`;
    if (name === '__metadata__') throw new Error(`${where}: the name __metadata__ is reserved by the format`);
    if (!isDtype(e?.dtype)) {
      throw new Error(
        `${where}: dtype ${describe(e?.dtype)}; expected one of ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')}`,
      );
    }
    checkShape(e.shape, where);
    if (e.data?.length !== numElements(e.shape)) {
      throw new Error(
        `${where}: ${e.data?.length} values for shape [${e.shape}], expected ${numElements(e.shape)}`,
      );
    }
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new Error(`serializeSafetensors: metadata '${k}' must be a string, got ${describe(v)}`);
      }
    }
  }
  list.sort(
    ([na, a], [nb, b]) =>
      SAFETENSORS_DTYPE_SIZES[b.dtype] - SAFETENSORS_DTYPE_SIZES[a.dtype] || (na < nb ? -1 : na > nb ? 1 : 0),
  );

  const parts = list.map(([name, e]) => {
    const size = numElements(e.shape) * SAFETENSORS_DTYPE_SIZES[e.dtype];
    if (e.dtype === 'F32' && e.data instanceof Float32Array && LITTLE_ENDIAN_HOST)
      return new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    const part = new Uint8Array(size);
    encodeInto(new DataView(part.buffer), 0, e, `serializeSafetensors: tensor '${name}'`);
    return part;
  });
  const meta: Record<string, string> = Object.assign(Object.create(null), metadata ?? {});
  if (options.checksum) {
    let crc = 0;
    for (const p of parts) crc = crc32(p, crc);
    meta[SAFETENSORS_CHECKSUM_KEY] = `crc32:${crc32Hex(crc)}`;
  }
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(meta).length > 0) header['__metadata__'] = meta;
  let offset = 0;
  list.forEach(([name, e], i) => {
    header[name] = { dtype: e.dtype, shape: [...e.shape], data_offsets: [offset, offset + parts[i]!.length] };
    offset += parts[i]!.length;
  });
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + headerLen);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLen), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.length);
  return { header: head, parts, byteLength: head.length + offset };
}

/**
 * Writes tensors (and optional string metadata) as one safetensors buffer (see {@link safetensorsLayout} for the
 * order and {@link SerializeSafetensorsOptions} for the checksum).
 */
export function serializeSafetensors(
  entries: Map<string, SafetensorsEntry> | Record<string, SafetensorsEntry>,
  metadata?: Record<string, string>,
  options: SerializeSafetensorsOptions = {},
): Uint8Array {
  const layout = safetensorsLayout(entries, metadata, options);
  const out = new Uint8Array(layout.byteLength);
  out.set(layout.header, 0);
  let at = layout.header.length;
  for (const p of layout.parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Turns parsed tensors into tf tensors: float dtypes become float32, integer and BOOL dtypes int32.
 * The caller owns (and must dispose) the returned tensors.
 */
export function safetensorsToTensors(
  file:
    | SafetensorsFile
    | Map<string, { shape: readonly number[] | number[]; data: ArrayLike<number> & ArrayBufferView }>,
): Record<string, tf.Tensor> {
  const map = file instanceof Map ? file : file.tensors;
  const out: Record<string, tf.Tensor> = {};
  for (const [name, t] of map) {
    out[name] =
      t.data instanceof Float32Array || t.data instanceof Int32Array
        ? tf.tensor(t.data, t.shape as number[])
        : tf.tensor(Int32Array.from(t.data), t.shape as number[], 'int32');
  }
  return out;
}

/**
 * Reads a safetensors file straight into tf tensors (`parseSafetensors` then `safetensorsToTensors`).
 * Returns the tensors (owned by the caller) and the metadata.
 */
export function loadSafetensors(
  bytes: Uint8Array,
  opts: ParseSafetensorsOptions = {},
): { tensors: Record<string, tf.Tensor>; metadata: Record<string, string> } {
  const file = parseSafetensors(bytes, opts);
  return { tensors: safetensorsToTensors(file), metadata: file.metadata };
}

/**
 * Writes tf tensors (a `Record<string, tf.Tensor>` or `tf.NamedTensorMap`) as a safetensors file: float32 as F32,
 * int32 as I32, bool as BOOL. Other dtypes (complex64, string) are refused, naming the tensor.
 */
export async function serializeTensors(
  tensors: Record<string, tf.Tensor> | tf.NamedTensorMap,
  metadata?: Record<string, string>,
): Promise<Uint8Array> {
  const entries = new Map<string, SafetensorsEntry>();
  const dtypes: Partial<Record<tf.DataType, SafetensorsDtype>> = {
    float32: 'F32',
    int32: 'I32',
    bool: 'BOOL',
  };
  for (const [name, t] of Object.entries(tensors)) {
    if (!(t instanceof tf.Tensor)) throw new Error(`serializeTensors: '${name}' is not a tf.Tensor`);
    const dtype = dtypes[t.dtype];
    if (!dtype)
      throw new Error(
        `serializeTensors: tensor '${name}' has dtype ${t.dtype}; expected float32, int32 or bool`,
      );
    entries.set(name, {
      dtype,
      shape: t.shape,
      data: (await t.data()) as Float32Array | Int32Array | Uint8Array,
    });
  }
  return serializeSafetensors(entries, metadata);
}
