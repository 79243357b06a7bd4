/**
 * The permutohedral lattice (Adams, Baek & Davis 2010) for fast high-dimensional Gaussian filtering, as used by
 * Krähenbühl & Koltun (2011) for mean-field inference in dense CRFs.
 *
 * Each d-dimensional feature vector (already divided by the kernel's standard deviations) is lifted onto the
 * hyperplane Σ = 0 of R^{d+1}, which the lattice A*_d tiles with simplices; a point is "splatted" onto the d+1
 * vertices of its enclosing simplex with its barycentric weights, the lattice values are blurred with a [½ 1 ½]
 * kernel along each of the d+1 lattice directions, and the result is "sliced" back at the points with the same
 * weights. The composite approximates convolution with exp(−|f_i − f_j|²/2) up to a constant factor (which the
 * CRF's normalisation cancels). Cost is linear in the number of points and lattice vertices.
 *
 * The lattice is built once per kernel (positions and weights of every point); `filter` then runs for any number
 * of channels at once, the channel loop innermost over contiguous memory (pixel-major, channel fastest).
 */
export class PermutohedralLattice {
  /** Feature dimension d. */
  readonly d: number;
  /** Number of points (pixels). */
  readonly nPoints: number;
  /** Number of lattice vertices touched by the points. */
  readonly nVertices: number;
  /** Vertex index of each point's d+1 simplex corners (point-major). */
  readonly vertexOf: Int32Array;
  /** Barycentric weight of each point's d+1 simplex corners (point-major). */
  readonly weightOf: Float32Array;
  /**
   * For direction j and vertex v: the two neighbours along j at `2·(j·nVertices + v)` and `+1`; a missing neighbour
   * is the always-zero vertex `nVertices`.
   */
  readonly neighbours: Int32Array;

  /**
   * @param features point-major feature vectors, `nPoints·d` values, each already divided by its kernel width.
   * @param nPoints number of points.
   * @param d feature dimension (≥ 1).
   */
  constructor(features: Float32Array, nPoints: number, d: number) {
    this.d = d;
    this.nPoints = nPoints;
    const d1 = d + 1;
    // Scale so that the [½ 1 ½] blur along the d+1 directions approximates a unit-variance Gaussian
    // (Adams et al. 2010, §3.1): each elevated coordinate is divided by √((k+1)(k+2)), times √(2/3)·(d+1).
    const scale = new Float64Array(d);
    const invStd = Math.sqrt(2 / 3) * d1;
    for (let k = 0; k < d; k++) scale[k] = invStd / Math.sqrt((k + 1) * (k + 2));

    // Start small (typical images touch ~0.1–0.2 vertices per pixel) so that the table stays in cache; it grows.
    const hash = new VertexHash(d, Math.max(64, nPoints >> 3));
    const vertexOf = new Int32Array(nPoints * d1);
    const weightOf = new Float32Array(nPoints * d1);
    embed(features, nPoints, d, scale, hash, vertexOf, weightOf);

    const nVertices = hash.size;
    this.nVertices = nVertices;
    this.vertexOf = vertexOf;
    this.weightOf = weightOf;

    // Neighbours along each lattice direction j: ±(the vector with d at j and −1 elsewhere), in stored coordinates.
    const neighbours = new Int32Array(2 * d1 * nVertices);
    const keys = hash.keys;
    const n1 = new Int32Array(d);
    const n2 = new Int32Array(d);
    for (let j = 0; j <= d; j++) {
      const base = 2 * j * nVertices;
      for (let v = 0; v < nVertices; v++) {
        const kv = v * d;
        for (let k = 0; k < d; k++) {
          n1[k] = keys[kv + k]! - 1;
          n2[k] = keys[kv + k]! + 1;
        }
        if (j < d) {
          n1[j] = keys[kv + j]! + d;
          n2[j] = keys[kv + j]! - d;
        }
        const a = hash.find(n1);
        const b = hash.find(n2);
        neighbours[base + 2 * v] = a < 0 ? nVertices : a;
        neighbours[base + 2 * v + 1] = b < 0 ? nVertices : b;
      }
    }
    this.neighbours = neighbours;
  }

