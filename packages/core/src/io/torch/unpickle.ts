/**
 * A restricted Python unpickler (protocols 0–5, binary opcodes) that builds plain data and never executes
 * anything. Python values map to JavaScript as follows:
 * - `None` → `null`, `bool` → `boolean`, `float` → `number`;
 * - `int` → `number` when it is a safe integer, else `bigint`;
 * - `str` → `string`, `bytes`/`bytearray` → `Uint8Array`;
 * - `list` → array, `tuple` → frozen array, `dict` → `Map`, `set`/`frozenset` → `Set`;
 * - globals (classes, functions) → `PickleGlobal`, resolved only through the caller's `findGlobal`, which decides
 *   what `REDUCE`/`NEWOBJ` on them produce; anything `findGlobal` does not know is refused.
 */

/**
 * A Python global (`module.name`) that the caller allowed. `call` gives what calling it (`REDUCE`, `NEWOBJ`,
 * `INST`, `OBJ`) produces from its arguments; `null` refuses calls. `tag` is free for the caller (e.g. a dtype).
 */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    /** What calling the global produces from its arguments; `null` refuses calls. */
    readonly call: ((args: readonly unknown[]) => unknown) | null,
    readonly tag?: unknown,
  ) {}
  /** `module.name`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An inert record of a call to an opted-in global (see `allowGlobals` in `parsePth`): which global, the
 * arguments, and the state a `BUILD` gave it. Nothing is ever run.
 */
export class PickleObject {
  /** State set by `BUILD` (usually a `Map` of attributes), `undefined` if none. */
  state: unknown = undefined;
  constructor(
    readonly global: string,
    readonly args: readonly unknown[],
  ) {}
}

/** Options for `unpickle`. */
export interface UnpickleOptions {
  /** Name of the pickle in error messages (e.g. `model.pth (archive/data.pkl)`). Default 'pickle'. */
  source?: string;
  /** Byte offset to start at. Default 0. */
  start?: number;
  /**
   * Resolves `GLOBAL`/`STACK_GLOBAL`/`INST` references. Return a `PickleGlobal`, or throw to refuse; the default
   * refuses everything. `where` describes the opcode and position for error messages.
   */
  findGlobal?: (module: string, name: string, where: string) => PickleGlobal;
  /** Resolves a `BINPERSID` persistent id. Default: refuse. */
  persistentLoad?: (pid: unknown, where: string) => unknown;
}

/** What `unpickle` returns. */
export interface UnpickleResult {
  /** The unpickled value. */
  value: unknown;
  /** Offset just past the `STOP` opcode (where a following pickle would start). */
  end: number;
}

const OPCODE_NAMES: Record<number, string> = {
  40: 'MARK',
  46: 'STOP',
  48: 'POP',
  49: 'POP_MARK',
  50: 'DUP',
  70: 'FLOAT',
  73: 'INT',
  74: 'BININT',
  75: 'BININT1',
  76: 'LONG',
  77: 'BININT2',
  78: 'NONE',
  80: 'PERSID',
  81: 'BINPERSID',
  82: 'REDUCE',
  83: 'STRING',
  84: 'BINSTRING',
  85: 'SHORT_BINSTRING',
  86: 'UNICODE',
  88: 'BINUNICODE',
  97: 'APPEND',
  98: 'BUILD',
  99: 'GLOBAL',
  100: 'DICT',
  125: 'EMPTY_DICT',
  101: 'APPENDS',
  103: 'GET',
  104: 'BINGET',
  105: 'INST',
  106: 'LONG_BINGET',
  108: 'LIST',
  93: 'EMPTY_LIST',
  111: 'OBJ',
  112: 'PUT',
  113: 'BINPUT',
  114: 'LONG_BINPUT',
  115: 'SETITEM',
  116: 'TUPLE',
  41: 'EMPTY_TUPLE',
  117: 'SETITEMS',
  71: 'BINFLOAT',
  128: 'PROTO',
  129: 'NEWOBJ',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  133: 'TUPLE1',
  134: 'TUPLE2',
  135: 'TUPLE3',
  136: 'NEWTRUE',
  137: 'NEWFALSE',
  138: 'LONG1',
  139: 'LONG4',
  66: 'BINBYTES',
  67: 'SHORT_BINBYTES',
  140: 'SHORT_BINUNICODE',
  141: 'BINUNICODE8',
  142: 'BINBYTES8',
  143: 'EMPTY_SET',
  144: 'ADDITEMS',
  145: 'FROZENSET',
  146: 'NEWOBJ_EX',
  147: 'STACK_GLOBAL',
  148: 'MEMOIZE',
  149: 'FRAME',
  150: 'BYTEARRAY8',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
};

/** Short description of a value for error messages. */
export function describePickleValue(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return v.length > 40 ? `str '${v.slice(0, 37)}...'` : `str '${v}'`;
  if (typeof v === 'number' || typeof v === 'bigint') return `number ${v}`;
  if (typeof v === 'boolean') return `bool ${v}`;
  if (v instanceof Uint8Array) return `bytes (${v.length})`;
  if (Array.isArray(v)) return `${Object.isFrozen(v) ? 'tuple' : 'list'} of ${v.length}`;
  if (v instanceof Map) return `dict of ${v.size}`;
  if (v instanceof Set) return `set of ${v.size}`;
  if (v instanceof PickleGlobal) return `global '${v.qualifiedName}'`;
  if (v instanceof PickleObject) return `'${v.global}' object`;
  return (v as object)?.constructor?.name ?? typeof v;
}

