import { describe, expect, it } from 'vitest';
import { crc32, crc32Hex } from './crc32.js';

/** Bit-at-a-time CRC-32 straight from the definition (reflected polynomial 0xEDB88320). */
function slowCrc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32', () => {
  it('matches the published check values', () => {
    const enc = new TextEncoder();
    // the standard check value of CRC-32/ISO-HDLC ("123456789"), and zlib's crc32 of "The quick brown fox…"
    expect(crc32Hex(crc32(enc.encode('123456789')))).toBe('cbf43926');
    expect(crc32Hex(crc32(enc.encode('The quick brown fox jumps over the lazy dog')))).toBe('414fa339');
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('equals the bit-wise definition at every length and alignment, and continues across pieces', () => {
    const buf = new Uint8Array(300);
    for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24;
    for (const off of [0, 1, 2, 3, 5]) {
      for (const n of [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200]) {
        const b = buf.subarray(off, off + n);
        expect(crc32(b)).toBe(slowCrc(b));
      }
    }
    const whole = buf.subarray(3, 250);
    expect(crc32(buf.subarray(120, 250), crc32(buf.subarray(3, 120)))).toBe(crc32(whole));
  });

  it('changes when any single bit flips', () => {
    const b = new Uint8Array(64).map((_, i) => i);
    const ref = crc32(b);
    for (let i = 0; i < b.length * 8; i += 7) {
      const c = b.slice();
      c[i >> 3]! ^= 1 << (i & 7);
      expect(crc32(c)).not.toBe(ref);
    }
  });
});