  /**
   * Gaussian filtering of `nChannels` values per point: `output[i] (+)= Σ_j k(i,j)·input[j]`, with k the lattice's
   * approximation of exp(−|f_i − f_j|²/2) up to a constant factor.
   *
   * @param input point-major values, `nPoints·nChannels`.
   * @param output receives point-major results, `nPoints·nChannels`.
   * @param nChannels values per point.
   * @param scratch optional buffers of at least `(nVertices+1)·nChannels` floats each, reused across calls.
   * @param inScale optional per-point factor applied to the input while splatting.
   * @param outScale optional per-point factor applied to the result; with `accumulate` the result is added.
   */
  filter(
    input: Float32Array,
    output: Float32Array,
    nChannels: number,
    options: {
      scratch?: [Float32Array, Float32Array];
      inScale?: Float32Array;
      outScale?: Float32Array;
      accumulate?: boolean;
    } = {},
  ): void {
    const { d, nPoints, nVertices, vertexOf, weightOf, neighbours } = this;
    const d1 = d + 1;
    const C = nChannels;
    const size = (nVertices + 1) * C;
    let [a, b] = options.scratch ?? [new Float32Array(size), new Float32Array(size)];
    if (a.length < size || b.length < size) throw new RangeError(`scratch buffers must hold ${size} floats`);
    a.fill(0, 0, size);
    // The zero vertex (index nVertices) of the second buffer must read 0 too.
    b.fill(0, nVertices * C, size);

    // Splat (specialised for the 2-D Gaussian and 5-D bilateral kernels: each input value is read once).
    const inScale = options.inScale;
    if (d1 === 3) splat3(nPoints, C, vertexOf, weightOf, input, inScale, a);
    else if (d1 === 6) splat6(nPoints, C, vertexOf, weightOf, input, inScale, a);
    else {
      for (let i = 0; i < nPoints; i++) {
        const s = inScale ? inScale[i]! : 1;
        const ip = i * C;
        const o = i * d1;
        for (let r = 0; r < d1; r++) {
          const w = weightOf[o + r]! * s;
          const vp = vertexOf[o + r]! * C;
          for (let c = 0; c < C; c++) a[vp + c]! += w * input[ip + c]!;
        }
      }
    }

    // Blur along each lattice direction with [½ 1 ½].
    for (let j = 0; j < d1; j++) {
      const base = 2 * j * nVertices;
      for (let v = 0; v < nVertices; v++) {
        const p = v * C;
        const p1 = neighbours[base + 2 * v]! * C;
        const p2 = neighbours[base + 2 * v + 1]! * C;
        for (let c = 0; c < C; c++) b[p + c] = a[p + c]! + 0.5 * (a[p1 + c]! + a[p2 + c]!);
      }
      const t = a;
      a = b;
      b = t;
    }

    // Slice (specialised like the splat: each output value is written once).
    const outScale = options.outScale;
    const accumulate = options.accumulate === true;
    if (d1 === 3) slice3(nPoints, C, vertexOf, weightOf, a, outScale, accumulate, output);
    else if (d1 === 6) slice6(nPoints, C, vertexOf, weightOf, a, outScale, accumulate, output);
    else {
      for (let i = 0; i < nPoints; i++) {
        const s = outScale ? outScale[i]! : 1;
        const op = i * C;
        const o = i * d1;
        if (!accumulate) for (let c = 0; c < C; c++) output[op + c] = 0;
        for (let r = 0; r < d1; r++) {
          const w = weightOf[o + r]! * s;
          const vp = vertexOf[o + r]! * C;
          for (let c = 0; c < C; c++) output[op + c]! += w * a[vp + c]!;
        }
      }
    }
  }
}

/**
 * Finds each point's enclosing simplex on the lattice (Adams et al. 2010, §3.1): its d+1 vertices (indices from
 * `hash`) and barycentric weights.
 */