/** Little-endian two's-complement integer of `bytes` (LONG1/LONG4), as a number when safe, else a bigint. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return normalizeInt(v);
}

function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

const refuseGlobal = (module: string, name: string, where: string): never => {
  throw new Error(`${where}: refusing to load global '${module}.${name}'`);
};

/**
 * Unpickles one pickle from `bytes`. Only data-building opcodes run; globals go through `findGlobal` and
 * persistent ids through `persistentLoad`. Refused opcodes: `PERSID` (text), `EXT1/2/4`, `NEXT_BUFFER`,
 * `READONLY_BUFFER`, and the protocol-0 quoted strings `STRING`/`UNICODE`.
 * @throws Error naming the source, the opcode, its byte offset and what was expected.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  const { source = 'pickle', findGlobal = refuseGlobal } = opts;
  const persistentLoad =
    opts.persistentLoad ??
    ((_pid: unknown, where: string): never => {
      throw new Error(`${where}: persistent ids are not allowed here`);
    });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = opts.start ?? 0;
  let opPos = pos;
  let op = 0;

  const where = (): string =>
    `${source}: ${OPCODE_NAMES[op] ?? `opcode 0x${op.toString(16).padStart(2, '0')}`} at byte ${opPos}`;
  const fail = (msg: string): never => {
    throw new Error(`${where()}: ${msg}`);
  };
  const take = (n: number): Uint8Array => {
    if (n < 0 || pos + n > bytes.length)
      fail(`needs ${n} bytes but the pickle ends at byte ${bytes.length} (truncated)`);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const u8 = (): number => take(1)[0]!;
  const u16 = (): number => {
    take(2);
    return dv.getUint16(pos - 2, true);
  };
  const u32 = (): number => {
    take(4);
    return dv.getUint32(pos - 4, true);
  };
  const u64 = (): number => {
    take(8);
    const v = dv.getBigUint64(pos - 8, true);
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the pickle size`);
    return Number(v);
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) fail('expected a newline-terminated argument (truncated)');
    const s = utf8.decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const floor = (): number => (marks.length ? marks[marks.length - 1]! : 0);
  const pop = (): unknown => {
    if (stack.length <= floor()) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= floor()) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK on the stack');
    return stack.splice(m!);
  };
  const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);
  const callGlobal = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof PickleGlobal))
      return fail(`expected a callable global, got ${describePickleValue(fn)}`);
    if (!Array.isArray(args)) return fail(`expected an argument tuple, got ${describePickleValue(args)}`);
    if (!fn.call) return fail(`'${fn.qualifiedName}' cannot be called`);
    return fn.call(args);
  };
  const resolve = (module: unknown, name: unknown): PickleGlobal => {
    if (typeof module !== 'string' || typeof name !== 'string') {
      return fail(
        `expected module and name strings, got ${describePickleValue(module)}, ${describePickleValue(name)}`,
      );
    }
    return findGlobal(module, name, where());
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) fail(`expected a dict to set items on, got ${describePickleValue(target)}`);
    if (items.length % 2) fail('odd number of items for key/value pairs');
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const append = (target: unknown, items: unknown[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) {
      fail(`expected a list to append to, got ${describePickleValue(target)}`);
    }
    for (const it of items) (target as unknown[]).push(it);
  };
  const memoKey = (s: string): number => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0) fail(`invalid memo key '${s}'`);
    return n;
  };
  const get = (k: number): unknown => {
    if (!memo.has(k)) fail(`memo key ${k} was never stored`);
    return memo.get(k);
  };
  const str = (b: Uint8Array): string => utf8.decode(b);

  for (;;) {
    opPos = pos;
    if (pos >= bytes.length) {
      op = 0;
      throw new Error(`${source}: pickle ends at byte ${pos} without a STOP opcode (truncated)`);
    }
    op = bytes[pos++]!;
    switch (op) {
      case 0x80: {
        const proto = u8();
        if (proto > 5) fail(`unsupported pickle protocol ${proto} (expected 0 to 5)`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        take(8);
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28:
        marks.push(stack.length);
        break;
      case 0x30:
        if (stack.length > floor()) stack.pop();
        else popMark();
        break;
      case 0x31:
        popMark();
        break;
      case 0x32:
        stack.push(top());
        break;
      case 0x4e:
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4a:
        take(4);
        stack.push(dv.getInt32(pos - 4, true));
        break;
      case 0x4b:
        stack.push(u8());
        break;
      case 0x4d:
        stack.push(u16());
        break;
      case 0x8a:
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: {
        take(4);
        const n = dv.getInt32(pos - 4, true);
        if (n < 0) fail(`negative length ${n}`);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x49: {
        // INT: decimal text; "01"/"00" are True/False in protocol 0.
        const s = line();
        if (s === '01' || s === '00') stack.push(s === '01');
        else if (/^[-+]?\d+$/.test(s)) stack.push(normalizeInt(BigInt(s)));
        else fail(`expected a decimal integer, got '${s}'`);
        break;
      }
      case 0x4c: {
        const s = line().replace(/L$/, '');
        if (!/^[-+]?\d+$/.test(s)) fail(`expected a decimal integer, got '${s}'`);
        stack.push(normalizeInt(BigInt(s)));
        break;
      }
      case 0x46: {
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/^[-+]?nan$/i.test(s)) fail(`expected a float, got '${s}'`);
        stack.push(v);
        break;
      }
      case 0x47:
        take(8);
        stack.push(dv.getFloat64(pos - 8, false));
        break;
      case 0x58:
        stack.push(str(take(u32())));
        break;
      case 0x8c:
        stack.push(str(take(u8())));
        break;
      case 0x8d:
        stack.push(str(take(u64())));
        break;
      case 0x54: {
        // BINSTRING / SHORT_BINSTRING: Python 2 str, decoded as UTF-8 like torch.load does.
        take(4);
        const n = dv.getInt32(pos - 4, true);
        if (n < 0) fail(`negative length ${n}`);
        stack.push(str(take(n)));
        break;
      }
      case 0x55:
        stack.push(str(take(u8())));
        break;
      case 0x42:
        stack.push(take(u32()).slice());
        break;
      case 0x43:
        stack.push(take(u8()).slice());
        break;
      case 0x8e:
      case 0x96:
        stack.push(take(u64()).slice());
        break;
      case 0x7d:
        stack.push(new Map());
        break;
      case 0x64: {
        const items = popMark();
        const m = new Map<unknown, unknown>();
        setItems(m, items);
        stack.push(m);
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x5d:
        stack.push([]);
        break;
      case 0x6c:
        stack.push(popMark());
        break;
      case 0x61: {
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x29:
        stack.push(tuple([]));
        break;
      case 0x74:
        stack.push(tuple(popMark()));
        break;
      case 0x85:
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        const b = pop();
        stack.push(tuple([pop(), b]));
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        stack.push(tuple([pop(), b, c]));
        break;
      }
      case 0x8f:
        stack.push(new Set());
        break;
      case 0x90: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`expected a set, got ${describePickleValue(s)}`);
        for (const it of items) (s as Set<unknown>).add(it);
        break;
      }
      case 0x91:
        stack.push(new Set(popMark()));
        break;
      case 0x70:
        memo.set(memoKey(line()), top());
        break;
      case 0x71:
        memo.set(u8(), top());
        break;
      case 0x72:
        memo.set(u32(), top());
        break;
      case 0x94:
        memo.set(memo.size, top());
        break;
      case 0x67:
        stack.push(get(memoKey(line())));
        break;
      case 0x68:
        stack.push(get(u8()));
        break;
      case 0x6a:
        stack.push(get(u32()));
        break;
      case 0x63: {
        const module = line();
        const name = line();
        stack.push(resolve(module, name));
        break;
      }
      case 0x93: {
        const name = pop();
        const module = pop();
        stack.push(resolve(module, name));
        break;
      }
      case 0x52: {
        const args = pop();
        const fn = pop();
        stack.push(callGlobal(fn, args));
        break;
      }
      case 0x81: {
        const args = pop();
        const cls = pop();
        stack.push(callGlobal(cls, args));
        break;
      }
      case 0x92: {
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) {
          fail(`keyword arguments are not supported (got ${describePickleValue(kwargs)})`);
        }
        stack.push(callGlobal(cls, args));
        break;
      }
      case 0x69: {
        const module = line();
        const name = line();
        const args = popMark();
        stack.push(callGlobal(resolve(module, name), tuple(args)));
        break;
      }
      case 0x6f: {
        const items = popMark();
        if (items.length === 0) fail('expected a class after MARK');
        stack.push(callGlobal(items[0], tuple(items.slice(1))));
        break;
      }
      case 0x62: {
        const state = pop();
        const obj = top();
        if (obj instanceof PickleObject) {
          obj.state = state;
        } else if (obj instanceof Map) {
          // An OrderedDict's attributes (a state dict's `_metadata`): not part of the data, dropped.
          if (state !== null && !(state instanceof Map) && !Array.isArray(state)) {
            fail(`expected a dict of attributes for an OrderedDict, got ${describePickleValue(state)}`);
          }
        } else {
          fail(`BUILD (setting state) is not allowed on ${describePickleValue(obj)}`);
        }
        break;
      }
      case 0x51: {
        const pid = pop();
        stack.push(persistentLoad(pid, where()));
        break;
      }
      case 0x50:
        fail('text persistent ids are not supported');
        break;
      case 0x53:
      case 0x56:
        fail('protocol-0 quoted strings are not supported; re-save with protocol 2 or later');
        break;
      case 0x82:
      case 0x83:
      case 0x84:
        fail('the copyreg extension registry is not allowed');
        break;
      case 0x97:
      case 0x98:
        fail('out-of-band buffers are not supported');
        break;
      default:
        fail('unknown opcode');
    }
  }
}
