/**
 * Safe reader for PyTorch `.pth`/`.pt` checkpoints (browser and Node, on a `Uint8Array`).
 *
 * Formats:
 * - ZIP (PyTorch ≥ 1.6, `torch.save` default): `<archive>/data.pkl` (the pickled object), `<archive>/data/<key>`
 *   (raw storages), `<archive>/version`, optionally `<archive>/byteorder` ('little' or 'big').
 * - Legacy (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`): consecutive pickles — magic number,
 *   protocol version, system info, the object, the list of storage keys — then each storage as an int64 element
 *   count followed by its raw bytes.
 *
 * The pickle is read by a restricted unpickler that only builds data: dicts, lists, tuples, strings, numbers,
 * `collections.OrderedDict`, and tensors through `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` with
 * the `torch.*Storage` types. Any other global (`os.system`, `builtins.eval`, a model class...) is refused, unless
 * listed in `allowGlobals`, in which case it is kept as an inert `PickleObject`; nothing is ever executed.
 */
import { bfloat16BitsToFloat, halfBitsToFloat } from '../halfFloat.js';
import type { SafetensorsDtype } from '../safetensors.js';
import { describePickleValue, PickleGlobal, PickleObject, unpickle } from './unpickle.js';
import { readZip, type ZipArchive } from './zip.js';

/**
 * Dtype of a tensor's storage in the file: the safetensors names, plus `I16` (`torch.int16`, which safetensors
 * readers here do not produce).
 */
export type PthDtype = SafetensorsDtype | 'I16';

/**
 * A tensor read from a `.pth` file, contiguous and row-major, in the same form as the safetensors reader's
 * tensors: floats (F64/F32/F16/BF16) as `Float32Array`, I64/I32/I16 as `Int32Array`, U8/BOOL as `Uint8Array`,
 * I8 as `Int8Array`. `dtype` is the dtype stored in the file.
 */
export class TorchTensor {
  constructor(
    /** Dtype stored in the file. */
    public dtype: PthDtype,
    /** Shape (`[]` for a 0-d tensor). */
    public shape: number[],
    /** Row-major values. */
    public data: Float32Array | Int32Array | Uint8Array | Int8Array,
  ) {}
}

/** What `parsePth` returns. */
export interface PthFile {
  /**
   * The unpickled top-level object: dicts as `Map`, lists as arrays, tuples as frozen arrays, tensors as
   * `TorchTensor` (see `unpickle` for the full mapping).
   */
  root: unknown;
  /** The state dict `findStateDict(root)` finds (or the one under `stateDictKey`), keys flattened with '.'. */
  tensors: Map<string, TorchTensor>;
  /** 'zip' (PyTorch ≥ 1.6) or 'legacy'. */
  format: 'zip' | 'legacy';
  /** The zip archive's `version` record (or the legacy protocol version, 1001); null when absent. */
  version: number | null;
}

/** Options for `parsePth`. */
export interface ParsePthOptions {
  /** Name of the file in error messages. Default 'pth'. */
  name?: string;
  /**
   * Extra globals (`module.name`, e.g. `argparse.Namespace`, `numpy.core.multiarray.scalar`) to accept as inert
   * `PickleObject` records of their arguments instead of refusing the file. They are never executed.
   */
  allowGlobals?: readonly string[];
  /** Check the CRC-32 of the zip entries read. Default true. */
  verifyCrc?: boolean;
  /** Key of the top-level dict holding the state dict (e.g. 'model'); default: found by `findStateDict`. */
  stateDictKey?: string;
}

const STORAGE_DTYPES: Readonly<Record<string, PthDtype>> = {
  'torch.FloatStorage': 'F32',
  'torch.DoubleStorage': 'F64',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  'torch.LongStorage': 'I64',
  'torch.IntStorage': 'I32',
  'torch.ShortStorage': 'I16',
  'torch.CharStorage': 'I8',
  'torch.ByteStorage': 'U8',
  'torch.BoolStorage': 'BOOL',
  // Untyped (byte) storages, as PyTorch 1.13 and 2.x name them.
  'torch.storage._UntypedStorage': 'U8',
  'torch.storage.UntypedStorage': 'U8',
  'torch.UntypedStorage': 'U8',
};

