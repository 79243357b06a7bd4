/**
 * DSRG — Deep Seeded Region Growing (spec §6.3): region growing of seeds on CRF-refined probabilities, the balanced
 * seed loss and the CRF boundary (constrain) loss, as tf ops differentiable w.r.t. any segmentation network's
 * logits (N,h,w,L), L = 1 + K (channel 0 = background).
 *
 * Seeds are multi-hot (N,h,w,L) {0,1} maps, as the reference's cues (a pixel may carry several classes);
 * {@link seedMapToMultiHot} converts a class-index map (255 = unlabelled, as `seedsFromMaps` gives) into one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type CrfImage, dsrgCrf } from '@wsss/crf';

/** The reference's probability floor (`min_prob`, spec §6.3 step 1). */
export const DSRG_MIN_PROB = 1e-4;

/**
 * Region-growing thresholds of {@link growSeeds} and {@link growSeedsImage} (defaults
 * {@link GROW_SEEDS_DEFAULTS}).
 */
export interface GrowSeedsOptions {
  /** th1: background pixels join when their CRF probability exceeds this. 0.99 (spec §6.3 step 3). */
  thBg?: number;
  /** th2: foreground pixels join when their CRF probability exceeds this. 0.85 (spec §6.3 step 3). */
  thFg?: number;
}

/** Default region-growing thresholds (spec §6.3 step 3): 0.99 for background, 0.85 for foreground. */
export const GROW_SEEDS_DEFAULTS = { thBg: 0.99, thFg: 0.85 } as const;

function checkLabels(labels: readonly number[], numLabels: number, who: string): number[] {
  for (const c of labels) {
    if (!Number.isInteger(c) || c < 0 || c >= numLabels)
      throw new Error(`${who}: labels must be channel indices in [0, ${numLabels}), got ${c}`);
  }
  return [...new Set([0, ...labels])].sort((a, b) => a - b);
}

/**
 * 8-connected component labelling of a binary map (raster order, iterative flood fill). Returns the component
 * id of every pixel (−1 outside the map's true pixels) and the number of components.
 */
export function connectedComponents8(
  mask: Uint8Array,
  height: number,
  width: number,
): { labels: Int32Array; count: number } {
  const labels = new Int32Array(height * width).fill(-1);
  const stack = new Int32Array(height * width);
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]! >= 0) continue;
    let top = 0;
    stack[top++] = start;
    labels[start] = count;
    while (top > 0) {
      const p = stack[--top]!;
      const y = (p / width) | 0;
      const x = p - y * width;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width || (dx === 0 && dy === 0)) continue;
          const q = yy * width + xx;
          if (mask[q] && labels[q]! < 0) {
            labels[q] = count;
            stack[top++] = q;
          }
        }
      }
    }
    count++;
  }
  return { labels, count };
}

/**
 * Seeded region growing for one image (`generate_seed_step`, spec §6.3 step 3). `seeds` and `probs` are NHWC
 * (pixel-major, h·w·L); `labels` the present foreground channels (background 0 is always added). Returns the
 * grown seeds (a new array; the input is not modified; original seeds are never removed):
 * a. per pixel, c* = argmax over the present classes of Q (first on ties), q* its value;
 * b. label map from the seeds (several seed classes at a pixel: the highest wins, as numpy's fancy assignment);
 * c. q* > thFg and c* ≠ 0 → c*; c* = 0 and q* > thFg and q* > thBg → background;
 * d. for each present class c in increasing order: 8-connected components of (label map = c); a component is
 *    anchored if it holds a seed of c; its pixels that are seeds of exactly one other class are left out; every
 *    other pixel of an anchored component becomes a seed of c (in place: later classes see the grown seeds).
 */
