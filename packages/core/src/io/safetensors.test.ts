import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectClose, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { bfloat16BitsToFloat, floatToBfloat16Bits, floatToHalfBits, halfBitsToFloat } from './halfFloat.js';
import {
  loadSafetensors,
  parseSafetensors,
  type SafetensorsEntry,
  safetensorsLayout,
  safetensorsToTensors,
  serializeSafetensors,
  serializeTensors,
} from './safetensors.js';

/** Builds a file from a header object (or raw header text) and data bytes, padding the header like the format. */
function file(header: unknown, data: number[] = [], pad = true): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad) while (text.length % 8) text += ' ';
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe('serializeSafetensors', () => {
  it('writes the exact bytes the format prescribes', () => {
    const bytes = serializeSafetensors({
      b: { dtype: 'U8', shape: [3], data: [1, 2, 3] },
      a: { dtype: 'F32', shape: [2], data: [1, -2] },
    });
    // F32 (4-byte elements) before U8; 107 header characters padded with 5 spaces to 112.
    const header =
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}';
    expect(header.length).toBe(107);
    const expected = [
      ...[112, 0, 0, 0, 0, 0, 0, 0],
      ...[...header].map((c) => c.charCodeAt(0)),
      ...[0x20, 0x20, 0x20, 0x20, 0x20],
      ...[0, 0, 0x80, 0x3f], // 1.0f little-endian
      ...[0, 0, 0, 0xc0], // -2.0f
      ...[1, 2, 3],
    ];
    expect([...bytes]).toEqual(expected);
  });

  it('puts __metadata__ first and pads to 8 bytes', () => {
    const bytes = serializeSafetensors({ x: { dtype: 'I8', shape: [], data: [-1] } }, { format: 'pt' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"x":{"dtype":"I8","shape":[],"data_offsets":[0,1]}}',
    );
    expect(bytes[bytes.length - 1]).toBe(0xff);
  });

  it('round-trips every dtype', () => {
    const entries: Record<string, SafetensorsEntry> = {
      f64: { dtype: 'F64', shape: [2], data: [0.5, -1e30] },
      f32: { dtype: 'F32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) },
      f16: { dtype: 'F16', shape: [3], data: [1, -2.5, 65504] },
      bf16: { dtype: 'BF16', shape: [2], data: [1.5, -3.140625] },
      i64: { dtype: 'I64', shape: [2], data: [-3, 2147483647] },
      i32: { dtype: 'I32', shape: [1, 2], data: Int32Array.from([-2147483648, 5]) },
      i8: { dtype: 'I8', shape: [2], data: [-128, 127] },
      u8: { dtype: 'U8', shape: [2], data: [0, 255] },
      bool: { dtype: 'BOOL', shape: [2], data: [1, 0] },
      empty: { dtype: 'F32', shape: [0, 4], data: [] },
    };
    const { tensors, metadata } = parseSafetensors(serializeSafetensors(entries, { a: 'b' }));
    expect(metadata).toEqual({ a: 'b' });
    expect(tensors.get('f64')!.data).toEqual(Float32Array.from([0.5, -1e30]));
    expect(tensors.get('f32')!.data).toEqual(Float32Array.from([1, 2, 3, 4]));
    expect(tensors.get('f32')!.shape).toEqual([2, 2]);
    expect(tensors.get('f16')!.data).toEqual(Float32Array.from([1, -2.5, 65504]));
    expect(tensors.get('bf16')!.data).toEqual(Float32Array.from([1.5, -3.140625]));
    expect(tensors.get('i64')!.data).toEqual(Int32Array.from([-3, 2147483647]));
    expect(tensors.get('i32')!.data).toEqual(Int32Array.from([-2147483648, 5]));
    expect(tensors.get('i8')!.data).toEqual(Int8Array.from([-128, 127]));
    expect(tensors.get('u8')!.data).toEqual(Uint8Array.from([0, 255]));
    expect(tensors.get('bool')!.data).toEqual(Uint8Array.from([1, 0]));
    expect(tensors.get('empty')!.shape).toEqual([0, 4]);
    expect(tensors.get('f16')!.dtype).toBe('F16');
    // Layout follows element size: 8-byte dtypes first, each aligned to its size.
    expect([...tensors.keys()].slice(0, 2)).toEqual(['f64', 'i64']);
  });

  it('refuses bad input, naming the tensor', () => {
    expect(() => serializeSafetensors({ t: { dtype: 'F32', shape: [3], data: [1, 2] } })).toThrow(
      /tensor 't': 2 values for shape \[3\], expected 3/,
    );
    expect(() => serializeSafetensors({ t: { dtype: 'I8', shape: [1], data: [200] } })).toThrow(
      /tensor 't': element 0 is 200; I8 needs integers in \[-128, 127\]/,
    );
    expect(() => serializeSafetensors({ t: { dtype: 'Q4' as never, shape: [1], data: [1] } })).toThrow(
      /dtype "Q4"/,
    );
    expect(() => serializeSafetensors({ t: { dtype: 'F32', shape: [-1], data: [] } })).toThrow(
      /non-negative/,
    );
    expect(() => serializeSafetensors({}, { k: 5 as never })).toThrow(/metadata 'k' must be a string/);
  });
});

