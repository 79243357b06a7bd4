/**
 * Raw DEFLATE (RFC 1951) decompression in plain TypeScript, for ZIP entries stored with method 8. Synchronous and
 * dependency-free so it runs in browsers and Node alike. Internal to the `.pth` reader.
 */

/** Order in which code-length code lengths are sent in a dynamic block header. */
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
const LEN_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
  227, 258,
];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
  6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];

/**
 * A canonical Huffman code as a direct lookup table indexed by the next `bits` input bits (LSB first): each entry
 * is `symbol << 4 | codeLength`, or 0 where no code matches.
 */
interface HuffTable {
  table: Uint32Array;
  bits: number;
}

function buildTable(lengths: ArrayLike<number>, what: string): HuffTable {
  let maxLen = 0;
  const count = new Uint16Array(16);
  for (let i = 0; i < lengths.length; i++) {
    const l = lengths[i]!;
    count[l]!++;
    if (l > maxLen) maxLen = l;
  }
  count[0] = 0;
  // Over-subscribed codes are invalid; incomplete ones are allowed (RFC 1951 permits a single distance code).
  let left = 1;
  for (let len = 1; len <= 15; len++) {
    left = left * 2 - count[len]!;
    if (left < 0) throw new Error(`inflate: over-subscribed ${what} Huffman code`);
  }
  const bits = Math.max(maxLen, 1);
  const table = new Uint32Array(1 << bits);
  const next = new Uint16Array(16);
  let code = 0;
  for (let len = 1; len <= 15; len++) {
    code = (code + count[len - 1]!) << 1;
    next[len] = code;
  }
  for (let sym = 0; sym < lengths.length; sym++) {
    const len = lengths[sym]!;
    if (len === 0) continue;
    const c = next[len]!++;
    // Codes are sent MSB first but read LSB first: index the table by the bit-reversed code.
    let rev = 0;
    for (let i = 0; i < len; i++) rev |= ((c >> i) & 1) << (len - 1 - i);
    for (let i = rev; i < table.length; i += 1 << len) table[i] = (sym << 4) | len;
  }
  return { table, bits };
}

let fixedLit: HuffTable | undefined;
let fixedDist: HuffTable | undefined;

function fixedTables(): [HuffTable, HuffTable] {
  if (!fixedLit || !fixedDist) {
    const l = new Uint8Array(288);
    l.fill(8, 0, 144);
    l.fill(9, 144, 256);
    l.fill(7, 256, 280);
    l.fill(8, 280, 288);
    fixedLit = buildTable(l, 'fixed literal/length');
    fixedDist = buildTable(new Uint8Array(30).fill(5), 'fixed distance');
  }
  return [fixedLit, fixedDist];
}

/**
 * Inflates raw DEFLATE data. `expectedSize`, when given, sizes the output exactly and is enforced (the ZIP central
 * directory records it); otherwise the output grows as needed.
 * @throws Error naming the problem (truncated stream, invalid block type, bad code, distance too far back, size).
 */
