import { describe, expect, it } from 'vitest';
import { P, pickle } from './testUtils.js';
import { PickleGlobal, PickleObject, unpickle } from './unpickle.js';

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/**
 * `pickle.dumps(obj, protocol=p)` from CPython for
 * obj = {'a': [1, 2.5, None, True, False], 'b': (1, 'xé😀'), 'big': 2**70, 'neg': -300, 'i32': -2**31,
 *        'u16': 65535, 'e': (), 't3': (1, 2, 3), 'nested': {'k': [[], {}]}, 'float': -1e-310, 5: 'intkey',
 *        's1': shared, 's2': shared}  with shared = [1]
 */
const PYTHON_PICKLES: Record<number, string> = {
  2: 'gAJ9cQAoWAEAAABhcQFdcQIoSwFHQAQAAAAAAABOiIllWAEAAABicQNLAVgHAAAAeMOp8J+YgHEEhnEFWAMAAABiaWdxBooJAAAAAAAAAABAWAMAAABuZWdxB0rU/v//WAMAAABpMzJxCEoAAACAWAMAAAB1MTZxCU3//1gBAAAAZXEKKVgCAAAAdDNxC0sBSwJLA4dxDFgGAAAAbmVzdGVkcQ19cQ5YAQAAAGtxD11xEChdcRF9cRJlc1gFAAAAZmxvYXRxE0eAABJoi3DmK0sFWAYAAABpbnRrZXlxFFgCAAAAczFxFV1xFksBYVgCAAAAczJxF2gWdS4=',
  3: 'gAN9cQAoWAEAAABhcQFdcQIoSwFHQAQAAAAAAABOiIllWAEAAABicQNLAVgHAAAAeMOp8J+YgHEEhnEFWAMAAABiaWdxBooJAAAAAAAAAABAWAMAAABuZWdxB0rU/v//WAMAAABpMzJxCEoAAACAWAMAAAB1MTZxCU3//1gBAAAAZXEKKVgCAAAAdDNxC0sBSwJLA4dxDFgGAAAAbmVzdGVkcQ19cQ5YAQAAAGtxD11xEChdcRF9cRJlc1gFAAAAZmxvYXRxE0eAABJoi3DmK0sFWAYAAABpbnRrZXlxFFgCAAAAczFxFV1xFksBYVgCAAAAczJxF2gWdS4=',
  4: 'gASVtAAAAAAAAAB9lCiMAWGUXZQoSwFHQAQAAAAAAABOiIlljAFilEsBjAd4w6nwn5iAlIaUjANiaWeUigkAAAAAAAAAAECMA25lZ5RK1P7//4wDaTMylEoAAACAjAN1MTaUTf//jAFllCmMAnQzlEsBSwJLA4eUjAZuZXN0ZWSUfZSMAWuUXZQoXZR9lGVzjAVmbG9hdJRHgAASaItw5itLBYwGaW50a2V5lIwCczGUXZRLAWGMAnMylGgWdS4=',
  5: 'gAWVtAAAAAAAAAB9lCiMAWGUXZQoSwFHQAQAAAAAAABOiIlljAFilEsBjAd4w6nwn5iAlIaUjANiaWeUigkAAAAAAAAAAECMA25lZ5RK1P7//4wDaTMylEoAAACAjAN1MTaUTf//jAFllCmMAnQzlEsBSwJLA4eUjAZuZXN0ZWSUfZSMAWuUXZQoXZR9lGVzjAVmbG9hdJRHgAASaItw5itLBYwGaW50a2V5lIwCczGUXZRLAWGMAnMylGgWdS4=',
};