export function growSeedsImage(
  seeds: Uint8Array,
  probs: Float32Array,
  labels: readonly number[],
  height: number,
  width: number,
  opts: GrowSeedsOptions = {},
): Uint8Array {
  const thBg = opts.thBg ?? GROW_SEEDS_DEFAULTS.thBg;
  const thFg = opts.thFg ?? GROW_SEEDS_DEFAULTS.thFg;
  const n = height * width;
  if (!Number.isInteger(n) || n <= 0 || probs.length % n !== 0)
    throw new Error(`growSeeds: probs must hold h·w·L = ${height}·${width}·L values, got ${probs.length}`);
  const L = probs.length / n;
  if (seeds.length !== probs.length)
    throw new Error(`growSeeds: seeds must have probs' length ${probs.length} (h·w·L), got ${seeds.length}`);
  const present = checkLabels(labels, L, 'growSeeds');
  const out = Uint8Array.from(seeds, (v) => (v ? 1 : 0));
  const map = new Int32Array(n); // 0 = none, c + 1 = class c
  for (let i = 0; i < n; i++) {
    for (let c = L - 1; c >= 0; c--) {
      if (out[i * L + c]) {
        map[i] = c + 1;
        break;
      }
    }
    let best = present[0]!;
    let q = probs[i * L + best]!;
    for (const c of present) {
      const v = probs[i * L + c]!;
      if (v > q) {
        q = v;
        best = c;
      }
    }
    if (q > thFg) {
      if (best !== 0) map[i] = best + 1;
      else if (q > thBg) map[i] = 1;
    }
  }
  const binary = new Uint8Array(n);
  for (const c of present) {
    for (let i = 0; i < n; i++) binary[i] = map[i] === c + 1 ? 1 : 0;
    const { labels: comp, count } = connectedComponents8(binary, height, width);
    const anchored = new Uint8Array(count);
    for (let i = 0; i < n; i++) {
      if (!binary[i]) continue;
      if (out[i * L + c]) anchored[comp[i]!] = 1;
      else {
        let sum = 0;
        for (let l = 0; l < L; l++) sum += out[i * L + l]!;
        if (sum === 1) comp[i] = -1;
      }
    }
    for (let i = 0; i < n; i++) if (comp[i]! >= 0 && anchored[comp[i]!]) out[i * L + c] = 1;
  }
  return out;
}

/**
 * Region growing for a batch: seeds (N,h,w,L) multi-hot, probs (N,h,w,L) the CRF-refined probabilities Q,
 * labels[n] the present foreground channels of image n. Returns the grown seeds (N,h,w,L) float32 {0,1}.
 */
export function growSeeds(
  seeds: tf.Tensor4D,
  probs: tf.Tensor4D,
  labels: readonly (readonly number[])[],
  opts: GrowSeedsOptions = {},
): tf.Tensor4D {
  if (probs.rank !== 4 || !tf.util.arraysEqual(seeds.shape, probs.shape))
    throw new Error(
      `growSeeds: seeds [${seeds.shape}] and probs [${probs.shape}] must be the same (N,h,w,L)`,
    );
  const [N, h, w, L] = probs.shape;
  if (labels.length !== N) throw new Error(`growSeeds: labels must list ${N} images, got ${labels.length}`);
  const s = seeds.dataSync();
  const p = probs.dataSync() as Float32Array;
  const out = new Float32Array(N * h * w * L);
  const per = h * w * L;
  for (let b = 0; b < N; b++) {
    const grown = growSeedsImage(
      Uint8Array.from(s.subarray(b * per, (b + 1) * per), (v) => (v > 0.5 ? 1 : 0)),
      p.subarray(b * per, (b + 1) * per),
      labels[b]!,
      h,
      w,
      opts,
    );
    out.set(grown, b * per);
  }
  return tf.tensor4d(out, [N, h, w, L]);
}

/**
 * A class-index seed map (N,h,w) — 0 background, c ≥ 1 class channel c, 255 unlabelled — as multi-hot seeds
 * (N,h,w,L) float32.
 */
export function seedMapToMultiHot(map: tf.Tensor3D, numLabels: number): tf.Tensor4D {
  if (map.rank !== 3) throw new Error(`seedMapToMultiHot: map must be (N,h,w), got [${map.shape}]`);
  // 255 (and any index ≥ numLabels) gives an all-zero row. oneHot's own dtype argument is not honoured on every
  // backend in tfjs 4.22 (int bits come back as float32), hence the cast.
  return tf.tidy(() => tf.cast(tf.oneHot(tf.cast(map, 'int32'), numLabels), 'float32') as tf.Tensor4D);
}

/** DSRG's probabilities (spec §6.3 step 1): P = softmax(logits), then (P + 1e-4) renormalised over classes. */
export function dsrgProbabilities(logits: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const p = tf.add(tf.softmax(logits), DSRG_MIN_PROB);
    return tf.div(p, tf.sum(p, -1, true)) as tf.Tensor4D;
  });
}