const ELEMENT_SIZES: Readonly<Record<PthDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Magic number pickled first in the legacy format. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A storage referenced by a persistent id; its bytes are known at once (zip) or after the pickle (legacy). */
class Storage {
  bytes: Uint8Array | null = null;
  constructor(
    readonly dtype: PthDtype,
    readonly typeName: string,
    readonly name: string,
    readonly numel: number,
    readonly view: { root: Storage; offset: number } | null = null,
  ) {}
  resolve(): Uint8Array {
    if (this.view) {
      const root = this.view.root.resolve();
      const es = ELEMENT_SIZES[this.dtype];
      return root.subarray(this.view.offset * es, (this.view.offset + this.numel) * es);
    }
    if (!this.bytes) throw new Error(`storage ${this.name} has no data`);
    return this.bytes;
  }
}

interface PendingTensor {
  tensor: TorchTensor;
  storage: Storage;
  offset: number;
  size: number[];
  stride: number[];
}

/** Per-file state shared by the pickle hooks. */
interface Context {
  file: string;
  allow: ReadonlySet<string>;
  pending: PendingTensor[];
  storages: Map<string, Storage>;
  littleEndian: boolean;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function intTuple(v: unknown, what: string, where: string): number[] {
  if (!Array.isArray(v) || !v.every((d) => isInt(d) && d >= 0)) {
    throw new Error(
      `${where}: ${what} must be a tuple of non-negative integers, got ${describePickleValue(v)}`,
    );
  }
  return v as number[];
}

function rebuildTensor(ctx: Context, args: readonly unknown[], fn: string): TorchTensor {
  const where = `${ctx.file}: ${fn}`;
  const [storage, offset, size, stride] = args;
  if (args.length < 4) throw new Error(`${where}: expected at least 4 arguments, got ${args.length}`);
  if (!(storage instanceof Storage)) {
    throw new Error(
      `${where}: expected a storage as the first argument, got ${describePickleValue(storage)}`,
    );
  }
  if (!isInt(offset) || offset < 0) {
    throw new Error(
      `${where}: storage offset must be a non-negative integer, got ${describePickleValue(offset)}`,
    );
  }
  const shape = intTuple(size, 'size', where);
  const strides = intTuple(stride, 'stride', where);
  if (strides.length !== shape.length) {
    throw new Error(`${where}: size (${shape}) and stride (${strides}) have different lengths`);
  }
  const hooks = args[5];
  if (hooks !== undefined && hooks !== null && !(hooks instanceof Map && hooks.size === 0)) {
    throw new Error(`${where}: backward hooks are not supported, got ${describePickleValue(hooks)}`);
  }
  const tensor = new TorchTensor(storage.dtype, [...shape], new Float32Array(0));
  ctx.pending.push({ tensor, storage, offset, size: [...shape], stride: [...strides] });
  return tensor;
}

function makeFindGlobal(ctx: Context) {
  const tensorFns: Record<string, (args: readonly unknown[]) => unknown> = {
    'torch._utils._rebuild_tensor_v2': (a) => rebuildTensor(ctx, a, '_rebuild_tensor_v2'),
    'torch._utils._rebuild_tensor': (a) => rebuildTensor(ctx, a, '_rebuild_tensor'),
    'torch._utils._rebuild_parameter': (a) => parameter(a, '_rebuild_parameter'),
    'torch._utils._rebuild_parameter_with_state': (a) => parameter(a, '_rebuild_parameter_with_state'),
    'collections.OrderedDict': (a) => {
      const m = new Map<unknown, unknown>();
      const items = a[0];
      if (items === undefined || items === null) return m;
      if (!Array.isArray(items)) {
        throw new Error(
          `${ctx.file}: OrderedDict expects a list of pairs, got ${describePickleValue(items)}`,
        );
      }
      for (const pair of items) {
        if (!Array.isArray(pair) || pair.length !== 2) {
          throw new Error(
            `${ctx.file}: OrderedDict expects (key, value) pairs, got ${describePickleValue(pair)}`,
          );
        }
        m.set(pair[0], pair[1]);
      }
      return m;
    },
  };
  const parameter = (a: readonly unknown[], fn: string): TorchTensor => {
    if (!(a[0] instanceof TorchTensor)) {
      throw new Error(`${ctx.file}: ${fn}: expected a tensor, got ${describePickleValue(a[0])}`);
    }
    return a[0];
  };
  return (module: string, name: string, where: string): PickleGlobal => {
    const q = `${module}.${name}`;
    const fn = tensorFns[q];
    if (fn) return new PickleGlobal(module, name, fn);
    const dtype = STORAGE_DTYPES[q];
    if (dtype) return new PickleGlobal(module, name, null, dtype);
    if (ctx.allow.has(q)) return new PickleGlobal(module, name, (args) => new PickleObject(q, args));
    if (module === 'torch' && name.endsWith('Storage')) {
      throw new Error(
        `${where}: storage type '${q}' is not supported (expected one of ${Object.keys(STORAGE_DTYPES).join(', ')})`,
      );
    }
    throw new Error(
      `refusing to load '${q}' from ${ctx.file}: only tensors and ordered dicts are allowed (${where}; globals known to be harmless can be kept as inert records with the allowGlobals option)`,
    );
  };
}

/** Builds the storage a persistent id names. `legacy` ids carry a sixth element, the view metadata. */
function loadStorage(
  ctx: Context,
  pid: unknown,
  where: string,
  fetch: ((key: string) => Uint8Array) | null,
): Storage {
  const expected = fetch
    ? "('storage', storage_type, key, location, numel)"
    : "('storage', storage_type, key, location, numel, view_metadata)";
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length !== (fetch ? 5 : 6)) {
    throw new Error(`${where}: persistent id must be ${expected}, got ${describePickleValue(pid)}`);
  }
  const [, type, key, , numel, view] = pid as unknown[];
  if (!(type instanceof PickleGlobal) || typeof type.tag !== 'string') {
    throw new Error(
      `${where}: persistent id names storage type ${describePickleValue(type)}, not a torch storage type`,
    );
  }
  if (typeof key !== 'string' || !isInt(numel) || numel < 0) {
    throw new Error(
      `${where}: persistent id must be ${expected}, got key ${describePickleValue(key)}, numel ${describePickleValue(numel)}`,
    );
  }
  const dtype = type.tag as PthDtype;
  let storage = ctx.storages.get(key);
  if (!storage) {
    storage = new Storage(dtype, type.name, `'${key}' (${type.name})`, numel);
    if (fetch) {
      const bytes = fetch(key);
      if (bytes.length < numel * ELEMENT_SIZES[dtype]) {
        throw new Error(
          `${where}: storage ${storage.name} holds ${bytes.length} bytes, but ${numel} elements need ${numel * ELEMENT_SIZES[dtype]}`,
        );
      }
      storage.bytes = bytes;
    }
    ctx.storages.set(key, storage);
  } else if (storage.dtype !== dtype) {
    throw new Error(`${where}: storage '${key}' is used as both ${storage.typeName} and ${type.name}`);
  }
  if (view === null || view === undefined) return storage;
  // Legacy storage view: (view_key, offset, view_size), elements of the root storage.
  if (
    !Array.isArray(view) ||
    view.length !== 3 ||
    typeof view[0] !== 'string' ||
    !isInt(view[1]) ||
    !isInt(view[2])
  ) {
    throw new Error(
      `${where}: storage view metadata must be (view_key, offset, size), got ${describePickleValue(view)}`,
    );
  }
  const [viewKey, offset, size] = view as [string, number, number];
  if (offset < 0 || size < 0 || offset + size > numel) {
    throw new Error(
      `${where}: storage view [${offset}, ${offset + size}) lies outside storage '${key}' of ${numel} elements`,
    );
  }
  const existing = ctx.storages.get(viewKey);
  if (existing) return existing;
  const v = new Storage(dtype, type.name, `'${viewKey}' (view of '${key}')`, size, { root: storage, offset });
  ctx.storages.set(viewKey, v);
  return v;
}

