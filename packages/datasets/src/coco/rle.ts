// COCO run-length encoding (the format of pycocotools' maskApi, re-implemented from its description):
// runs alternate 0s and 1s starting with 0s, over the mask in column-major (Fortran) order. The compressed
// string form stores each run as a variable-length signed number in 5-bit groups (6 bits per character, offset
// 48, bit 0x20 = "more", bit 0x10 of the last group = sign); runs after the second are stored as the difference
// to the run two places earlier.

/** Decodes a compressed COCO RLE string into run counts. Throws a plain Error on malformed input. */
export function decodeRleString(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new Error('RLE string ends inside a number');
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`RLE string has an invalid character at ${p}`);
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2]!;
    counts.push(x);
  }
  return counts;
}

/** Encodes run counts as a compressed COCO RLE string (inverse of {@link decodeRleString}). */
export function encodeRleString(counts: readonly number[]): string {
  let out = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]!;
    if (i > 2) x -= counts[i - 2]!;
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  }
  return out;
}

/**
 * Expands run counts into a row-major 0/1 mask of `height`×`width`. Throws when the runs do not cover the
 * mask exactly.
 */
export function rleToMask(counts: readonly number[], height: number, width: number): Uint8Array {
  const n = height * width;
  const out = new Uint8Array(n);
  let pos = 0;
  let val = 0;
  for (const c of counts) {
    if (!Number.isInteger(c) || c < 0) throw new Error(`RLE run ${c} is not a non-negative integer`);
    if (pos + c > n) throw new Error(`RLE runs cover more than ${height}x${width} pixels`);
    if (val) {
      for (let i = pos; i < pos + c; i++) {
        // column-major index i → row-major
        const col = Math.floor(i / height);
        const row = i - col * height;
        out[row * width + col] = 1;
      }
    }
    pos += c;
    val ^= 1;
  }
  if (pos !== n) throw new Error(`RLE runs cover ${pos} of ${n} pixels`);
  return out;
}