/**
 * Balanced seed loss (spec §6.3 step 4, `BalancedSeedLossLayer`), differentiable w.r.t. the logits:
 * −mean_n[Σ_i S₀ log P₀ / max(ΣS₀, 1e-4)] − mean_n[Σ_{c≥1,i} S_c log P_c / max(Σ_{c≥1} S_c, 1e-4)],
 * with P = {@link dsrgProbabilities}(logits) and S the (grown) seeds (N,h,w,L).
 */
export function dsrgSeedLoss(logits: tf.Tensor4D, seeds: tf.Tensor4D): tf.Scalar {
  if (!tf.util.arraysEqual(logits.shape, seeds.shape))
    throw new Error(`dsrgSeedLoss: seeds [${seeds.shape}] must have the logits' shape [${logits.shape}]`);
  const L = logits.shape[3];
  if (L < 2) throw new Error(`dsrgSeedLoss: logits need background + ≥ 1 class channels, got ${L}`);
  return tf.tidy(() => {
    const logP = tf.log(dsrgProbabilities(logits));
    const s = tf.cast(seeds, 'float32');
    const term = tf.mul(s, logP);
    const [n, h, w] = logits.shape;
    const part = (begin: number, size: number) => {
      const num = tf.sum(tf.slice(term, [0, 0, 0, begin], [n, h, w, size]), [1, 2, 3]);
      const cnt = tf.maximum(
        tf.sum(tf.slice(s, [0, 0, 0, begin], [n, h, w, size]), [1, 2, 3]),
        DSRG_MIN_PROB,
      );
      return tf.neg(tf.mean(tf.div(num, cnt)));
    };
    return tf.add(part(0, 1), part(1, L - 1)) as tf.Scalar;
  });
}

/** Options of {@link dsrgBoundaryLoss}. */
export interface BoundaryLossOptions {
  /**
   * Include the reference's gradient through the CRF (`CRFLayer.backward`: (1 − Q')·∂L/∂log Q' passed to P).
   * Default true (spec §6.3 step 4). False: Q' is a constant target.
   */
  crfGradient?: boolean;
}

/**
 * Boundary (constrain) loss (spec §6.3 step 4, `ConstrainLossLayer`): mean_{n,i} Σ_c Q'_c log(clip(Q'_c/P_c,
 * 0.05, 20)), P = {@link dsrgProbabilities}(logits), Q' the CRF output of P ({@link dsrgCrfProbs}), a constant.
 *
 * Gradient w.r.t. P, as the reference's Theano graph gives it (the clip passes gradient only inside
 * [0.05, 20]): ∂L/∂P_c = −Q'_c/P_c·[inside] / (N·h·w), plus — the reference's approximation of the CRF's backward
 * pass — (1 − Q'_c)·∂L/∂log Q'_c with ∂L/∂log Q'_c = Q'_c·(log clip(Q'_c/P_c) + [inside]) / (N·h·w). From P on,
 * the gradient reaches the logits through the softmax and the 1e-4 renormalisation exactly.
 */
export function dsrgBoundaryLoss(
  logits: tf.Tensor4D,
  crfProbs: tf.Tensor4D,
  opts: BoundaryLossOptions = {},
): tf.Scalar {
  if (!tf.util.arraysEqual(logits.shape, crfProbs.shape))
    throw new Error(
      `dsrgBoundaryLoss: crfProbs [${crfProbs.shape}] must have the logits' shape [${logits.shape}]`,
    );
  const withCrf = opts.crfGradient ?? true;
  const [n, h, w] = logits.shape;
  const count = n * h * w;
  // Q' goes in as an input (zero gradient) and is saved: tensors a closure captures may be disposed by the time
  // the gradient is asked for (`minimize` runs the loss function in its own tidy).
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [pIn, qIn, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([pIn, qIn]);
    const value = tf.tidy(() => {
      const ratio = tf.clipByValue(tf.div(qIn, pIn), 0.05, 20);
      return tf.div(tf.sum(tf.mul(qIn, tf.log(ratio))), count);
    });
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [p, q] = saved as [tf.Tensor, tf.Tensor];
          const raw = tf.div(q, p);
          const inside = tf.cast(tf.logicalAnd(tf.greaterEqual(raw, 0.05), tf.lessEqual(raw, 20)), 'float32');
          let g = tf.neg(tf.mul(raw, inside));
          if (withCrf) {
            const dLogQ = tf.mul(q, tf.add(tf.log(tf.clipByValue(raw, 0.05, 20)), inside));
            g = tf.add(g, tf.mul(tf.sub(1, q), dLogQ));
          }
          return [tf.mul(g, tf.div(dy, count)), tf.zerosLike(q)];
        }),
    };
  });
  return tf.tidy(() => f(dsrgProbabilities(logits), crfProbs) as tf.Scalar);
}

