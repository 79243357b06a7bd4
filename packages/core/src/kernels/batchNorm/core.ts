import type { BnSimd } from './simd.js';

/**
 * Typed-array cores of training-mode BatchNorm over the last axis (x viewed as M rows × C channels). Sums are
 * accumulated in float64 so statistics over millions of pixels keep float32 accuracy.
 */

/*
 * Layout: x is M rows × C channels, row-major. Every loop below runs channel-group by channel-group — four
 * channels at a time when C is a multiple of 4, else one — over the rows with the group's running sums and
 * coefficients in local variables, which the JIT keeps in registers: 2–3× faster than indexing per-channel arrays
 * inside the row loop. Locals are doubles, so the sums accumulate in float64. The loops are written out (no
 * callbacks), so the JIT compiles each one monomorphically.
 */

/** Channel k's mean K + s/m and biased variance q/m − (s/m)² (≥ 0) from the sums s of d = x − K and q of d². */
function settle(
  mean: Float64Array,
  variance: Float64Array,
  k: number,
  K: number,
  s: number,
  q: number,
  m: number,
): void {
  const e = s / m;
  mean[k] = K + e;
  variance[k] = Math.max(0, q / m - e * e);
}

/**
 * Batch mean and biased variance per channel in one pass: sums of d = x − K and d² with K[k] the channel's first
 * value, so that a channel with a large mean loses nothing to cancellation (var = E[d²] − E[d]², all in float64,
 * accurate while (μ − K)² is not ~1e9 times the variance).
 */
function moments(
  x: Float32Array,
  c: number,
  mean: Float64Array,
  variance: Float64Array,
  simd: BnSimd | null,
): void {
  const n = x.length;
  const m = n / c;
  if (simd) {
    const sq = simd.moments(x, c);
    for (let k = 0; k < c; k++) settle(mean, variance, k, x[k]!, sq[k]!, sq[c + k]!, m);
    return;
  }
  const step = c % 4 === 0 ? 4 : 1;
  for (let k = 0; k < c; k += step) {
    if (step === 4) {
      const K0 = x[k]!;
      const K1 = x[k + 1]!;
      const K2 = x[k + 2]!;
      const K3 = x[k + 3]!;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let q0 = 0;
      let q1 = 0;
      let q2 = 0;
      let q3 = 0;
      for (let i = k; i < n; i += c) {
        const d0 = x[i]! - K0;
        const d1 = x[i + 1]! - K1;
        const d2 = x[i + 2]! - K2;
        const d3 = x[i + 3]! - K3;
        s0 += d0;
        s1 += d1;
        s2 += d2;
        s3 += d3;
        q0 += d0 * d0;
        q1 += d1 * d1;
        q2 += d2 * d2;
        q3 += d3 * d3;
      }
      settle(mean, variance, k, K0, s0, q0, m);
      settle(mean, variance, k + 1, K1, s1, q1, m);
      settle(mean, variance, k + 2, K2, s2, q2, m);
      settle(mean, variance, k + 3, K3, s3, q3, m);
    } else {
      const K0 = x[k]!;
      let s0 = 0;
      let q0 = 0;
      for (let i = k; i < n; i += c) {
        const d0 = x[i]! - K0;
        s0 += d0;
        q0 += d0 * d0;
      }
      settle(mean, variance, k, K0, s0, q0, m);
    }
  }
}

/**
 * One pass over dy (and x): sdy[k] = Σ_rows g, sdyx[k] = Σ_rows g·(x − μ[k]), with g = dy, or with `y` (a fused
 * ReLU's output) g = dy·[y > 0], written to `g` for the later passes. The mask multiplies by the comparison's 0/1:
 * branch-free (a conditional select ran ~5× slower on mixed-sign data).
 */
