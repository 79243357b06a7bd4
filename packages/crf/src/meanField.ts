import type { WasmKernels } from './latticeWasm.js';
import { wasmKernels } from './latticeWasm.js';
import type { PairwiseTerm } from './pairwise.js';
import { LatticeTerm } from './pairwise.js';

/** Which implementation filters: WebAssembly SIMD where available (`'auto'`), or the JS loops. @internal */
export type Engine = 'auto' | 'js';

/**
 * Mean-field inference for a dense CRF with Potts pairwise terms (Krähenbühl & Koltun 2011, Algorithm 1), on
 * pixel-major arrays of L channels (the active labels):
 *
 *   Q ← softmax(−U);  repeat: Q ← softmax(−U + Σ_m w_m K̃_m Q)
 *
 * @param unary energies U, pixel-major `nPixels·L`.
 * @returns marginals Q, pixel-major `nPixels·L`.
 * @internal
 */
export function meanField(
  unary: Float32Array,
  nPixels: number,
  L: number,
  terms: readonly PairwiseTerm[],
  iterations: number,
  engine: Engine = 'auto',
): Float32Array {
  if (
    engine === 'auto' &&
    iterations > 0 &&
    terms.length > 0 &&
    terms.every((t) => t instanceof LatticeTerm)
  ) {
    const k = wasmKernels();
    if (k) {
      const q = meanFieldWasm(k, unary, nPixels, L, terms as LatticeTerm[], iterations);
      if (q) return q;
    }
  }
  const n = nPixels * L;
  const negUnary = new Float32Array(n);
  for (let k = 0; k < n; k++) negUnary[k] = -unary[k]!;
  const q = new Float32Array(n);
  softmaxRows(negUnary, q, nPixels, L);
  // Without pairwise terms every iteration would return softmax(−U) again.
  if (iterations === 0 || terms.length === 0) return q;
  const logits = new Float32Array(n);
  for (let it = 0; it < iterations; it++) {
    logits.set(negUnary);
    for (const t of terms) t.apply(q, logits, L);
    softmaxRows(logits, q, nPixels, L);
  }
  return q;
}

/**
 * The same iteration in WebAssembly (lattice filtering and softmax): Q and the logits live in the kernels' memory,
 * pixel-major with rows padded to a multiple of 4 floats (padding is 0 in Q and ignored in the logits).
 * Returns null if the memory cannot hold the problem (then the JS path runs).
 */
function meanFieldWasm(
  k: WasmKernels,
  unary: Float32Array,
  nPixels: number,
  L: number,
  terms: readonly LatticeTerm[],
  iterations: number,
): Float32Array | null {
  const stride = (L + 3) & ~3;
  const chunks = stride >> 2;
  const N = nPixels;
  let top = 0;
  const take = (bytes: number): number => {
    const at = top;
    top += (bytes + 15) & ~15;
    return at;
  };
  const maskAt = take(16);
  const qAt = take(N * stride * 4);
  const logitsAt = take(N * stride * 4);
  const negUnaryAt = take(N * stride * 4);
  let maxV = 0;
  const layout = terms.map((t) => {
    const lat = t.lattice;
    const d1 = lat.d + 1;
    maxV = Math.max(maxV, lat.nVertices);
    return {
      t,
      d1,
      vtx: take(N * d1 * 4),
      wts: take(N * d1 * 4),
      inScale: take(N * 4),
      outScale: take(N * 4),
      nbr: take(2 * d1 * lat.nVertices * 4),
    };
  });
  const valsBytes = (maxV + 1) * stride * 4;
  const valsA = take(valsBytes);
  const valsB = take(valsBytes);
  if (!k.reserve(top)) return null;

  const buf = k.memory.buffer;
  const q = new Float32Array(buf, qAt, N * stride);
  const logits = new Float32Array(buf, logitsAt, N * stride);
  for (const x of layout) {
    const lat = x.t.lattice;
    new Int32Array(buf, x.vtx, N * x.d1).set(lat.vertexOf);
    new Float32Array(buf, x.wts, N * x.d1).set(lat.weightOf);
    new Float32Array(buf, x.inScale, N).set(x.t.norm);
    new Float32Array(buf, x.outScale, N).set(x.t.weightedNorm);
    new Int32Array(buf, x.nbr, 2 * x.d1 * lat.nVertices).set(lat.neighbours);
  }
  const a = new Float32Array(buf, valsA, valsBytes / 4);
  const b = new Float32Array(buf, valsB, valsBytes / 4);

  // Lane mask of the last 4-float chunk of a row: all ones for the lanes < L.
  const mask = new Int32Array(buf, maskAt, 4);
  for (let c = 0; c < 4; c++) mask[c] = stride - 4 + c < L ? -1 : 0;
  const negUnary = new Float32Array(buf, negUnaryAt, N * stride);
  negUnary.fill(0);
  for (let i = 0; i < N; i++) for (let l = 0; l < L; l++) negUnary[i * stride + l] = -unary[i * L + l]!;
  k.softmax(negUnaryAt, qAt, N, chunks, maskAt);
  for (let it = 0; it < iterations; it++) {
    logits.set(negUnary);
    for (const x of layout) {
      const V = x.t.lattice.nVertices;
      a.fill(0, 0, (V + 1) * stride);
      b.fill(0, V * stride, (V + 1) * stride);
      k.splat(x.vtx, x.wts, x.inScale, qAt, valsA, N, x.d1, chunks);
      let src = valsA;
      let dst = valsB;
      for (let j = 0; j < x.d1; j++) {
        k.blur(src, dst, x.nbr + 8 * j * V, V, chunks);
        const t = src;
        src = dst;
        dst = t;
      }
      k.slice(x.vtx, x.wts, x.outScale, src, logitsAt, N, x.d1, chunks);
    }
    k.softmax(logitsAt, qAt, N, chunks, maskAt);
  }
  const out = new Float32Array(N * L);
  for (let i = 0; i < N; i++) for (let l = 0; l < L; l++) out[i * L + l] = q[i * stride + l]!;
  return out;
}

/** 2^k for k = −127…0. */
const POW2 = Float64Array.from({ length: 128 }, (_, k) => 2 ** (k - 127));

/**
 * Row-wise softmax of the first L columns of a rows×stride matrix. The exponential of x − max ≤ 0 is 2^k·e^t with k = round(x·log2 e) and
 * |t| ≤ ln2/2, e^t by its degree-6 Taylor polynomial (relative error < 2e-7, below float32 rounding of the
 * stored result; ~2× faster than Math.exp in V8). Terms below 2^-126 are 0.
 * @internal
 */
export function softmaxRows(x: Float32Array, out: Float32Array, rows: number, L: number, stride = L): void {
  const LOG2E = Math.LOG2E;
  const LN2 = Math.LN2;
  for (let i = 0, o = 0; i < rows; i++, o += stride) {
    let m = x[o]!;
    for (let l = 1; l < L; l++) if (x[o + l]! > m) m = x[o + l]!;
    let s = 0;
    for (let l = 0; l < L; l++) {
      const z = (x[o + l]! - m) * LOG2E;
      let e = 0;
      if (z >= -126) {
        const k = Math.floor(z + 0.5);
        const t = (z - k) * LN2;
        e = POW2[k + 127]! * (1 + t * (1 + t * (0.5 + t * (1 / 6 + t * (1 / 24 + t * (1 / 120 + t / 720))))));
      }
      out[o + l] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let l = 0; l < L; l++) out[o + l] = out[o + l]! * inv;
  }
}