/** Reads element `i` of a storage as a number; int64 refuses values outside int32. */
function elementReader(
  dtype: PthDtype,
  bytes: Uint8Array,
  le: boolean,
  where: string,
): (i: number) => number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      return (i) => dv.getFloat32(i * 4, le);
    case 'F64':
      return (i) => dv.getFloat64(i * 8, le);
    case 'F16':
      return (i) => halfBitsToFloat(dv.getUint16(i * 2, le));
    case 'BF16':
      return (i) => bfloat16BitsToFloat(dv.getUint16(i * 2, le));
    case 'I64':
      return (i) => {
        const lo = dv.getUint32(i * 8 + (le ? 0 : 4), le);
        const hi = dv.getInt32(i * 8 + (le ? 4 : 0), le);
        if ((hi === 0 && lo <= 0x7fffffff) || (hi === -1 && lo >= 0x80000000)) return lo | 0;
        const v = dv.getBigInt64(i * 8, le);
        throw new Error(`${where}: int64 element ${i} is ${v}, outside the int32 range tfjs can hold`);
      };
    case 'I32':
      return (i) => dv.getInt32(i * 4, le);
    case 'I16':
      return (i) => dv.getInt16(i * 2, le);
    case 'I8':
      return (i) => dv.getInt8(i);
    case 'U8':
    case 'BOOL':
      return (i) => dv.getUint8(i);
  }
}