describe('parseSafetensors errors', () => {
  const ok = { t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
  it('accepts a well-formed hand-built file', () => {
    const f = parseSafetensors(file(ok, [0, 0, 0x80, 0xbf]));
    expect(f.tensors.get('t')!.data).toEqual(Float32Array.from([-1]));
    expect(f.metadata).toEqual({});
  });
  it('header length', () => {
    expect(() => parseSafetensors(new Uint8Array(5))).toThrow(
      /5 bytes, shorter than the 8-byte header length/,
    );
    const big = file(ok, [0, 0, 0, 0]);
    expect(() => parseSafetensors(big, { maxHeaderBytes: 16 })).toThrow(
      /header length 56 exceeds the limit of 16/,
    );
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
    expect(() => parseSafetensors(huge)).toThrow(/exceeds the limit of 100000000 bytes/);
    new DataView(huge.buffer).setBigUint64(0, 100n, true);
    expect(() => parseSafetensors(huge)).toThrow(
      /header length 100 runs past the end of the file \(16 bytes\)/,
    );
  });
  it('header JSON', () => {
    expect(() => parseSafetensors(file('{"t": '))).toThrow(/header is not valid JSON/);
    expect(() => parseSafetensors(file('[1,2]'))).toThrow(/header must be a JSON object, got \[1,2\]/);
    expect(() => parseSafetensors(file({ __metadata__: { a: 1 } }))).toThrow(
      /__metadata__.a must be a string, got 1/,
    );
    expect(() => parseSafetensors(file({ t: 3 }))).toThrow(/tensor 't': entry must be an object/);
  });
  it('dtype and shape', () => {
    expect(() => parseSafetensors(file({ t: { ...ok.t, dtype: 'F8_E4M3' } }, [0, 0, 0, 0]))).toThrow(
      /tensor 't': dtype "F8_E4M3" \(valid in safetensors but not supported here\)/,
    );
    expect(() => parseSafetensors(file({ t: { ...ok.t, dtype: 'X' } }, [0, 0, 0, 0]))).toThrow(
      /dtype "X"; expected one of F64, F32/,
    );
    expect(() => parseSafetensors(file({ t: { ...ok.t, shape: [1.5] } }, [0, 0, 0, 0]))).toThrow(
      /tensor 't': shape must be an array of non-negative integers, got \[1.5\]/,
    );
    expect(() => parseSafetensors(file({ t: { ...ok.t, shape: [-1] } }, [0, 0, 0, 0]))).toThrow(
      /non-negative/,
    );
  });
  it('offsets', () => {
    const two = (a: number[], b: number[]) => ({
      a: { dtype: 'U8', shape: [a[1]! - a[0]!], data_offsets: a },
      b: { dtype: 'U8', shape: [b[1]! - b[0]!], data_offsets: b },
    });
    expect(() => parseSafetensors(file({ t: { ...ok.t, data_offsets: [0, 8] } }, [0, 0, 0, 0]))).toThrow(
      /corrupt or truncated: its header describes 8 bytes of tensor data, the file holds 4/,
    );
    expect(() => parseSafetensors(file({ t: { ...ok.t, data_offsets: [4, 0] } }, [0, 0, 0, 0]))).toThrow(
      /data_offsets must be \[begin, end\]/,
    );
    expect(() => parseSafetensors(file(two([0, 3], [2, 4]), [0, 0, 0, 0]))).toThrow(
      /tensor 'b' \[2, 4\] overlaps tensor 'a' \[0, 3\]/,
    );
    expect(() => parseSafetensors(file(two([0, 1], [2, 4]), [0, 0, 0, 0]))).toThrow(
      /bytes \[1, 2\) of the data buffer belong to no tensor \(before tensor 'b'\)/,
    );
    expect(() => parseSafetensors(file(two([0, 1], [1, 2]), [0, 0, 0, 0]))).toThrow(
      /bytes \[2, 4\) at the end of the data buffer belong to no tensor/,
    );
    expect(() => parseSafetensors(file({ t: { ...ok.t, shape: [2] } }, [0, 0, 0, 0]))).toThrow(
      /tensor 't': data_offsets \[0, 4\] hold 4 bytes, but shape \[2\] of F32 needs 8/,
    );
  });
  it('I64 outside int32', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigInt64(0, 2n ** 31n, true);
    expect(() =>
      parseSafetensors(file({ t: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, [...data])),
    ).toThrow(/tensor 't': I64 element 0 is 2147483648, outside the int32 range/);
  });
  it('reads a file that sits at an odd offset inside a larger buffer', () => {
    const inner = file(ok, [0, 0, 0x80, 0xbf]);
    const outer = new Uint8Array(inner.length + 4);
    outer.set(inner, 3);
    const f = parseSafetensors(outer.subarray(3, 3 + inner.length));
    expect(f.tensors.get('t')!.data).toEqual(Float32Array.from([-1]));
  });
  it('keeps a __proto__ name as plain data', () => {
    const bytes = serializeSafetensors(
      { ['__proto__']: { dtype: 'U8', shape: [1], data: [4] } },
      { ['__proto__']: 'x' },
    );
    const f = parseSafetensors(bytes);
    expect(f.tensors.get('__proto__')!.data).toEqual(Uint8Array.from([4]));
    expect(Object.keys(f.metadata)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['dtype']).toBeUndefined();
  });
  it('names the source', () => {
    expect(() => parseSafetensors(new Uint8Array(0), { source: 'w.safetensors' })).toThrow(
      /^w\.safetensors: /,
    );
  });
});

describe('checksums', () => {
  const entries = {
    w: { dtype: 'F32' as const, shape: [2, 3], data: Float32Array.from([1, 2, 3, -4, 5.5, 6]) },
    b: { dtype: 'U8' as const, shape: [3], data: [1, 2, 3] },
  };
  it('serializes with a crc32 of the data buffer that parsing verifies', () => {
    const bytes = serializeSafetensors(entries, { note: 'x' }, { checksum: true });
    const f = parseSafetensors(bytes);
    expect(f.metadata['checksum']).toMatch(/^crc32:[0-9a-f]{8}$/);
    expect(f.metadata['note']).toBe('x');
    expect([...f.tensors.get('w')!.data]).toEqual([1, 2, 3, -4, 5.5, 6]);
    // the same bytes as the pieces of the layout, which stream writers use
    const layout = safetensorsLayout(entries, { note: 'x' }, { checksum: true });
    const joined = new Uint8Array(layout.byteLength);
    let at = 0;
    for (const p of [layout.header, ...layout.parts]) {
      joined.set(p, at);
      at += p.length;
    }
    expect(joined).toEqual(bytes);
    // without the option nothing is added, and the bytes are those of the plain writer
    expect(parseSafetensors(serializeSafetensors(entries)).metadata).toEqual({});
  });
  it('names a file with a flipped bit or a cut end as corrupt', () => {
    const bytes = serializeSafetensors(entries, undefined, { checksum: true });
    const flipped = bytes.slice();
    flipped[flipped.length - 5]! ^= 0x10;
    expect(() => parseSafetensors(flipped, { source: 'ck.safetensors' })).toThrow(
      /ck.safetensors: the file is corrupt: the CRC-32 of its tensor data is [0-9a-f]{8}, its header says/,
    );
    // without verification the altered numbers are read as they are
    expect(() => parseSafetensors(flipped, { verifyChecksum: false })).not.toThrow();
    expect(() => parseSafetensors(bytes.subarray(0, bytes.length - 4), { source: 'ck' })).toThrow(
      /ck: the file is corrupt or truncated: its header describes 27 bytes of tensor data, the file holds 23/,
    );
  });
});

describe('half floats', () => {
  it('decodes known F16 and BF16 bit patterns', () => {
    expect(halfBitsToFloat(0x3c00)).toBe(1);
    expect(halfBitsToFloat(0xc100)).toBe(-2.5);
    expect(halfBitsToFloat(0x7bff)).toBe(65504);
    expect(halfBitsToFloat(0x0001)).toBe(2 ** -24);
    expect(halfBitsToFloat(0x0400)).toBe(2 ** -14);
    expect(halfBitsToFloat(0x2e66)).toBe(0.0999755859375);
    expect(halfBitsToFloat(0xfc00)).toBe(-Infinity);
    expect(halfBitsToFloat(0x7e00)).toBeNaN();
    expect(bfloat16BitsToFloat(0x3f80)).toBe(1);
    expect(bfloat16BitsToFloat(0xc049)).toBe(-3.140625);
    expect(bfloat16BitsToFloat(0x3dcd)).toBe(0.10009765625);
  });
  it('encodes with round-to-nearest-even', () => {
    expect(floatToHalfBits(1)).toBe(0x3c00);
    expect(floatToHalfBits(0.1)).toBe(0x2e66);
    expect(floatToHalfBits(65504)).toBe(0x7bff);
    expect(floatToHalfBits(65520)).toBe(0x7c00); // halfway to the next exponent rounds to infinity
    expect(floatToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie, even mantissa stays
    expect(floatToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, odd mantissa rounds up
    expect(floatToHalfBits(2 ** -24)).toBe(0x0001);
    expect(floatToHalfBits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(floatToHalfBits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(floatToHalfBits(3 * 2 ** -25)).toBe(0x0002); // 1.5 subnormal steps, tie to even
    expect(floatToHalfBits(-0)).toBe(0x8000);
    expect(floatToHalfBits(Number.NaN) & 0x7e00).toBe(0x7e00);
    expect(floatToBfloat16Bits(1)).toBe(0x3f80);
    expect(floatToBfloat16Bits(Math.PI)).toBe(0x4049);
    expect(floatToBfloat16Bits(0.1)).toBe(0x3dcd);
    expect(floatToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie, even stays
    expect(floatToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });
  it('round-trips all finite halves', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      if (floatToHalfBits(halfBitsToFloat(h)) !== h)
        throw new Error(`half 0x${h.toString(16)} does not round-trip`);
    }
  });
});

describe('torch fixture (scripts/gen-safetensors-fixture.py)', () => {
  const bytes = new Uint8Array(readFileSync(new URL('./fixtures/torch_small.safetensors', import.meta.url)));
  it('reads every tensor as torch wrote it', () => {
    const { tensors, metadata } = parseSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt', source: 'gen-safetensors-fixture.py' });
    const conv = tensors.get('conv.weight')!;
    expect(conv.shape).toEqual([2, 3, 2, 2]);
    // [o,i,h,w] = 1000o + 100i + 10h + w; flat index ((o·3 + i)·2 + h)·2 + w.
    expect(conv.data[((1 * 3 + 2) * 2 + 1) * 2 + 0]).toBe(1210);
    expect(tensors.get('bn.running_var')!.data).toEqual(Float32Array.from([0.5, 2]));
    const nbt = tensors.get('bn.num_batches_tracked')!;
    expect(nbt.shape).toEqual([]);
    expect(nbt.data).toEqual(Int32Array.from([1608260661])); // 12345678901 mod 2^31
    expect(tensors.get('half')!.data).toEqual(Float32Array.from([1, -2.5, 65504, 0.0999755859375, 2 ** -24]));
    expect(tensors.get('bf')!.data).toEqual(Float32Array.from([1, -3.140625, 0.10009765625]));
    expect(tensors.get('ids')!.data).toEqual(Int32Array.from([-3, 7, 0, 2147483647]));
    expect(tensors.get('mask')!.data).toEqual(Uint8Array.from([1, 0, 1]));
    expect(tensors.get('bytes')!.data).toEqual(Uint8Array.from([0, 255, 7]));
    expect(tensors.get('signed')!.data).toEqual(Int8Array.from([-128, 127, -1]));
    expect(tensors.get('empty')!.shape).toEqual([0, 3]);
  });
  it('our encoder writes the same tensor bytes as torch', () => {
    const { tensors, metadata } = parseSafetensors(bytes);
    const again = parseSafetensors(
      serializeSafetensors(
        new Map([...tensors].map(([k, t]) => [k, { ...t, data: Array.from(t.data) }])),
        metadata,
      ),
    );
    for (const [k, t] of tensors) expect(again.tensors.get(k)).toEqual(t);
    // Same F16/BF16 bit patterns as torch: re-encode the floats and compare with the raw file bytes.
    const raw = (name: string) => {
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const info = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))[name];
      const [b, e] = info.data_offsets as [number, number];
      return [...bytes.subarray(8 + n + b, 8 + n + e)];
    };
    const half = serializeSafetensors({
      h: { dtype: 'F16', shape: [5], data: [1, -2.5, 65504, 0.1, 2 ** -24] },
    });
    expect([...half.subarray(half.length - 10)]).toEqual(raw('half'));
    const bf = serializeSafetensors({ h: { dtype: 'BF16', shape: [3], data: [1, -3.140625, 0.1] } });
    expect([...bf.subarray(bf.length - 6)]).toEqual(raw('bf'));
  });
});

describe.each(TEST_BACKENDS)('tf tensors on %s', (backend) => {
  it('converts to float32/int32 tensors and writes a tensor map back', async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const src = {
      w: tf.tensor([1.5, -2, 3, 4], [2, 2]),
      n: tf.tensor([7, -8], [2], 'int32'),
      b: tf.tensor([true, false], [2], 'bool'),
    };
    const bytes = await serializeTensors(src);
    const { tensors } = loadSafetensors(bytes);
    expect(tensors['w']!.dtype).toBe('float32');
    expect(tensors['n']!.dtype).toBe('int32');
    expect(tensors['b']!.dtype).toBe('int32');
    expectClose(tensors['w']!, src.w);
    expect([...tensors['n']!.dataSync()]).toEqual([7, -8]);
    expect([...tensors['b']!.dataSync()]).toEqual([1, 0]);
    const parsed = parseSafetensors(
      serializeSafetensors({
        s: { dtype: 'I8', shape: [2], data: [-5, 6] },
        u: { dtype: 'U8', shape: [1], data: [9] },
      }),
    );
    const t2 = safetensorsToTensors(parsed);
    expect(t2['s']!.dtype).toBe('int32');
    expect([...t2['s']!.dataSync()]).toEqual([-5, 6]);
    tf.dispose([src, tensors, t2]);
    expect(tf.memory().numTensors).toBe(before);
    const c = tf.tensor(['x']);
    await expect(serializeTensors({ c })).rejects.toThrow(/tensor 'c' has dtype string/);
    c.dispose();
  });
});