describe('unpickle', () => {
  it.each([2, 3, 4, 5])('reads CPython protocol %i data', (proto) => {
    const bytes = b64(PYTHON_PICKLES[proto]!);
    const { value, end } = unpickle(bytes);
    expect(end).toBe(bytes.length);
    const m = value as Map<unknown, unknown>;
    expect(m).toBeInstanceOf(Map);
    expect(m.get('a')).toEqual([1, 2.5, null, true, false]);
    expect(m.get('b')).toEqual([1, 'xé😀']);
    expect(Object.isFrozen(m.get('b'))).toBe(true); // tuples are frozen arrays
    expect(m.get('big')).toBe(2n ** 70n);
    expect(m.get('neg')).toBe(-300);
    expect(m.get('i32')).toBe(-(2 ** 31));
    expect(m.get('u16')).toBe(65535);
    expect(m.get('e')).toEqual([]);
    expect(m.get('t3')).toEqual([1, 2, 3]);
    expect((m.get('nested') as Map<string, unknown>).get('k')).toEqual([[], new Map()]);
    expect(m.get('float')).toBe(-1e-310);
    expect(m.get(5)).toBe('intkey');
    expect(m.get('s1')).toBe(m.get('s2')); // memo keeps shared references shared
  });

  it('reads bytes, bytearray, set and frozenset (protocol 5)', () => {
    const m = unpickle(
      b64('gAWVNgAAAAAAAAB9lCiMAmJ5lEMCAP+UjANzZXSUj5QoSwGQjAJmc5QoSwKRlIwCYmGUlgIAAAAAAAAAYWKUdS4='),
    ).value as Map<string, unknown>;
    expect(m.get('by')).toEqual(Uint8Array.of(0, 255));
    expect(m.get('set')).toEqual(new Set([1]));
    expect(m.get('fs')).toEqual(new Set([2]));
    expect(m.get('ba')).toEqual(Uint8Array.of(97, 98));
  });

  it('refuses every global by default, naming it, the opcode and the offset', () => {
    expect(() => unpickle(pickle(P.proto(2), P.global('os', 'system'), P.stop), { source: 'x.pkl' })).toThrow(
      "x.pkl: GLOBAL at byte 2: refusing to load global 'os.system'",
    );
    expect(() =>
      unpickle(pickle(P.proto(4), P.str('builtins'), P.str('eval'), P.stackGlobal, P.stop)),
    ).toThrow(/STACK_GLOBAL at byte \d+: refusing to load global 'builtins.eval'/);
    expect(() => unpickle(pickle(P.mark, P.str('ls'), P.inst('subprocess', 'Popen'), P.stop))).toThrow(
      /INST at byte \d+: refusing to load global 'subprocess.Popen'/,
    );
  });

  it('only calls globals through the resolver, and builds inert objects', () => {
    const seen: string[] = [];
    const findGlobal = (module: string, name: string) => {
      seen.push(`${module}.${name}`);
      return new PickleGlobal(module, name, (args) => new PickleObject(`${module}.${name}`, args));
    };
    const bytes = pickle(
      P.proto(2),
      P.global('argparse', 'Namespace'),
      P.emptyTuple,
      P.reduce,
      P.emptyDict,
      P.str('lr'),
      P.int(3),
      P.setitem,
      P.build,
      P.stop,
    );
    const obj = unpickle(bytes, { findGlobal }).value as PickleObject;
    expect(seen).toEqual(['argparse.Namespace']);
    expect(obj).toBeInstanceOf(PickleObject);
    expect(obj.global).toBe('argparse.Namespace');
    expect(obj.state).toEqual(new Map([['lr', 3]]));
  });

  it('names the problem in malformed pickles', () => {
    expect(() => unpickle(pickle(P.proto(2), P.str('abc')))).toThrow(/without a STOP opcode \(truncated\)/);
    expect(() => unpickle(pickle(P.proto(2), 0x58, 9, 0, 0, 0, 0x41))).toThrow(
      /BINUNICODE at byte 2: needs 9 bytes but the pickle ends/,
    );
    expect(() => unpickle(pickle(P.proto(2), 0xff))).toThrow(/opcode 0xff at byte 2: unknown opcode/);
    expect(() => unpickle(pickle(P.proto(6)))).toThrow(/unsupported pickle protocol 6/);
    expect(() => unpickle(pickle(P.proto(2), P.binget(3), P.stop))).toThrow(
      /BINGET at byte 2: memo key 3 was never stored/,
    );
    expect(() => unpickle(pickle(P.proto(2), P.setitem, P.stop))).toThrow(
      /SETITEM at byte 2: stack underflow/,
    );
    expect(() => unpickle(pickle(P.proto(2), P.mark, P.stop))).toThrow(/STOP at byte 3: stack underflow/);
    expect(() => unpickle(pickle(P.proto(2), P.emptyList, P.str('k'), P.int(1), P.setitem, P.stop))).toThrow(
      /SETITEM at byte \d+: expected a dict to set items on, got list of 0/,
    );
    expect(() => unpickle(pickle(P.proto(2), P.int(1), P.emptyTuple, P.reduce, P.stop))).toThrow(
      /REDUCE at byte \d+: expected a callable global, got number 1/,
    );
    expect(() => unpickle(pickle(P.proto(2), P.none, P.binpersid, P.stop))).toThrow(
      /BINPERSID at byte 3: persistent ids are not allowed here/,
    );
    expect(() => unpickle(pickle(P.proto(2), 0x82, 1, P.stop))).toThrow(
      /EXT1 .*extension registry is not allowed/,
    );
    expect(() => unpickle(pickle(P.proto(2), P.emptyList, P.emptyDict, P.build, P.stop))).toThrow(
      /BUILD at byte \d+: BUILD \(setting state\) is not allowed on list of 0/,
    );
  });
});