function allocate(dtype: PthDtype, n: number): TorchTensor['data'] {
  switch (dtype) {
    case 'F64':
    case 'F32':
    case 'F16':
    case 'BF16':
      return new Float32Array(n);
    case 'I64':
    case 'I32':
    case 'I16':
      return new Int32Array(n);
    case 'I8':
      return new Int8Array(n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(n);
  }
}

/** Gathers a (possibly strided) tensor out of its storage into a contiguous row-major array. */
function materialize(p: PendingTensor, ctx: Context): void {
  const { tensor, storage, offset, size, stride } = p;
  const bytes = storage.resolve();
  const dtype = storage.dtype;
  const es = ELEMENT_SIZES[dtype];
  const available = Math.floor(bytes.length / es);
  let n = 1;
  for (const d of size) n *= d;
  const rank = size.length;
  let contiguous = true;
  let expect = 1;
  let last = offset;
  for (let k = rank - 1; k >= 0; k--) {
    if (size[k]! !== 1 && stride[k]! !== expect) contiguous = false;
    expect *= size[k]!;
    last += (size[k]! - 1) * stride[k]!;
  }
  if (n > 0 && last >= available) {
    throw new Error(
      `${ctx.file}: tensor of size [${size}], stride [${stride}], offset ${offset} reaches element ${last} of storage ${storage.name}, which holds ${available}`,
    );
  }
  const out = allocate(dtype, n);
  if (n === 0) {
    tensor.data = out;
    return;
  }
  const sameOrder = ctx.littleEndian === LITTLE_ENDIAN_HOST;
  if (
    contiguous &&
    sameOrder &&
    (dtype === 'F32' || dtype === 'I32' || dtype === 'I8' || dtype === 'U8' || dtype === 'BOOL')
  ) {
    // Copy whole: these dtypes keep their representation.
    new Uint8Array(out.buffer).set(bytes.subarray(offset * es, (offset + n) * es));
    tensor.data = out;
    return;
  }
  const read = elementReader(dtype, bytes, ctx.littleEndian, `${ctx.file}: storage ${storage.name}`);
  if (contiguous) {
    for (let i = 0; i < n; i++) out[i] = read(offset + i);
  } else {
    const idx = new Array<number>(rank).fill(0);
    let src = offset;
    for (let i = 0; i < n; i++) {
      out[i] = read(src);
      for (let k = rank - 1; k >= 0; k--) {
        src += stride[k]!;
        if (++idx[k]! < size[k]!) break;
        src -= stride[k]! * size[k]!;
        idx[k] = 0;
      }
    }
  }
  tensor.data = out;
}

function newContext(opts: ParsePthOptions): Context {
  return {
    file: opts.name ?? 'pth',
    allow: new Set(opts.allowGlobals ?? []),
    pending: [],
    storages: new Map(),
    littleEndian: true,
  };
}

function parseZip(
  bytes: Uint8Array,
  opts: ParsePthOptions,
  ctx: Context,
): { root: unknown; version: number | null } {
  const zip: ZipArchive = readZip(bytes, { source: ctx.file, verifyCrc: opts.verifyCrc ?? true });
  const names = [...zip.entries.keys()];
  const pkl = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (names.some((n) => /^[^/]+\/(code\/|constants\.pkl$)/.test(n))) {
    throw new Error(
      `${ctx.file}: this is a TorchScript archive (torch.jit.save), not a state dict; in Python, save model.state_dict() with torch.save`,
    );
  }
  if (pkl.length !== 1) {
    throw new Error(
      pkl.length === 0
        ? `${ctx.file}: ZIP archive has no '<archive>/data.pkl' entry, so it is not a PyTorch checkpoint (entries: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''})`
        : `${ctx.file}: ZIP archive has several data.pkl entries (${pkl.join(', ')}); expected one`,
    );
  }
  const prefix = pkl[0]!.slice(0, -'data.pkl'.length);
  const text = (name: string): string | null =>
    zip.entries.has(name) ? new TextDecoder().decode(zip.read(name)).trim() : null;
  const order = text(`${prefix}byteorder`);
  if (order !== null && order !== 'little' && order !== 'big') {
    throw new Error(`${ctx.file}: entry '${prefix}byteorder' is '${order}'; expected 'little' or 'big'`);
  }
  ctx.littleEndian = order !== 'big';
  const versionText = text(`${prefix}version`);
  let version: number | null = null;
  if (versionText !== null) {
    version = Number(versionText);
    if (!Number.isSafeInteger(version)) {
      throw new Error(`${ctx.file}: entry '${prefix}version' is '${versionText}'; expected an integer`);
    }
  }
  const fetch = (key: string): Uint8Array => {
    const name = `${prefix}data/${key}`;
    if (!zip.entries.has(name))
      throw new Error(`${ctx.file}: the pickle refers to storage '${key}', but entry '${name}' is missing`);
    return zip.read(name);
  };
  const { value } = unpickle(zip.read(pkl[0]!), {
    source: `${ctx.file} (${pkl[0]})`,
    findGlobal: makeFindGlobal(ctx),
    persistentLoad: (pid, where) => loadStorage(ctx, pid, where, fetch),
  });
  return { root: value, version };
}

function parseLegacy(bytes: Uint8Array, ctx: Context): unknown {
  const src = (what: string): string => `${ctx.file} (legacy format, ${what})`;
  const magic = unpickle(bytes, { source: src('magic number') });
  if (magic.value !== LEGACY_MAGIC) {
    throw new Error(
      `${ctx.file}: not a PyTorch checkpoint: the file starts with a pickle of ${describePickleValue(magic.value)}, not the legacy magic number (and is not a ZIP archive)`,
    );
  }
  const proto = unpickle(bytes, { source: src('protocol version'), start: magic.end });
  if (proto.value !== LEGACY_PROTOCOL) {
    throw new Error(
      `${ctx.file}: legacy protocol version ${describePickleValue(proto.value)} is not supported (expected ${LEGACY_PROTOCOL})`,
    );
  }
  const info = unpickle(bytes, { source: src('system info'), start: proto.end });
  if (!(info.value instanceof Map)) {
    throw new Error(`${ctx.file}: legacy system info must be a dict, got ${describePickleValue(info.value)}`);
  }
  ctx.littleEndian = info.value.get('little_endian') !== false;
  const main = unpickle(bytes, {
    source: src('object'),
    start: info.end,
    findGlobal: makeFindGlobal(ctx),
    persistentLoad: (pid, where) => loadStorage(ctx, pid, where, null),
  });
  const keys = unpickle(bytes, { source: src('storage keys'), start: main.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new Error(
      `${ctx.file}: legacy storage keys must be a list of strings, got ${describePickleValue(keys.value)}`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = keys.end;
  for (const key of keys.value as string[]) {
    const storage = ctx.storages.get(key);
    if (!storage || storage.view)
      throw new Error(`${ctx.file}: legacy storage '${key}' is listed but never referenced`);
    if (p + 8 > bytes.length)
      throw new Error(
        `${ctx.file}: legacy storage '${key}': file ends at byte ${bytes.length} before its size (truncated)`,
      );
    const numel = dv.getBigInt64(p, ctx.littleEndian);
    const nbytes = numel * BigInt(ELEMENT_SIZES[storage.dtype]);
    if (numel < 0n || nbytes > BigInt(bytes.length - p - 8)) {
      throw new Error(
        `${ctx.file}: legacy storage '${key}': ${numel} elements at byte ${p + 8} run past the end of the file (${bytes.length} bytes; truncated?)`,
      );
    }
    storage.bytes = bytes.subarray(p + 8, p + 8 + Number(nbytes));
    p += 8 + Number(nbytes);
  }
  for (const [key, s] of ctx.storages) {
    if (!s.view && !s.bytes)
      throw new Error(`${ctx.file}: legacy storage '${key}' is referenced but its data is not in the file`);
  }
  return main.value;
}

/** Which on-disk format `bytes` looks like. */
export function detectPthFormat(bytes: Uint8Array): 'zip' | 'legacy' | 'tar' | 'unknown' {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5))
    return 'zip';
  if (bytes.length >= 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar') return 'tar';
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! >= 2) return 'legacy';
  return 'unknown';
}

/**
 * Parses a PyTorch checkpoint saved with `torch.save` — a state dict, or a dict holding one (e.g.
 * `{'model': sd, 'epoch': 3}`) — without executing anything.
 * @returns the top-level object and its state dict (tensors flattened by `findStateDict`).
 * @throws Error naming the file, the zip entry or pickle opcode and what was expected: a refused global (e.g.
 * `refusing to load 'os.system' from evil.pth: ...`), a truncated or corrupt archive, an unsupported dtype, a
 * tensor reaching outside its storage, an int64 value outside the int32 range.
 */
export function parsePth(bytes: Uint8Array, opts: ParsePthOptions = {}): PthFile {
  const ctx = newContext(opts);
  if (!(bytes instanceof Uint8Array)) throw new Error(`${ctx.file}: expected a Uint8Array of file bytes`);
  const format = detectPthFormat(bytes);
  let root: unknown;
  let version: number | null;
  if (format === 'zip') {
    ({ root, version } = parseZip(bytes, opts, ctx));
  } else if (format === 'legacy') {
    root = parseLegacy(bytes, ctx);
    version = LEGACY_PROTOCOL;
  } else if (format === 'tar') {
    throw new Error(
      `${ctx.file}: the tar-based format of PyTorch < 0.4 is not supported; load it in Python and re-save with torch.save(sd, f, _use_new_zipfile_serialization=True)`,
    );
  } else {
    throw new Error(
      `${ctx.file}: not a PyTorch checkpoint: expected a ZIP archive (torch.save, PyTorch ≥ 1.6) or a legacy pickle; re-save with torch.save(sd, f, _use_new_zipfile_serialization=True)`,
    );
  }
  for (const p of ctx.pending) materialize(p, ctx);
  const tensors = findStateDict(
    root,
    opts.stateDictKey === undefined ? { source: ctx.file } : { key: opts.stateDictKey, source: ctx.file },
  );
  return { root, tensors, format, version };
}

/** Keys under which training scripts commonly store the state dict, tried in order. */
const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'net', 'network', 'weights', 'params'];

function holdsTensors(v: unknown, seen = new Set<unknown>()): boolean {
  if (v instanceof TorchTensor) return true;
  if (seen.has(v)) return false;
  seen.add(v);
  if (v instanceof Map) return [...v.values()].some((x) => holdsTensors(x, seen));
  if (Array.isArray(v)) return v.some((x) => holdsTensors(x, seen));
  return false;
}

/** Options for `findStateDict`. */
export interface FindStateDictOptions {
  /** Key of the top-level dict to use (e.g. 'model'); default: chosen as documented in `findStateDict`. */
  key?: string;
  /** Name in error messages. Default 'pth'. */
  source?: string;
}

/**
 * Finds the state dict in an unpickled checkpoint and flattens it: tensors in nested dicts (and lists) get their
 * keys joined with '.' (`{'backbone': {'conv.weight': t}}` → `backbone.conv.weight`); non-tensor leaves are left out.
 *
 * Which dict: `opts.key` if given; else the top-level dict itself if it holds tensors directly; else the first of
 * `state_dict`, `model_state_dict`, `model`, `net`, `network`, `weights`, `params` that holds tensors; else the only
 * top-level value that holds tensors; else every tensor in the object. A lone tensor is returned under the key ''.
 * @throws Error if `opts.key` is missing, or if two tensors flatten to the same key.
 */
export function findStateDict(root: unknown, opts: FindStateDictOptions = {}): Map<string, TorchTensor> {
  const source = opts.source ?? 'pth';
  let target: unknown = root;
  if (opts.key !== undefined) {
    if (!(root instanceof Map) || !root.has(opts.key)) {
      const keys = root instanceof Map ? [...root.keys()].map(String).join(', ') : describePickleValue(root);
      throw new Error(`${source}: no key '${opts.key}' at the top level (it has: ${keys})`);
    }
    target = root.get(opts.key);
  } else if (root instanceof Map && ![...root.values()].some((v) => v instanceof TorchTensor)) {
    const known = STATE_DICT_KEYS.find((k) => holdsTensors(root.get(k)));
    const holders = [...root.values()].filter((v) => holdsTensors(v));
    if (known !== undefined) target = root.get(known);
    else if (holders.length === 1) target = holders[0];
  }
  const out = new Map<string, TorchTensor>();
  const seen = new Set<unknown>();
  const walk = (v: unknown, key: string): void => {
    if (v instanceof TorchTensor) {
      if (out.has(key)) throw new Error(`${source}: two tensors flatten to the key '${key}'`);
      out.set(key, v);
      return;
    }
    if (seen.has(v)) return;
    const entries: Iterable<[unknown, unknown]> | null =
      v instanceof Map ? v.entries() : Array.isArray(v) ? v.entries() : null;
    if (!entries) return;
    seen.add(v);
    for (const [k, x] of entries) walk(x, key === '' ? String(k) : `${key}.${String(k)}`);
    seen.delete(v);
  };
  walk(target, '');
  return out;
}