export function inflateRaw(input: Uint8Array, expectedSize?: number): Uint8Array {
  let out = new Uint8Array(expectedSize ?? Math.max(1024, input.length * 4));
  let outPos = 0;
  let pos = 0;
  let bitBuf = 0;
  let bitCount = 0;
  const fixedSize = expectedSize !== undefined;

  const need = (n: number): void => {
    while (bitCount < n) {
      if (pos >= input.length) throw new Error('inflate: compressed data is truncated');
      bitBuf |= input[pos++]! << bitCount;
      bitCount += 8;
    }
  };
  const bits = (n: number): number => {
    if (n === 0) return 0;
    need(n);
    const v = bitBuf & ((1 << n) - 1);
    bitBuf >>>= n;
    bitCount -= n;
    return v;
  };
  const decode = (h: HuffTable): number => {
    // Load up to h.bits bits; near the end of the input fewer may remain, which is fine if the code is short.
    while (bitCount < h.bits && pos < input.length) {
      bitBuf |= input[pos++]! << bitCount;
      bitCount += 8;
    }
    const e = h.table[bitBuf & ((1 << h.bits) - 1)]!;
    const len = e & 15;
    if (len === 0 || len > bitCount) {
      throw new Error(len === 0 ? 'inflate: invalid Huffman code' : 'inflate: compressed data is truncated');
    }
    bitBuf >>>= len;
    bitCount -= len;
    return e >>> 4;
  };
  const ensure = (n: number): void => {
    if (outPos + n <= out.length) return;
    if (fixedSize) throw new Error(`inflate: output exceeds the expected ${expectedSize} bytes`);
    const grown = new Uint8Array(Math.max(out.length * 2, outPos + n));
    grown.set(out.subarray(0, outPos));
    out = grown;
  };

  let final = 0;
  while (!final) {
    final = bits(1);
    const type = bits(2);
    if (type === 0) {
      // Skip to the byte boundary: drop the partial byte, give back whole bytes read ahead by `decode`.
      pos -= bitCount >> 3;
      bitBuf = 0;
      bitCount = 0;
      if (pos + 4 > input.length) throw new Error('inflate: compressed data is truncated');
      const len = input[pos]! | (input[pos + 1]! << 8);
      const nlen = input[pos + 2]! | (input[pos + 3]! << 8);
      pos += 4;
      if ((len ^ 0xffff) !== nlen)
        throw new Error('inflate: stored block length does not match its complement');
      if (pos + len > input.length) throw new Error('inflate: compressed data is truncated');
      ensure(len);
      out.set(input.subarray(pos, pos + len), outPos);
      outPos += len;
      pos += len;
      continue;
    }
    let lit: HuffTable;
    let dist: HuffTable;
    if (type === 1) {
      [lit, dist] = fixedTables();
    } else if (type === 2) {
      const hlit = bits(5) + 257;
      const hdist = bits(5) + 1;
      const hclen = bits(4) + 4;
      const clen = new Uint8Array(19);
      for (let i = 0; i < hclen; i++) clen[CLEN_ORDER[i]!] = bits(3);
      const clTable = buildTable(clen, 'code length');
      const lengths = new Uint8Array(hlit + hdist);
      let i = 0;
      while (i < hlit + hdist) {
        const sym = decode(clTable);
        if (sym < 16) {
          lengths[i++] = sym;
          continue;
        }
        let repeat: number;
        let value = 0;
        if (sym === 16) {
          if (i === 0) throw new Error('inflate: repeat of a code length with no previous length');
          value = lengths[i - 1]!;
          repeat = 3 + bits(2);
        } else if (sym === 17) repeat = 3 + bits(3);
        else repeat = 11 + bits(7);
        if (i + repeat > hlit + hdist) throw new Error('inflate: code lengths overflow the declared counts');
        lengths.fill(value, i, i + repeat);
        i += repeat;
      }
      if (lengths[256] === 0) throw new Error('inflate: dynamic block has no end-of-block code');
      lit = buildTable(lengths.subarray(0, hlit), 'literal/length');
      dist = buildTable(lengths.subarray(hlit), 'distance');
    } else {
      throw new Error('inflate: invalid block type 3');
    }
    for (;;) {
      const sym = decode(lit);
      if (sym < 256) {
        ensure(1);
        out[outPos++] = sym;
      } else if (sym === 256) {
        break;
      } else {
        const li = sym - 257;
        if (li >= 29) throw new Error(`inflate: invalid length symbol ${sym}`);
        const len = LEN_BASE[li]! + bits(LEN_EXTRA[li]!);
        const di = decode(dist);
        if (di >= 30) throw new Error(`inflate: invalid distance symbol ${di}`);
        const d = DIST_BASE[di]! + bits(DIST_EXTRA[di]!);
        if (d > outPos) throw new Error(`inflate: distance ${d} reaches before the start of the output`);
        ensure(len);
        for (let k = 0; k < len; k++, outPos++) out[outPos] = out[outPos - d]!;
      }
    }
  }
  if (fixedSize && outPos !== expectedSize) {
    throw new Error(`inflate: produced ${outPos} bytes, expected ${expectedSize}`);
  }
  return fixedSize ? out : out.slice(0, outPos);
}
