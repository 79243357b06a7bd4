/**
 * IEEE half (binary16) and bfloat16 conversions to and from float32, on raw 16-bit patterns, for the weight-file
 * readers and writers. The binary16 pair is exported (`floatToHalfBits`, `halfBitsToFloat`), e.g. for float16
 * tfjs weight manifests.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Float value of a binary16 bit pattern (exact: every half is representable in float32). */
export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * binary16 bit pattern nearest to `value` (round to nearest, ties to even, as PyTorch's `.half()` does);
 * magnitudes past the largest half (65504) round to ±Infinity, NaN stays NaN.
 */
export function floatToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  // Unbiased exponent; half normals cover −14…15.
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal half: keep 10 mantissa bits, round the dropped 13 bits to nearest even.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h += 1; // a carry into the exponent is still correct
    return sign | h;
  }
  if (e < -25) return sign; // below half the smallest subnormal: ±0
  // Subnormal half: value = m · 2^-24 with m < 1024; shift the full 24-bit significand.
  const full = mant | 0x800000;
  const shift = -e - 14 + 13; // 14..24
  let h = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && h & 1)) h += 1;
  return sign | h;
}

/** Float value of a bfloat16 bit pattern (the upper 16 bits of a float32). */
export function bfloat16BitsToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** bfloat16 bit pattern nearest to `value` (round to nearest, ties to even); NaN becomes a quiet NaN. */
export function floatToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