function gradSums(
  simd: BnSimd | null,
  sdy: Float64Array,
  sdyx: Float64Array,
  ...args: Parameters<BnSimd['gradSums']>
): void {
  const [dy, y, x, mu, c, g] = args;
  const n = x.length;
  if (simd) {
    const st = simd.gradSums(...args);
    sdy.set(st.subarray(0, c));
    sdyx.set(st.subarray(c));
    return;
  }
  if (c % 4 === 0) {
    for (let k = 0; k < c; k += 4) {
      const m0 = mu[k]!;
      const m1 = mu[k + 1]!;
      const m2 = mu[k + 2]!;
      const m3 = mu[k + 3]!;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let t0 = 0;
      let t1 = 0;
      let t2 = 0;
      let t3 = 0;
      if (y) {
        for (let i = k; i < n; i += c) {
          const g0 = dy[i]! * +(y[i]! > 0);
          const g1 = dy[i + 1]! * +(y[i + 1]! > 0);
          const g2 = dy[i + 2]! * +(y[i + 2]! > 0);
          const g3 = dy[i + 3]! * +(y[i + 3]! > 0);
          g[i] = g0;
          g[i + 1] = g1;
          g[i + 2] = g2;
          g[i + 3] = g3;
          s0 += g0;
          s1 += g1;
          s2 += g2;
          s3 += g3;
          t0 += g0 * (x[i]! - m0);
          t1 += g1 * (x[i + 1]! - m1);
          t2 += g2 * (x[i + 2]! - m2);
          t3 += g3 * (x[i + 3]! - m3);
        }
      } else {
        for (let i = k; i < n; i += c) {
          const g0 = dy[i]!;
          const g1 = dy[i + 1]!;
          const g2 = dy[i + 2]!;
          const g3 = dy[i + 3]!;
          s0 += g0;
          s1 += g1;
          s2 += g2;
          s3 += g3;
          t0 += g0 * (x[i]! - m0);
          t1 += g1 * (x[i + 1]! - m1);
          t2 += g2 * (x[i + 2]! - m2);
          t3 += g3 * (x[i + 3]! - m3);
        }
      }
      sdy[k] = s0;
      sdy[k + 1] = s1;
      sdy[k + 2] = s2;
      sdy[k + 3] = s3;
      sdyx[k] = t0;
      sdyx[k + 1] = t1;
      sdyx[k + 2] = t2;
      sdyx[k + 3] = t3;
    }
    return;
  }
  for (let k = 0; k < c; k++) {
    const m0 = mu[k]!;
    let s0 = 0;
    let t0 = 0;
    for (let i = k; i < n; i += c) {
      const g0 = y ? dy[i]! * +(y[i]! > 0) : dy[i]!;
      if (y) g[i] = g0;
      s0 += g0;
      t0 += g0 * (x[i]! - m0);
    }
    sdy[k] = s0;
    sdyx[k] = t0;
  }
}

/**
 * out = u·a[k] + v·b[k] + d[k] per element (v optional: then u·a[k] + d[k], and with `relu` max(0, ·)). `out` may
 * be `u` (element-wise in place). The ReLU is written (r + |r|)/2: exact, NaN-preserving and branch-free (a
 * compare-and-select on the sign ran ~5× slower on mixed-sign data, mispredicted branches).
 */
function affine(simd: BnSimd | null, ...args: Parameters<BnSimd['affine']>): void {
  if (simd) {
    simd.affine(...args);
    return;
  }
  const [u, v, c, out, a, b, d, relu] = args;
  const n = u.length;
  const step = c % 4 === 0 ? 4 : 1;
  for (let k = 0; k < c; k += step) {
    if (step === 4) {
      const a0 = a[k]!;
      const a1 = a[k + 1]!;
      const a2 = a[k + 2]!;
      const a3 = a[k + 3]!;
      const d0 = d[k]!;
      const d1 = d[k + 1]!;
      const d2 = d[k + 2]!;
      const d3 = d[k + 3]!;
      if (v) {
        const b0 = b[k]!;
        const b1 = b[k + 1]!;
        const b2 = b[k + 2]!;
        const b3 = b[k + 3]!;
        for (let i = k; i < n; i += c) {
          out[i] = u[i]! * a0 + v[i]! * b0 + d0;
          out[i + 1] = u[i + 1]! * a1 + v[i + 1]! * b1 + d1;
          out[i + 2] = u[i + 2]! * a2 + v[i + 2]! * b2 + d2;
          out[i + 3] = u[i + 3]! * a3 + v[i + 3]! * b3 + d3;
        }
      } else if (relu) {
        for (let i = k; i < n; i += c) {
          const r0 = u[i]! * a0 + d0;
          const r1 = u[i + 1]! * a1 + d1;
          const r2 = u[i + 2]! * a2 + d2;
          const r3 = u[i + 3]! * a3 + d3;
          out[i] = (r0 + Math.abs(r0)) * 0.5;
          out[i + 1] = (r1 + Math.abs(r1)) * 0.5;
          out[i + 2] = (r2 + Math.abs(r2)) * 0.5;
          out[i + 3] = (r3 + Math.abs(r3)) * 0.5;
        }
      } else {
        for (let i = k; i < n; i += c) {
          out[i] = u[i]! * a0 + d0;
          out[i + 1] = u[i + 1]! * a1 + d1;
          out[i + 2] = u[i + 2]! * a2 + d2;
          out[i + 3] = u[i + 3]! * a3 + d3;
        }
      }
    } else {
      const a0 = a[k]!;
      const b0 = b[k]!;
      const d0 = d[k]!;
      if (v) for (let i = k; i < n; i += c) out[i] = u[i]! * a0 + v[i]! * b0 + d0;
      else if (relu)
        for (let i = k; i < n; i += c) {
          const r = u[i]! * a0 + d0;
          out[i] = (r + Math.abs(r)) * 0.5;
        }
      else for (let i = k; i < n; i += c) out[i] = u[i]! * a0 + d0;
    }
  }
}

/** Running statistics of training-mode BatchNorm: where to read them and how to update them (spec §1.5). */
export interface RunningStats {
  mean: Float32Array;
  variance: Float32Array;
  momentum: number;
  /** Outputs: (1 − m)·running + m·batch, the variance unbiased (× M/(M − 1)) as PyTorch folds it. */
  newMean: Float32Array;
  newVariance: Float32Array;
}