function embed(
  features: Float32Array,
  nPoints: number,
  d: number,
  scale: Float64Array,
  hash: VertexHash,
  vertexOf: Int32Array,
  weightOf: Float32Array,
): void {
  const d1 = d + 1;
  const elevated = new Float64Array(d1);
  const rem0 = new Float64Array(d1);
  const rank = new Int32Array(d1);
  const bary = new Float64Array(d + 2);
  const key = new Int32Array(d);
  const prevRem0 = new Float64Array(d1);
  const prevRank = new Int32Array(d1);

  for (let i = 0; i < nPoints; i++) {
    const f = i * d;
    // Lift onto the hyperplane Σx = 0 (the basis E of Adams et al.).
    let sm = 0;
    for (let j = d; j > 0; j--) {
      const cf = features[f + j - 1]! * scale[j - 1]!;
      elevated[j] = sm - j * cf;
      sm += cf;
    }
    elevated[0] = sm;

    // Nearest point of the scaled lattice (d+1)·Z^{d+1} (the "remainder-0" point), and the coordinate sum.
    let sum = 0;
    for (let j = 0; j <= d; j++) {
      const v = elevated[j]! / d1;
      const up = Math.ceil(v) * d1;
      const down = Math.floor(v) * d1;
      rem0[j] = up - elevated[j]! < elevated[j]! - down ? up : down;
      sum += rem0[j]!;
    }
    sum /= d1;

    // Rank the differences to find the enclosing simplex.
    for (let j = 0; j <= d; j++) rank[j] = 0;
    for (let a = 0; a < d; a++) {
      const da = elevated[a]! - rem0[a]!;
      for (let b = a + 1; b <= d; b++) {
        if (da < elevated[b]! - rem0[b]!) rank[a] = rank[a]! + 1;
        else rank[b] = rank[b]! + 1;
      }
    }
    // Bring the remainder-0 point back onto the hyperplane (coordinate sum 0).
    if (sum > 0) {
      for (let j = 0; j <= d; j++) {
        if (rank[j]! >= d1 - sum) {
          rank[j] = rank[j]! - (d1 - sum);
          rem0[j] = rem0[j]! - d1;
        } else rank[j] = rank[j]! + sum;
      }
    } else if (sum < 0) {
      for (let j = 0; j <= d; j++) {
        if (rank[j]! < -sum) {
          rank[j] = rank[j]! + d1 + sum;
          rem0[j] = rem0[j]! + d1;
        } else rank[j] = rank[j]! + sum;
      }
    }

    // Barycentric coordinates of the point in its simplex.
    for (let j = 0; j <= d1; j++) bary[j] = 0;
    for (let j = 0; j <= d; j++) {
      const v = (elevated[j]! - rem0[j]!) / d1;
      bary[d - rank[j]!] = bary[d - rank[j]!]! + v;
      bary[d1 - rank[j]!] = bary[d1 - rank[j]!]! - v;
    }
    bary[0] = bary[0]! + 1 + bary[d1]!;

    // The d+1 vertices: remainder-0 point plus the canonical simplex's r-th vertex, permuted by rank. Neighbouring
    // pixels usually fall in the same simplex as the previous one: then its vertices are reused without hashing.
    const o = i * d1;
    let same = i > 0;
    for (let j = 0; j <= d && same; j++) same = rem0[j] === prevRem0[j] && rank[j] === prevRank[j];
    if (same) {
      for (let r = 0; r <= d; r++) vertexOf[o + r] = vertexOf[o - d1 + r]!;
    } else {
      for (let r = 0; r <= d; r++) {
        for (let k = 0; k < d; k++) key[k] = rem0[k]! + (rank[k]! <= d - r ? r : r - d1);
        vertexOf[o + r] = hash.findOrInsert(key);
      }
      for (let j = 0; j <= d; j++) {
        prevRem0[j] = rem0[j]!;
        prevRank[j] = rank[j]!;
      }
    }
    for (let r = 0; r <= d; r++) weightOf[o + r] = bary[r]!;
  }
}

function splat3(
  n: number,
  C: number,
  vertexOf: Int32Array,
  weightOf: Float32Array,
  input: Float32Array,
  scale: Float32Array | undefined,
  out: Float32Array,
): void {
  for (let i = 0, o = 0, ip = 0; i < n; i++, o += 3, ip += C) {
    const s = scale ? scale[i]! : 1;
    const w0 = weightOf[o]! * s;
    const w1 = weightOf[o + 1]! * s;
    const w2 = weightOf[o + 2]! * s;
    const v0 = vertexOf[o]! * C;
    const v1 = vertexOf[o + 1]! * C;
    const v2 = vertexOf[o + 2]! * C;
    for (let c = 0; c < C; c++) {
      const x = input[ip + c]!;
      out[v0 + c]! += w0 * x;
      out[v1 + c]! += w1 * x;
      out[v2 + c]! += w2 * x;
    }
  }
}

function splat6(
  n: number,
  C: number,
  vertexOf: Int32Array,
  weightOf: Float32Array,
  input: Float32Array,
  scale: Float32Array | undefined,
  out: Float32Array,
): void {
  for (let i = 0, o = 0, ip = 0; i < n; i++, o += 6, ip += C) {
    const s = scale ? scale[i]! : 1;
    const w0 = weightOf[o]! * s;
    const w1 = weightOf[o + 1]! * s;
    const w2 = weightOf[o + 2]! * s;
    const w3 = weightOf[o + 3]! * s;
    const w4 = weightOf[o + 4]! * s;
    const w5 = weightOf[o + 5]! * s;
    const v0 = vertexOf[o]! * C;
    const v1 = vertexOf[o + 1]! * C;
    const v2 = vertexOf[o + 2]! * C;
    const v3 = vertexOf[o + 3]! * C;
    const v4 = vertexOf[o + 4]! * C;
    const v5 = vertexOf[o + 5]! * C;
    for (let c = 0; c < C; c++) {
      const x = input[ip + c]!;
      out[v0 + c]! += w0 * x;
      out[v1 + c]! += w1 * x;
      out[v2 + c]! += w2 * x;
      out[v3 + c]! += w3 * x;
      out[v4 + c]! += w4 * x;
      out[v5 + c]! += w5 * x;
    }
  }
}

