import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../testing/index.js';
import type { StateDict } from '../stateDict.js';
import { findStateDict, parsePth, TorchTensor } from './pth.js';
import { buildPth, buildZip, P, pickle } from './testUtils.js';
import { pthToTensors } from './toTf.js';
import { PickleObject } from './unpickle.js';
import { readZip } from './zip.js';

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const expected = JSON.parse(
  readFileSync(new URL('./fixtures/small.expected.json', import.meta.url), 'utf8'),
) as Record<string, { dtype: string; shape: number[]; values: (number | boolean)[] }>;

/** Values, shapes and dtypes exactly as PyTorch wrote them (floats rounded once to float32). */
function checkSmall(tensors: Map<string, TorchTensor>): void {
  expect([...tensors.keys()]).toEqual(Object.keys(expected));
  for (const [key, want] of Object.entries(expected)) {
    const t = tensors.get(key)!;
    expect(t, key).toBeInstanceOf(TorchTensor);
    expect(t.dtype, key).toBe(want.dtype);
    expect(t.shape, key).toEqual(want.shape);
    const float = ['F32', 'F64', 'F16', 'BF16'].includes(want.dtype);
    expect(t.data, key).toBeInstanceOf(
      float
        ? Float32Array
        : want.dtype === 'I8'
          ? Int8Array
          : want.dtype === 'U8' || want.dtype === 'BOOL'
            ? Uint8Array
            : Int32Array,
    );
    const values = want.values.map((v) => (typeof v === 'boolean' ? Number(v) : float ? Math.fround(v) : v));
    expect(Array.from(t.data), key).toEqual(values);
  }
}