/**
 * Forward: batch mean and biased variance per channel, y = γ·(x − μ)/√(σ² + ε) + β (then max(0, ·) with `relu`),
 * and, with `running`, the updated running statistics.
 */
export function batchNormTrainForward(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  c: number,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  relu = false,
  running: RunningStats | null = null,
  simd: BnSimd | null = null,
): void {
  const m = x.length / c;
  const mu = new Float64Array(c);
  const s2 = new Float64Array(c);
  moments(x, c, mu, s2, simd);
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    const v = s2[k]!;
    mean[k] = mu[k]!;
    variance[k] = v;
    scale[k] = gamma[k]! / Math.sqrt(v + eps);
    shift[k] = beta[k]! - mu[k]! * scale[k]!;
  }
  if (running) {
    const m1 = running.momentum;
    const unbias = m / Math.max(m - 1, 1);
    for (let k = 0; k < c; k++) {
      running.newMean[k] = running.mean[k]! * (1 - m1) + mean[k]! * m1;
      running.newVariance[k] = running.variance[k]! * (1 - m1) + variance[k]! * unbias * m1;
    }
  }
  affine(simd, x, null, c, y, scale, scale, shift, relu);
}

/**
 * Backward: dβ = Σ dy, dγ = Σ dy·x̂, dx = γ/σ̂ · (dy − dβ/M − x̂·dγ/M), with x̂ = (x − μ)/σ̂, σ̂ = √(σ² + ε)
 * (the batch statistics depend on x, so dx has the two correction terms). With the forward's output `y` of a
 * fused BN + ReLU, dy is first masked to where y > 0.
 */
export function batchNormTrainBackward(
  dyIn: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
  c: number,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  y: Float32Array | null = null,
  simd: BnSimd | null = null,
): void {
  const m = x.length / c;
  const sdy = new Float64Array(c);
  const sdyx = new Float64Array(c);
  // with a fused ReLU the masked dy goes to dx, which the affine pass below then overwrites in place
  gradSums(simd, sdy, sdyx, dyIn, y, x, mean, c, dx);
  const dy = y ? dx : dyIn;
  // dx = k1·(dy − k2) − (x − μ)·k1·k3 = dy·k1 + x·(−k1·k3) + (μ·k1·k3 − k1·k2): one affine map per channel
  const a = new Float32Array(c);
  const b = new Float32Array(c);
  const d = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    const inv = 1 / Math.sqrt(variance[k]! + eps);
    dbeta[k] = sdy[k]!;
    dgamma[k] = sdyx[k]! * inv;
    const k1 = gamma[k]! * inv;
    const k2 = sdy[k]! / m;
    const k3 = (inv * inv * sdyx[k]!) / m;
    a[k] = k1;
    b[k] = -k1 * k3;
    d[k] = mean[k]! * k1 * k3 - k1 * k2;
  }
  affine(simd, dy, x, c, dx, a, b, d, false);
}

/** Per-channel scale γ/√(σ² + ε) and shift β − μ·scale of inference-mode BatchNorm with stored statistics. */
function inferCoefficients(
  mean: Float32Array,
  variance: Float32Array,
  gamma: Float32Array,
  beta: Float32Array | null,
  eps: number,
  c: number,
): { scale: Float32Array; shift: Float32Array } {
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    scale[k] = gamma[k]! / Math.sqrt(variance[k]! + eps);
    shift[k] = (beta ? beta[k]! : 0) - mean[k]! * scale[k]!;
  }
  return { scale, shift };
}

/** Inference mode (stored statistics μ, σ²): y = γ·(x − μ)/√(σ² + ε) + β (max(0, ·) with `relu`), one pass. */
export function batchNormInferForward(
  x: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  c: number,
  y: Float32Array,
  relu = false,
  simd: BnSimd | null = null,
): void {
  const { scale, shift } = inferCoefficients(mean, variance, gamma, beta, eps, c);
  affine(simd, x, null, c, y, scale, scale, shift, relu);
}

/**
 * Inference-mode backward (the statistics are constants): dx = dy·γ/σ̂, dγ = Σ dy·(x − μ)/σ̂, dβ = Σ dy, with
 * σ̂ = √(σ² + ε); with the output `y` of a fused BN + ReLU, dy masked to where y > 0.
 */
export function batchNormInferBackward(
  dyIn: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  gamma: Float32Array,
  eps: number,
  c: number,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
  y: Float32Array | null = null,
  simd: BnSimd | null = null,
): void {
  const { scale } = inferCoefficients(mean, variance, gamma, null, eps, c);
  const sdy = new Float64Array(c);
  const sdyx = new Float64Array(c);
  gradSums(simd, sdy, sdyx, dyIn, y, x, mean, c, dx);
  for (let k = 0; k < c; k++) {
    dbeta[k] = sdy[k]!;
    dgamma[k] = sdyx[k]! / Math.sqrt(variance[k]! + eps);
  }
  affine(simd, y ? dx : dyIn, null, c, dx, scale, scale, new Float32Array(c), false);
}