function slice3(
  n: number,
  C: number,
  vertexOf: Int32Array,
  weightOf: Float32Array,
  values: Float32Array,
  scale: Float32Array | undefined,
  accumulate: boolean,
  out: Float32Array,
): void {
  for (let i = 0, o = 0, op = 0; i < n; i++, o += 3, op += C) {
    const s = scale ? scale[i]! : 1;
    const w0 = weightOf[o]! * s;
    const w1 = weightOf[o + 1]! * s;
    const w2 = weightOf[o + 2]! * s;
    const v0 = vertexOf[o]! * C;
    const v1 = vertexOf[o + 1]! * C;
    const v2 = vertexOf[o + 2]! * C;
    for (let c = 0; c < C; c++) {
      const y = w0 * values[v0 + c]! + w1 * values[v1 + c]! + w2 * values[v2 + c]!;
      out[op + c] = accumulate ? out[op + c]! + y : y;
    }
  }
}

function slice6(
  n: number,
  C: number,
  vertexOf: Int32Array,
  weightOf: Float32Array,
  values: Float32Array,
  scale: Float32Array | undefined,
  accumulate: boolean,
  out: Float32Array,
): void {
  for (let i = 0, o = 0, op = 0; i < n; i++, o += 6, op += C) {
    const s = scale ? scale[i]! : 1;
    const w0 = weightOf[o]! * s;
    const w1 = weightOf[o + 1]! * s;
    const w2 = weightOf[o + 2]! * s;
    const w3 = weightOf[o + 3]! * s;
    const w4 = weightOf[o + 4]! * s;
    const w5 = weightOf[o + 5]! * s;
    const v0 = vertexOf[o]! * C;
    const v1 = vertexOf[o + 1]! * C;
    const v2 = vertexOf[o + 2]! * C;
    const v3 = vertexOf[o + 3]! * C;
    const v4 = vertexOf[o + 4]! * C;
    const v5 = vertexOf[o + 5]! * C;
    for (let c = 0; c < C; c++) {
      const y =
        w0 * values[v0 + c]! +
        w1 * values[v1 + c]! +
        w2 * values[v2 + c]! +
        w3 * values[v3 + c]! +
        w4 * values[v4 + c]! +
        w5 * values[v5 + c]!;
      out[op + c] = accumulate ? out[op + c]! + y : y;
    }
  }
}

/** Open-addressing hash table from integer lattice keys (d coordinates) to dense vertex indices. */
class VertexHash {
  private readonly d: number;
  private table: Int32Array;
  private mask: number;
  /** Keys of the vertices, vertex-major (`size·d` used). */
  keys: Int32Array;
  size = 0;

  constructor(d: number, expected: number) {
    this.d = d;
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.table = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.keys = new Int32Array(Math.max(16, expected) * d);
  }

  private hashOf(key: Int32Array): number {
    let h = 0;
    for (let k = 0; k < this.d; k++) h = Math.imul(h + key[k]!, 2531011) ^ (h >>> 15);
    return h;
  }

  /** Index of `key`, or −1. */
  find(key: Int32Array): number {
    const { d, table, mask, keys } = this;
    let h = this.hashOf(key) & mask;
    for (;;) {
      const v = table[h]!;
      if (v < 0) return -1;
      let same = true;
      const kv = v * d;
      for (let k = 0; k < d; k++) {
        if (keys[kv + k] !== key[k]) {
          same = false;
          break;
        }
      }
      if (same) return v;
      h = (h + 1) & mask;
    }
  }

  /** Index of `key`, inserting it if new. */
  findOrInsert(key: Int32Array): number {
    const d = this.d;
    let h = this.hashOf(key) & this.mask;
    for (;;) {
      const v = this.table[h]!;
      if (v < 0) break;
      let same = true;
      const kv = v * d;
      for (let k = 0; k < d; k++) {
        if (this.keys[kv + k] !== key[k]) {
          same = false;
          break;
        }
      }
      if (same) return v;
      h = (h + 1) & this.mask;
    }
    const index = this.size++;
    if (this.size * d > this.keys.length) {
      const grown = new Int32Array(this.keys.length * 2);
      grown.set(this.keys);
      this.keys = grown;
    }
    this.keys.set(key, index * d);
    this.table[h] = index;
    if (this.size * 2 > this.table.length) this.rehash();
    return index;
  }

  private rehash(): void {
    const d = this.d;
    const cap = this.table.length * 2;
    const table = new Int32Array(cap).fill(-1);
    const mask = cap - 1;
    const key = new Int32Array(d);
    for (let v = 0; v < this.size; v++) {
      for (let k = 0; k < d; k++) key[k] = this.keys[v * d + k]!;
      let h = this.hashOf(key) & mask;
      while (table[h]! >= 0) h = (h + 1) & mask;
      table[h] = v;
    }
    this.table = table;
    this.mask = mask;
  }
}
