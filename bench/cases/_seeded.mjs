// Seeded uniform numbers for the bench inputs (the same LCG as @wsss/crf's tests), so that every implementation a
// case is paired with gets the same bytes.

/** `n` uniform values in [0, 1) from a 32-bit LCG seeded with `seed`. */
export function seeded(n, seed) {
  let s = seed >>> 0;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 4294967296;
  }
  return v;
}