/**
 * The DSRG CRF (`dsrgCrf` of @wsss/crf: unary −max(P, 1e-4), spec §6.3 step 2) on every image of a batch:
 * probs (N,h,w,L), images[n] an 8-bit RGB image of size w×h (the input resized to the score map, mean added back,
 * rounded). Returns Q' (N,h,w,L), clipped at 1e-4 and renormalised — used both for growing and the boundary loss.
 */
export function dsrgCrfProbs(probs: tf.Tensor4D, images: readonly CrfImage[]): tf.Tensor4D {
  const [N, h, w, L] = probs.shape;
  if (images.length !== N) throw new Error(`dsrgCrfProbs: expected ${N} images, got ${images.length}`);
  const p = probs.dataSync() as Float32Array;
  const out = new Float32Array(p.length);
  const per = h * w * L;
  images.forEach((im, b) => {
    if (im.width !== w || im.height !== h)
      throw new Error(
        `dsrgCrfProbs: images[${b}] must be ${w}×${h} (the score map), got ${im.width}×${im.height}`,
      );
    out.set(dsrgCrf(im, p.slice(b * per, (b + 1) * per)).probs, b * per);
  });
  return tf.tensor4d(out, [N, h, w, L]);
}

/**
 * What {@link dsrgLoss} needs besides the logits: the seeds, the present classes and the images for the CRF,
 * with the growing thresholds and the boundary loss's option.
 */
export interface DsrgLossInputs extends GrowSeedsOptions, BoundaryLossOptions {
  /** Current seeds (N,h,w,L) multi-hot (original cues). */
  seeds: tf.Tensor4D;
  /** Present foreground channels per image. */
  labels: readonly (readonly number[])[];
  /** Images at the score map's size for the CRF (see {@link dsrgCrfProbs}). */
  images: readonly CrfImage[];
}

/**
 * What {@link dsrgLoss} returns; the caller disposes every tensor (`crfProbs` only after the gradient has
 * been taken).
 */
export interface DsrgLossResult {
  /** L_seed + L_boundary (both weight 1). */
  loss: tf.Scalar;
  seedLoss: tf.Scalar;
  boundaryLoss: tf.Scalar;
  /** The grown seeds the seed loss used (no gradient). */
  grownSeeds: tf.Tensor4D;
  /** Q', the CRF output of P (no gradient); the boundary loss's backward pass reads it. */
  crfProbs: tf.Tensor4D;
}

/**
 * One DSRG training objective (spec §6.3 steps 1–4) on a network's logits (N,h,w,L): P, the CRF Q' of P, seeds
 * grown on Q', seed loss on the grown seeds and boundary loss against Q'. Call it inside `optimizer.minimize`
 * (return `.loss`; `minimize` disposes the rest), or dispose every tensor of the result yourself — `crfProbs` only
 * after the gradient has been taken.
 */
export function dsrgLoss(logits: tf.Tensor4D, inputs: DsrgLossInputs): DsrgLossResult {
  const q = tf.tidy(() => {
    const p = dsrgProbabilities(logits);
    return dsrgCrfProbs(p, inputs.images);
  });
  const grownSeeds = growSeeds(inputs.seeds, q, inputs.labels, inputs);
  const seedLoss = dsrgSeedLoss(logits, grownSeeds);
  const boundaryLoss = dsrgBoundaryLoss(logits, q, inputs);
  const loss = tf.add(seedLoss, boundaryLoss) as tf.Scalar;
  return { loss, seedLoss, boundaryLoss, grownSeeds, crfProbs: q };
}
