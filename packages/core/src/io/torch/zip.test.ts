import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inflateRaw } from './inflate.js';
import { buildZip } from './testUtils.js';
import { crc32, readZip } from './zip.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
/** Byte equality (vitest's deep equality is slow on large typed arrays). */
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Deterministic pseudo-random bytes with some repetition, so deflate uses both literals and matches. */
function sample(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = i > 64 && s % 3 === 0 ? out[i - 1 - (s % 60)]! : (s >>> 16) & 0xff;
  }
  return out;
}

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32(enc('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('inflateRaw', () => {
  it.each([0, 1, 6, 9])('round-trips zlib level %i (stored, fixed and dynamic blocks)', (level) => {
    for (const data of [new Uint8Array(0), enc('a'), enc('hello hello hello hello'), sample(70_000)]) {
      const z = new Uint8Array(deflateRawSync(data, { level }));
      expect(same(inflateRaw(z, data.length), data)).toBe(true);
      expect(same(inflateRaw(z), data)).toBe(true);
    }
  });

  it('reports truncated and invalid streams', () => {
    const z = new Uint8Array(deflateRawSync(sample(5000), { level: 6 }));
    expect(() => inflateRaw(z.subarray(0, z.length - 20), 5000)).toThrow(/truncated/);
    expect(() => inflateRaw(Uint8Array.of(0x07))).toThrow(/invalid block type 3/);
    expect(() => inflateRaw(z, 4000)).toThrow(/exceeds the expected 4000 bytes/);
  });
});

describe('readZip', () => {
  const entries = [
    { name: 'a/data.pkl', data: enc('pickle') },
    { name: 'a/data/0', data: sample(300) },
    { name: 'a/empty', data: new Uint8Array(0) },
  ];

  it('reads stored entries as views, with a comment after the end record', () => {
    const bytes = buildZip(entries, { comment: 'hi' });
    const zip = readZip(bytes);
    expect([...zip.entries.keys()]).toEqual(['a/data.pkl', 'a/data/0', 'a/empty']);
    expect(zip.zip64).toBe(false);
    const d = zip.read('a/data/0');
    expect(d).toEqual(entries[1]!.data);
    expect(d.buffer).toBe(bytes.buffer); // a view, not a copy
    expect(zip.read('a/empty').length).toBe(0);
  });

  it('parses ZIP64 end records and ZIP64 extra fields', () => {
    const zip = readZip(buildZip(entries, { zip64: true }));
    expect(zip.zip64).toBe(true);
    expect(zip.entries.get('a/data/0')!.size).toBe(300);
    expect(dec(zip.read('a/data.pkl'))).toBe('pickle');
    expect(zip.read('a/data/0')).toEqual(entries[1]!.data);
  });

  it('reads more than 65535 entries through the ZIP64 end record', () => {
    const many = Array.from({ length: 65_540 }, (_, i) => ({ name: `e${i}`, data: new Uint8Array(0) }));
    many[65_539] = { name: 'e65539', data: enc('last') };
    const zip = readZip(buildZip(many));
    expect(zip.entries.size).toBe(65_540);
    expect(dec(zip.read('e65539'))).toBe('last');
  });

  it('inflates deflated entries', () => {
    const data = sample(10_000);
    const zip = readZip(buildZip([{ name: 'x', data, deflated: new Uint8Array(deflateRawSync(data)) }]));
    expect(zip.entries.get('x')!.method).toBe(8);
    expect(same(zip.read('x'), data)).toBe(true);
  });

  it('names the problem in a truncated or corrupt archive', () => {
    const bytes = buildZip(entries);
    expect(() => readZip(bytes.subarray(0, bytes.length - 30), { source: 'f.pth' })).toThrow(
      /^f\.pth: no end-of-central-directory record: the ZIP archive is truncated/,
    );
    expect(() => readZip(enc('definitely not a zip file at all'))).toThrow(/not a ZIP archive/);

    const corrupt = bytes.slice();
    const at = readZip(bytes).entries.get('a/data/0')!.dataOffset;
    corrupt[at + 10]! ^= 0xff;
    expect(() => readZip(corrupt).read('a/data/0')).toThrow(
      /entry 'a\/data\/0': CRC-32 is 0x[0-9a-f]{8}, the central/,
    );
    expect(readZip(corrupt, { verifyCrc: false }).read('a/data/0')[10]).toBe(entries[1]!.data[10]! ^ 0xff);

    const badLocal = bytes.slice();
    badLocal[readZip(bytes).entries.get('a/data/0')!.localHeaderOffset] = 0;
    expect(() => readZip(badLocal)).toThrow(/entry 'a\/data\/0': bad local header signature/);

    const method = bytes.slice();
    const cd = new DataView(method.buffer);
    const cdStart = cd.getUint32(method.length - 22 + 16, true);
    cd.setUint16(cdStart + 10, 12, true); // bzip2
    expect(() => readZip(method)).toThrow(/entry 'a\/data.pkl': compression method 12 is not supported/);
    cd.setUint16(cdStart + 10, 0, true);
    cd.setUint16(cdStart + 8, 1, true);
    expect(() => readZip(method)).toThrow(/encrypted entries are not supported/);

    expect(() => readZip(bytes).read('nope')).toThrow(/no entry 'nope'/);
    expect(() => readZip(buildZip([entries[0]!, entries[0]!]))).toThrow(/duplicate entry 'a\/data.pkl'/);
  });

  it('refuses a saturated end record without a ZIP64 locator, and sizes running past the data', () => {
    const z = buildZip(entries, { zip64: true });
    const cut = new Uint8Array(z.length - 76);
    cut.set(z.subarray(0, z.length - 98));
    cut.set(z.subarray(z.length - 22), z.length - 98);
    expect(() => readZip(cut)).toThrow(/no ZIP64 locator/);

    const bytes = buildZip(entries);
    const dv = new DataView(bytes.buffer);
    const cdStart = dv.getUint32(bytes.length - 22 + 16, true);
    dv.setUint32(cdStart + 20, 1_000_000, true);
    dv.setUint32(cdStart + 24, 1_000_000, true);
    expect(() => readZip(bytes)).toThrow(
      /entry 'a\/data.pkl': data \[\d+, \d+\) runs into the central directory/,
    );
  });
});
