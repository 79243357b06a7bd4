/**
 * Typed-array cores of training-mode BatchNorm over the last axis (x viewed as M rows × C channels). Sums are
 * accumulated in float64 so statistics over millions of pixels keep float32 accuracy.
 */

/** Forward: batch mean and biased variance per channel, y = γ·(x − μ)/√(σ² + ε) + β. */
export function batchNormTrainForward(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  c: number,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
): void {
  const m = x.length / c;
  const s = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) for (let k = 0; k < c; k++) s[k]! += x[i + k]!;
  const mu = new Float64Array(c);
  for (let k = 0; k < c; k++) mu[k] = s[k]! / m;
  const s2 = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      const d = x[i + k]! - mu[k]!;
      s2[k]! += d * d;
    }
  }
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    const v = s2[k]! / m;
    mean[k] = mu[k]!;
    variance[k] = v;
    scale[k] = gamma[k]! / Math.sqrt(v + eps);
    shift[k] = beta[k]! - mu[k]! * scale[k]!;
  }
  for (let i = 0; i < x.length; i += c)
    for (let k = 0; k < c; k++) y[i + k] = x[i + k]! * scale[k]! + shift[k]!;
}

/**
 * Backward: dβ = Σ dy, dγ = Σ dy·x̂, dx = γ/σ̂ · (dy − dβ/M − x̂·dγ/M), with x̂ = (x − μ)/σ̂, σ̂ = √(σ² + ε)
 * (the batch statistics depend on x, so dx has the two correction terms).
 */
export function batchNormTrainBackward(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
  c: number,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
): void {
  const m = x.length / c;
  const sdy = new Float64Array(c);
  const sdyx = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      const g = dy[i + k]!;
      sdy[k]! += g;
      sdyx[k]! += g * (x[i + k]! - mean[k]!);
    }
  }
  const k1 = new Float32Array(c);
  const k2 = new Float32Array(c);
  const k3 = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    const inv = 1 / Math.sqrt(variance[k]! + eps);
    dbeta[k] = sdy[k]!;
    dgamma[k] = sdyx[k]! * inv;
    k1[k] = gamma[k]! * inv;
    k2[k] = sdy[k]! / m;
    k3[k] = (inv * inv * sdyx[k]!) / m;
  }
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) dx[i + k] = k1[k]! * (dy[i + k]! - k2[k]! - (x[i + k]! - mean[k]!) * k3[k]!);
  }
}