describe('parsePth', () => {
  it('reads a PyTorch 1.13 state dict: dtypes, views, 0-d and empty tensors', () => {
    const file = parsePth(fixture('small.pth'), { name: 'small.pth' });
    expect(file.format).toBe('zip');
    expect(file.version).toBe(3);
    expect(file.root).toBeInstanceOf(Map);
    checkSmall(file.tensors);
    // Spot checks of the strided ones, independent of the JSON.
    expect(Array.from(file.tensors.get('transposed')!.data)).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(Array.from(file.tensors.get('sliced')!.data)).toEqual([5, 7, 9, 10, 12, 14, 15, 17, 19]);
    expect(file.tensors.get('scalar')!.shape).toEqual([]);
    expect(Array.from(file.tensors.get('scalar')!.data)).toEqual([2.75]);
  });

  it('reads deflate-compressed entries', () => {
    const bytes = fixture('small_deflate.pth');
    expect([...readZip(bytes).entries.values()].some((e) => e.method === 8)).toBe(true);
    checkSmall(parsePth(bytes).tensors);
  });

  it('reads the legacy (pre-1.6) format', () => {
    const file = parsePth(fixture('legacy.pth'));
    expect(file.format).toBe('legacy');
    checkSmall(file.tensors);
  });

  it('finds the state dict inside a checkpoint and exposes the rest', () => {
    const file = parsePth(fixture('checkpoint.pth'));
    const root = file.root as Map<string, unknown>;
    expect(root.get('epoch')).toBe(3);
    expect(root.get('best_miou')).toBe(0.5);
    expect(root.get('note')).toBe('fixture');
    checkSmall(file.tensors);
    expect([...parsePth(fixture('checkpoint.pth'), { stateDictKey: 'model' }).tensors.keys()]).toEqual(
      Object.keys(expected),
    );
    expect(() => parsePth(fixture('checkpoint.pth'), { stateDictKey: 'state_dict', name: 'c.pth' })).toThrow(
      "c.pth: no key 'state_dict' at the top level (it has: model, epoch, best_miou, note)",
    );
  });

  it('refuses a pickle that calls os.system, without running it', () => {
    expect(() => parsePth(fixture('malicious.pth'), { name: 'malicious.pth' })).toThrow(
      /^refusing to load 'os\.system' from malicious\.pth: only tensors and ordered dicts are allowed \(malicious\.pth \(archive\/data\.pkl\): GLOBAL at byte 2/,
    );
  });

  it.each([
    [
      'builtins.eval',
      pickle(
        P.proto(4),
        P.str('builtins'),
        P.str('eval'),
        P.stackGlobal,
        P.str('1'),
        P.tuple1,
        P.reduce,
        P.stop,
      ),
    ],
    [
      'posix.system',
      pickle(P.proto(2), P.global('posix', 'system'), P.str('id'), P.tuple1, P.reduce, P.stop),
    ],
    ['subprocess.Popen', pickle(P.proto(2), P.mark, P.str('id'), P.inst('subprocess', 'Popen'), P.stop)],
    ['torch.nn.Module', pickle(P.proto(2), P.global('torch.nn', 'Module'), P.emptyTuple, P.newobj, P.stop)],
    [
      'torch._utils._rebuild_qtensor',
      pickle(P.proto(2), P.global('torch._utils', '_rebuild_qtensor'), P.stop),
    ],
  ])('refuses %s', (name, pkl) => {
    expect(() => parsePth(buildPth(pkl), { name: 'evil.pth' })).toThrow(
      `refusing to load '${name}' from evil.pth: only tensors and ordered dicts are allowed`,
    );
  });

  it('keeps opted-in globals as inert records', () => {
    const pkl = pickle(
      P.proto(2),
      P.emptyDict,
      P.str('args'),
      P.global('argparse', 'Namespace'),
      P.emptyTuple,
      P.reduce,
      P.setitem,
      P.stop,
    );
    const file = parsePth(buildPth(pkl), { allowGlobals: ['argparse.Namespace'] });
    const args = (file.root as Map<string, unknown>).get('args');
    expect(args).toBeInstanceOf(PickleObject);
    expect(file.tensors.size).toBe(0);
  });

  /** A pickle of `{'t': _rebuild_tensor_v2(storage '0' of `numel` floats, offset, size, stride, False, OrderedDict())}`. */
  const tensorPickle = (
    numel: number,
    offset: number,
    size: number[],
    stride: number[],
    storageType = 'FloatStorage',
  ) =>
    pickle(
      P.proto(2),
      P.emptyDict,
      P.str('t'),
      P.global('torch._utils', '_rebuild_tensor_v2'),
      P.mark,
      P.mark,
      P.str('storage'),
      P.global('torch', storageType),
      P.str('0'),
      P.str('cpu'),
      P.int(numel),
      P.tuple,
      P.binpersid,
      P.int(offset),
      P.mark,
      ...size.map(P.int),
      P.tuple,
      P.mark,
      ...stride.map(P.int),
      P.tuple,
      P.false,
      P.global('collections', 'OrderedDict'),
      P.emptyTuple,
      P.reduce,
      P.tuple,
      P.reduce,
      P.setitem,
      P.stop,
    );
  const floats = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

  it('applies offset and strides from a hand-built pickle', () => {
    const t = parsePth(
      buildPth(tensorPickle(6, 1, [2, 2], [1, 2]), { '0': floats(0, 1, 2, 3, 4, 5) }),
    ).tensors.get('t')!;
    expect(t.shape).toEqual([2, 2]);
    expect(Array.from(t.data)).toEqual([1, 3, 2, 4]);
  });

  it('reads big-endian storages when the archive says so', () => {
    const be = new Uint8Array(8);
    new DataView(be.buffer).setFloat32(0, 1.5, false);
    new DataView(be.buffer).setFloat32(4, -2, false);
    const bytes = buildZip([
      { name: 'archive/data.pkl', data: tensorPickle(2, 0, [2], [1]) },
      { name: 'archive/data/0', data: be },
      { name: 'archive/byteorder', data: new TextEncoder().encode('big') },
    ]);
    expect(Array.from(parsePth(bytes).tensors.get('t')!.data)).toEqual([1.5, -2]);
  });

  it('reads a hand-built big-endian legacy file with a storage view', () => {
    const magic = [0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    const header = pickle(
      ...[P.proto(2), magic, P.stop],
      ...[P.proto(2), 0x4d, 0xe9, 0x03, P.stop], // 1001
      ...[P.proto(2), P.emptyDict, P.str('little_endian'), P.false, P.setitem, P.stop],
    );
    const rebuild = (offset: number, size: number, view: number[][]) => [
      P.global('torch._utils', '_rebuild_tensor_v2'),
      ...[
        P.mark,
        P.mark,
        P.str('storage'),
        P.global('torch', 'FloatStorage'),
        P.str('7'),
        P.str('cpu'),
        P.int(6),
      ],
      ...view,
      ...[
        P.tuple,
        P.binpersid,
        P.int(offset),
        P.int(size),
        P.tuple1,
        P.int(1),
        P.tuple1,
        P.false,
        P.none,
        P.tuple,
      ],
      P.reduce,
    ];
    const main = pickle(
      P.proto(2),
      P.emptyDict,
      ...[P.str('whole'), ...rebuild(0, 6, [P.none]), P.setitem],
      ...[P.str('view'), ...rebuild(1, 2, [P.str('7v'), P.int(2), P.int(3), P.tuple3]), P.setitem],
      P.stop,
    );
    const keys = pickle(P.proto(2), P.emptyList, P.mark, P.str('7'), P.appends, P.stop);
    const data = new Uint8Array(8 + 24);
    const dv = new DataView(data.buffer);
    dv.setBigInt64(0, 6n, false);
    for (let i = 0; i < 6; i++) dv.setFloat32(8 + 4 * i, i + 0.5, false);
    const bytes = new Uint8Array([...header, ...main, ...keys, ...data]);
    const file = parsePth(bytes);
    expect(file.format).toBe('legacy');
    expect(Array.from(file.tensors.get('whole')!.data)).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    expect(Array.from(file.tensors.get('view')!.data)).toEqual([3.5, 4.5]); // view [2, 5) of the storage, offset 1
    expect(() => parsePth(bytes.subarray(0, bytes.length - 1), { name: 'l.pth' })).toThrow(
      /l\.pth: legacy storage '7': 6 elements at byte \d+ run past the end of the file/,
    );
  });

  it('names the problem in broken files', () => {
    expect(() =>
      parsePth(buildPth(tensorPickle(3, 1, [3], [1]), { '0': floats(0, 1, 2) }), { name: 'x.pth' }),
    ).toThrow(
      "x.pth: tensor of size [3], stride [1], offset 1 reaches element 3 of storage '0' (FloatStorage), which holds 3",
    );
    expect(() =>
      parsePth(buildPth(tensorPickle(3, 0, [3], [1]), { '0': floats(0, 1) }), { name: 'x.pth' }),
    ).toThrow(/storage '0' \(FloatStorage\) holds 8 bytes, but 3 elements need 12/);
    expect(() => parsePth(buildPth(tensorPickle(3, 0, [3], [1])), { name: 'x.pth' })).toThrow(
      "x.pth: the pickle refers to storage '0', but entry 'archive/data/0' is missing",
    );
    expect(() =>
      parsePth(buildPth(tensorPickle(2, 0, [2], [1], 'ComplexFloatStorage'), { '0': floats(0, 1, 2, 3) })),
    ).toThrow(/storage type 'torch.ComplexFloatStorage' is not supported/);
    expect(() => parsePth(fixture('bigint.pth'), { name: 'bigint.pth' })).toThrow(
      /int64 element 1 is 1099511627776, outside the int32 range/,
    );

    const small = fixture('small.pth');
    expect(() => parsePth(small.subarray(0, small.length - 100), { name: 's.pth' })).toThrow(
      /^s\.pth: no end-of-central-directory record: the ZIP archive is truncated/,
    );
    const corrupt = small.slice();
    const entry = readZip(small).entries.get('archive/data/0')!;
    corrupt[entry.dataOffset]! ^= 0x55;
    expect(() => parsePth(corrupt, { name: 's.pth' })).toThrow(/s\.pth: entry 'archive\/data\/0': CRC-32 is/);
    expect(() => parsePth(new TextEncoder().encode('hello'), { name: 'h.pth' })).toThrow(
      /h\.pth: not a PyTorch checkpoint.*_use_new_zipfile_serialization=True/,
    );
    expect(() =>
      parsePth(buildZip([{ name: 'x/other', data: new Uint8Array(1) }]), { name: 'z.zip' }),
    ).toThrow(/z\.zip: ZIP archive has no '<archive>\/data\.pkl' entry/);
    expect(() =>
      parsePth(
        buildZip([
          { name: 'm/data.pkl', data: pickle(P.proto(2), P.none, P.stop) },
          { name: 'm/code/__torch__.py', data: new Uint8Array(0) },
          { name: 'm/constants.pkl', data: new Uint8Array(0) },
        ]),
      ),
    ).toThrow(/TorchScript archive/);
    const legacy = fixture('legacy.pth');
    expect(() => parsePth(legacy.subarray(0, legacy.length - 10), { name: 'l.pth' })).toThrow(
      /l\.pth: legacy storage '\d+': .*truncated/,
    );
  });
});

describe('pthToTensors', () => {
  it('feeds the same state-dict loader as safetensors, and makes tf tensors', async () => {
    const file = parsePth(fixture('small.pth'));
    const sd: StateDict = file.tensors; // the loader's input type, unchanged
    expect(sd).toBe(file.tensors);
    await useBackend('cpu');
    const ts = pthToTensors(file);
    try {
      expect(ts['0.weight']!.shape).toEqual([2, 3, 3, 3]);
      expect(ts['0.weight']!.dtype).toBe('float32');
      expect(ts['long']!.dtype).toBe('int32');
      expect(ts['bool']!.dtype).toBe('int32');
      expect(Array.from(await ts['transposed']!.data())).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    } finally {
      tf.dispose(Object.values(ts));
    }
  });
});

describe('findStateDict', () => {
  const t = new TorchTensor('F32', [1], Float32Array.of(1));
  it('flattens nested dicts with dots and prefers the known state-dict keys', () => {
    const nested = new Map<unknown, unknown>([
      ['backbone', new Map([['conv', new Map([['weight', t]])]])],
      ['head.bias', t],
    ]);
    expect([...findStateDict(nested).keys()]).toEqual(['backbone.conv.weight', 'head.bias']);
    const ckpt = new Map<unknown, unknown>([
      ['optimizer', new Map([['state', new Map([[0, new Map([['momentum_buffer', t]])]])]])],
      ['state_dict', new Map([['w', t]])],
    ]);
    expect([...findStateDict(ckpt).keys()]).toEqual(['w']);
    expect([...findStateDict(ckpt, { key: 'optimizer' }).keys()]).toEqual(['state.0.momentum_buffer']);
    expect([...findStateDict(t).keys()]).toEqual(['']);
  });

  it('refuses keys that collide once flattened', () => {
    const m = new Map<unknown, unknown>([
      ['a', new Map([['b', t]])],
      ['a.b', t],
    ]);
    expect(() => findStateDict(m)).toThrow("two tensors flatten to the key 'a.b'");
  });
});
