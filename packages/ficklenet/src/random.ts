/**
 * The random draws of FickleNet's selection (spec §5.2), on typed arrays.
 *
 * A selection needs s²·N·h·w·C Bernoulli draws (one per unit of the expanded map): 5.3 M for s = 9 on a
 * 16×16×256 map. tfjs's seeded `randomUniform` (seedrandom's alea, through a buffer) costs tens of ns per value;
 * a 32-bit xorshift-multiply generator writes the keep-mask directly, and the same seed reproduces it exactly —
 * which is how the backward pass regenerates masks instead of holding them (see `selection.ts`).
 */
import { nextSeed } from '@wsss/core';

/** A fresh 31-bit seed: the next of `seedRandom`'s stream (reproducible runs), or from Math.random. */
export function drawSeed(): number {
  return nextSeed() ?? Math.floor(Math.random() * 0x7fffffff);
}

/** Mixes a base seed and an index into an unrelated 32-bit state (splitmix32 finaliser). */
export function mixSeed(seed: number, index: number): number {
  let z = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0 || 0x6d2b79f5;
}

/** A stream of uniform 32-bit integers (mulberry32), seeded. */
export class Uint32Stream {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    return this.next() / 4294967296;
  }
}

/**
 * The kept positions of `n` Bernoulli keep-draws with P(keep) = `keep`, ascending. For keep ≤ ½ the gaps between
 * kept positions are drawn directly (geometric: ⌊log U / log(1 − keep)⌋ dropped units before each kept one), so
 * the cost is O(n·keep) — 10× fewer draws than one per unit at FickleNet's p = 0.9. The same (n, keep, seed)
 * always gives the same positions.
 */
export function keptIndices(n: number, keep: number, seed: number): Int32Array {
  if (keep >= 1) return Int32Array.from({ length: n }, (_, i) => i);
  if (keep <= 0 || n <= 0) return new Int32Array(0);
  const rng = new Uint32Stream(seed);
  if (keep > 0.5) {
    const threshold = Math.floor(keep * 4294967296);
    const out = new Int32Array(n);
    let m = 0;
    for (let i = 0; i < n; i++) if (rng.next() < threshold) out[m++] = i;
    return out.slice(0, m);
  }
  const logDrop = Math.log1p(-keep);
  let out = new Int32Array(Math.max(16, Math.ceil(n * keep * 1.2) + 64));
  let m = 0;
  let i = -1;
  for (;;) {
    // U in (0, 1]: 1 − uniform()
    i += 1 + Math.floor(Math.log(1 - rng.uniform()) / logDrop);
    if (i >= n) break;
    if (m === out.length) {
      const grown = new Int32Array(out.length * 2);
      grown.set(out);
      out = grown;
    }
    out[m++] = i;
  }
  return out.slice(0, m);
}

const GUIDE = 1024;

/**
 * Binomial(n, q) draws by inversion of a precomputed CDF (indexed search), exact up to float rounding. One table per
 * distinct n, built on first use; suited to many draws with few distinct (n, q), as FickleNet's per-offset sums.
 */
export class BinomialSampler {
  private readonly tables = new Map<number, Float64Array>();
  /** Per n, guide[j] = the smallest k with CDF(k) > j/GUIDE: the search starts there (indexed search). */
  private readonly guides = new Map<number, Int32Array>();
  constructor(private readonly q: number) {
    if (!(q >= 0 && q <= 1)) throw new Error(`BinomialSampler: q must be in [0, 1], got ${q}`);
  }

  private table(n: number): Float64Array {
    let t = this.tables.get(n);
    if (t) return t;
    const q = this.q;
    // log-space pmf, then the cumulative sum (stable for any n)
    const logp = new Float64Array(n + 1);
    const lq = Math.log(q);
    const l1q = Math.log1p(-q);
    let lc = 0; // log C(n, k)
    let max = -Infinity;
    for (let k = 0; k <= n; k++) {
      if (k > 0) lc += Math.log((n - k + 1) / k);
      logp[k] = lc + (k === 0 ? 0 : k * lq) + (k === n ? 0 : (n - k) * l1q);
      if (logp[k]! > max) max = logp[k]!;
    }
    t = new Float64Array(n + 1);
    let acc = 0;
    for (let k = 0; k <= n; k++) {
      acc += Math.exp(logp[k]! - max);
      t[k] = acc;
    }
    for (let k = 0; k <= n; k++) t[k] = t[k]! / acc;
    this.tables.set(n, t);
    const guide = new Int32Array(GUIDE);
    let k = 0;
    for (let j = 0; j < GUIDE; j++) {
      while (k < n && t[k]! <= j / GUIDE) k++;
      guide[j] = k;
    }
    this.guides.set(n, guide);
    return t;
  }

  draw(n: number, rng: Uint32Stream): number {
    if (n <= 0 || this.q <= 0) return 0;
    if (this.q >= 1) return n;
    const t = this.table(n);
    const u = rng.uniform();
    // CDF(guide[j] − 1) ≤ j/GUIDE ≤ u, so the answer (smallest k with CDF(k) > u) is at or after guide[j]
    let k = this.guides.get(n)![Math.floor(u * GUIDE)]!;
    while (k < n && t[k]! <= u) k++;
    return k;
  }
}
