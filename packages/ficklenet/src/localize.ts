/**
 * FickleNet inference (spec §5.3): Grad-CAM maps of many random selections, aggregated, and seeds from them.
 *
 * For each image and each present class c, run the selection R times (R = N_inf [default 200]) with fresh masks;
 * each run's Grad-CAM on the feature map x is ReLU(Σ_k α_{c,k} x_k) normalised to [0,1] by its max, with
 * α_{c,k} = spatial mean of ∂S_c/∂x_k (S_c = the class score, the selection's global average pool); the runs are
 * aggregated pixel-wise by max [default] or mean and normalised to [0,1] again.
 *
 * Two exact ways to get α:
 * - `gradient: 'autodiff'`: tf.grad through the selection, one backward pass per run and class.
 * - `gradient: 'analytic'` (default): for this layer ∂S_c/∂x depends on a run's mask only through the per-offset,
 *   per-channel sums Σ_u g_o(u,k) over the positions u whose shifted window o is inside the map:
 *   α_{c,k} = (1/(h·w)²) Σ_o W_o[k,c] · Σ_u g_o(u,k), with g_o = m_o/(1−p) (centre: 1). A sum of n_o independent
 *   Bernoulli(1−p) draws is one Binomial(n_o, 1−p) draw, so a run costs s²·C binomial draws instead of s²·h·w·C
 *   Bernoulli draws and two passes of the layer; the maps have exactly the distribution of the autodiff path
 *   (tested against it on injected masks).
 * The backbone runs once per image; only the selection is repeated.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BinomialSampler, drawSeed, mixSeed, Uint32Stream } from './random.js';
import { FickleSelection, fickleSelection } from './selection.js';

/** Value of "unlabelled" in seed maps (VOC's ignore index). */
export const UNLABELLED = 255;

/** A classifier built with the layer: a feature extractor (the backbone) and the selection on its output. */
export interface FickleClassifier {
  /**
   * The backbone: a LayersModel or a function from images to the feature map (N,h,w,C) the selection is
   * applied to.
   */
  featureExtractor: tfl.LayersModel | ((image: tf.Tensor4D) => tf.Tensor4D);
  selection: FickleSelection;
}

/**
 * Thresholds of {@link seedsFromMaps} (and of the seeds {@link localize} returns): θ_fg for foreground, and
 * for background either a saliency map with its threshold or the low-activation θ_bg.
 */
export interface SeedOptions {
  /** θ_fg: foreground seeds where the aggregated map exceeds this (higher map wins). [default] 0.5 (spec §5.3). */
  thFg?: number;
  /**
   * Adaptive foreground thresholds instead of the fixed θ_fg: per image and present class, a pixel whose highest
   * class is c is a foreground seed when c's map there is among the top `fgQuantile` of c's map over the image
   * (above its (1 − q)-quantile) and above θ_fg·`fgFloor`. Seeds then follow each object's own response, however
   * strong (the top-20 % rule of DSRG's CAM seeds). [default] unset: the fixed θ_fg (spec §5.3).
   */
  fgQuantile?: number;
  /** With `fgQuantile`: a floor, as a fraction of θ_fg, below which no pixel is a foreground seed. [default] 0.2. */
  fgFloor?: number;
  /**
   * θ_bg of the low-activation background rule — a DEVIATION from the paper, used only without `saliency`:
   * background where every present class map is below this. [default] 0.1 (spec §5.3 item 4).
   */
  thBg?: number;
  /** Saliency (N,h',w') in [0,1] (resized bilinearly to the map size if needed): background where it is low. */
  saliency?: tf.Tensor3D;
  /** Background seeds where saliency < this. [default] 0.1 (DSRG's threshold is not published). */
  saliencyThreshold?: number;
  /**
   * With `saliency`: foreground seeds only where the saliency is at least this; a pixel below it whose map qualifies
   * is background if the saliency is below `saliencyThreshold`, else unlabelled. [default] unset: the foreground wins
   * wherever its map qualifies (spec §5.3).
   */
  fgMinSaliency?: number;
}

/**
 * Options of {@link localize}: the number of random runs and their aggregation, how the Grad-CAM weights are
 * computed, the seed and batching of the runs, and the {@link SeedOptions} of the seeds.
 */
export interface LocalizeOptions extends SeedOptions {
  /** N_inf: random selections per image. [default] 200 (spec §5.3). */
  runs?: number;
  /** Pixel-wise aggregation of the normalised maps over runs. [default] 'max' (spec §5.3). */
  aggregate?: 'max' | 'mean';
  /** How α is obtained (see the module comment). Default 'analytic'. */
  gradient?: 'analytic' | 'autodiff';
  /** Seed of the runs; default the next of `seedRandom`'s stream, else random. */
  seed?: number;
  /** Runs per batched computation in the analytic path. Default 50. */
  chunk?: number;
}

/** What {@link localize} returns; the caller owns both tensors. */
export interface LocalizeResult {
  /** Aggregated localization maps (N,h,w,K) in [0,1] at the feature map's resolution; absent classes are 0. */
  maps: tf.Tensor4D;
  /** Seeds (N,h,w) int32: 0 background, c + 1 foreground class c, 255 unlabelled. */
  seeds: tf.Tensor3D;
}

function resolveClassifier(c: tfl.LayersModel | FickleClassifier): {
  features: (image: tf.Tensor4D) => tf.Tensor4D;
  selection: FickleSelection;
} {
  if (c instanceof tfl.LayersModel) {
    const found = c.layers.filter((l) => l instanceof FickleSelection) as FickleSelection[];
    if (found.length !== 1)
      throw new Error(
        `localize: the model must contain exactly one WsssFickleSelection layer, found ${found.length}`,
      );
    const selection = found[0]!;
    const input = selection.input;
    if (Array.isArray(input))
      throw new Error('localize: the WsssFickleSelection layer must be applied exactly once in the model');
    const extractor = tfl.model({ inputs: c.inputs, outputs: input });
    return { features: (image) => extractor.predict(image) as tf.Tensor4D, selection };
  }
  if (!c || !(c.selection instanceof FickleSelection))
    throw new Error('localize: expected a LayersModel or { featureExtractor, selection: FickleSelection }');
  const fe = c.featureExtractor;
  const features =
    fe instanceof tfl.LayersModel ? (image: tf.Tensor4D) => fe.predict(image) as tf.Tensor4D : fe;
  return { features, selection: c.selection };
}

/**
 * One run's sums Σ_u g_o(u,k) for R runs: Float32Array (R, s², C). Centre: n_centre = h·w (always kept,
 * unscaled); other offsets: Binomial(n_o, 1−p)/(1−p), n_o = the positions whose window offset stays inside.
 */
export function drawSelectionSums(
  runs: number,
  kernelSize: number,
  h: number,
  w: number,
  channels: number,
  rate: number,
  seed: number,
): Float32Array {
  const s = kernelSize;
  const r = (s - 1) / 2;
  const out = new Float32Array(runs * s * s * channels);
  const rng = new Uint32Stream(mixSeed(seed, 0x5eed));
  const scale = 1 / (1 - rate);
  const sampler = new BinomialSampler(1 - rate);
  for (let run = 0; run < runs; run++) {
    for (let o = 0; o < s * s; o++) {
      const dy = Math.floor(o / s) - r;
      const dx = (o % s) - r;
      const n = Math.max(0, h - Math.abs(dy)) * Math.max(0, w - Math.abs(dx));
      const base = (run * s * s + o) * channels;
      if (dy === 0 && dx === 0) out.fill(n, base, base + channels);
      else if (n > 0) for (let k = 0; k < channels; k++) out[base + k] = sampler.draw(n, rng) * scale;
    }
  }
  return out;
}

/**
 * Analytic Grad-CAM weights α (R, C, |classes|) of the selection from the per-run sums (R, s², C) (see
 * {@link drawSelectionSums}): α_{c,k} = (1/(h·w)²) Σ_o W_o[k,c] · sums[o,k].
 */
export function selectionGradCamWeights(
  kernel: tf.Tensor4D,
  classes: readonly number[],
  sums: tf.Tensor3D,
  h: number,
  w: number,
): tf.Tensor3D {
  const [s, , c] = kernel.shape;
  return tf.tidy(() => {
    const wSel = tf.gather(tf.reshape(kernel, [s * s, c, kernel.shape[3]]), classes as number[], 2); // (s²,C,L)
    const a = tf.matMul(tf.transpose(sums, [2, 0, 1]), tf.transpose(wSel, [1, 0, 2])); // (C,R,L)
    return tf.mul(tf.transpose(a, [1, 0, 2]), 1 / (h * w) ** 2) as tf.Tensor3D;
  });
}

/**
 * Autodiff Grad-CAM weights of one selection run on one image x (1,h,w,C): α (C, |classes|), the spatial mean of
 * ∂S_c/∂x. `seed` / `mask` fix the run (see `fickleSelection`).
 */
export function autodiffGradCamWeights(
  x: tf.Tensor4D,
  params: Record<string, tf.Tensor>,
  classes: readonly number[],
  opts: { rate: number; seed?: number; mask?: tf.Tensor4D },
): tf.Tensor2D {
  const seed = opts.seed ?? drawSeed();
  return tf.tidy(() => {
    const cols = classes.map((c) =>
      tf.mean(
        tf.grad((xx: tf.Tensor) => {
          const { scores } = fickleSelection(xx as tf.Tensor4D, params, {
            stochastic: true,
            rate: opts.rate,
            seed,
            ...(opts.mask ? { mask: opts.mask } : {}),
          });
          return tf.sum(tf.slice(scores, [0, c], [1, 1]));
        })(x),
        [0, 1, 2],
      ),
    );
    return tf.stack(cols, 1) as tf.Tensor2D;
  });
}

/**
 * Grad-CAM maps of one image for R runs: x (1,h,w,C), α (R,C,L) → ReLU(x·α) normalised by each map's max
 * (an all-zero map stays 0), shape (h·w, R, L).
 */
function normalisedCams(x: tf.Tensor4D, alpha: tf.Tensor3D): tf.Tensor3D {
  const [, h, w, c] = x.shape;
  const [runs, , l] = alpha.shape;
  return tf.tidy(() => {
    const flat = tf.reshape(x, [h * w, c]) as tf.Tensor2D;
    const a = tf.reshape(tf.transpose(alpha, [1, 0, 2]), [c, runs * l]) as tf.Tensor2D;
    const cam = tf.reshape(tf.relu(tf.matMul(flat, a)), [h * w, runs, l]);
    const mx = tf.max(cam, 0, true);
    return tf.div(cam, tf.where(tf.greater(mx, 0), mx, tf.onesLike(mx))) as tf.Tensor3D;
  });
}

/**
 * Localization maps and seeds for a batch of images (spec §5.3) from a classifier built with
 * {@link FickleSelection}: a LayersModel containing one such layer (everything before it is the feature extractor;
 * the layer's output scores are the S_c of Grad-CAM), or `{ featureExtractor, selection }`.
 * `labels[n]` lists image n's present classes as classifier indices 0…K−1.
 */
export function localize(
  classifier: tfl.LayersModel | FickleClassifier,
  image: tf.Tensor4D,
  labels: readonly (readonly number[])[],
  opts: LocalizeOptions = {},
): LocalizeResult {
  const { features, selection } = resolveClassifier(classifier);
  const runs = opts.runs ?? 200;
  const aggregate = opts.aggregate ?? 'max';
  const mode = opts.gradient ?? 'analytic';
  const chunk = opts.chunk ?? 50;
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`localize: runs must be a positive integer, got ${runs}`);
  if (aggregate !== 'max' && aggregate !== 'mean')
    throw new Error(`localize: aggregate must be 'max' or 'mean', got '${aggregate}'`);
  if (mode !== 'analytic' && mode !== 'autodiff')
    throw new Error(`localize: gradient must be 'analytic' or 'autodiff', got '${mode}'`);
  if (image.rank !== 4) throw new Error(`localize: image must be rank 4 (NHWC), got rank ${image.rank}`);
  const N = image.shape[0];
  if (labels.length !== N) throw new Error(`localize: labels must list ${N} images, got ${labels.length}`);
  const K = selection.options.numClasses;
  const s = selection.options.kernelSize;
  const rate = selection.options.rate;
  for (const l of labels)
    for (const c of l)
      if (!Number.isInteger(c) || c < 0 || c >= K)
        throw new Error(`localize: labels must be class indices in [0, ${K}), got ${c}`);
  const baseSeed = opts.seed ?? drawSeed();

  const maps = tf.tidy(() => {
    const feats = features(image);
    if (feats.rank !== 4 || feats.shape[0] !== N)
      throw new Error(`localize: the feature extractor must give (N=${N},h,w,C), got [${feats.shape}]`);
    const [, h, w, C] = feats.shape;
    if (!selection.built) selection.build(feats.shape); // Keras-style lazy build (weights from the initialiser)
    const params = selection.classifierWeights();
    const perImage: tf.Tensor[] = [];
    for (let n = 0; n < N; n++) {
      const classes = [...new Set(labels[n]!)].sort((a, b) => a - b);
      if (classes.length === 0) {
        perImage.push(tf.zeros([h, w, K]));
        continue;
      }
      const x = tf.slice(feats, [n, 0, 0, 0], [1, h, w, C]) as tf.Tensor4D;
      let acc: tf.Tensor | null = null; // (h·w, L): running max, or running sum
      for (let start = 0; start < runs; start += chunk) {
        const r = Math.min(chunk, runs - start);
        const next: tf.Tensor = tf.tidy(() => {
          let alpha: tf.Tensor3D;
          if (mode === 'analytic') {
            const sums = drawSelectionSums(r, s, h, w, C, rate, mixSeed(baseSeed, n * 1_000_003 + start));
            alpha = selectionGradCamWeights(
              params['classifier/kernel'] as tf.Tensor4D,
              classes,
              tf.tensor3d(sums, [r, s * s, C]),
              h,
              w,
            );
          } else {
            alpha = tf.stack(
              Array.from({ length: r }, (_, i) =>
                autodiffGradCamWeights(x, params, classes, {
                  rate,
                  seed: mixSeed(baseSeed, n * 1_000_003 + start + i),
                }),
              ),
            ) as tf.Tensor3D;
          }
          const cams = normalisedCams(x, alpha);
          const part = aggregate === 'max' ? tf.max(cams, 1) : tf.sum(cams, 1);
          if (!acc) return part;
          return aggregate === 'max' ? tf.maximum(acc, part) : tf.add(acc, part);
        });
        acc?.dispose();
        acc = next;
      }
      const agg = acc!;
      const mx = tf.max(agg, 0, true);
      const norm = tf.div(agg, tf.where(tf.greater(mx, 0), mx, tf.onesLike(mx))); // (h·w, L)
      // scatter the present classes into K channels
      // (L, K) scatter matrix built directly: tf.oneHot needs K ≥ 2 and its float32 output is unreliable on wasm
      const scatter = new Float32Array(classes.length * K);
      classes.forEach((c, i) => {
        scatter[i * K + c] = 1;
      });
      const full = tf.matMul(norm, tf.tensor2d(scatter, [classes.length, K]));
      perImage.push(tf.reshape(full, [h, w, K]));
    }
    return tf.stack(perImage) as tf.Tensor4D;
  });
  const seeds = seedsFromMaps(maps, labels, opts);
  return { maps, seeds };
}

/**
 * Seeds from aggregated maps (spec §5.3 items 3–4): maps (N,h,w,K) in [0,1], labels[n] present classes.
 * Foreground c + 1 where the highest present map exceeds θ_fg; otherwise background (0) where the saliency is below
 * its threshold or — without saliency, the low-activation DEVIATION — where every present map is below θ_bg;
 * otherwise 255. Foreground wins over background — unless `fgMinSaliency` is set: then only where the saliency is at
 * least that value.
 */
export function seedsFromMaps(
  maps: tf.Tensor4D,
  labels: readonly (readonly number[])[],
  opts: SeedOptions = {},
): tf.Tensor3D {
  const thFg = opts.thFg ?? 0.5;
  const thBg = opts.thBg ?? 0.1;
  const salThr = opts.saliencyThreshold ?? 0.1;
  const [N, h, w, K] = maps.shape;
  if (labels.length !== N)
    throw new Error(`seedsFromMaps: labels must list ${N} images, got ${labels.length}`);
  let sal: Float32Array | null = null;
  if (opts.saliency) {
    const sm = opts.saliency;
    if (sm.rank !== 3 || sm.shape[0] !== N)
      throw new Error(`seedsFromMaps: saliency must be (N=${N},h,w), got [${sm.shape}]`);
    const t =
      sm.shape[1] === h && sm.shape[2] === w
        ? sm
        : tf.tidy(() =>
            tf.squeeze(tf.image.resizeBilinear(tf.expandDims(sm, 3) as tf.Tensor4D, [h, w]), [3]),
          );
    sal = Float32Array.from(t.dataSync());
    if (t !== sm) t.dispose();
  }
  const q = opts.fgQuantile;
  if (q !== undefined && !(q > 0 && q <= 1))
    throw new Error(`seedsFromMaps: fgQuantile must be in (0, 1], got ${q}`);
  const floor = thFg * (opts.fgFloor ?? 0.2);
  const fgMinSal = opts.fgMinSaliency ?? -Infinity;
  if (opts.fgMinSaliency !== undefined) {
    if (!(fgMinSal >= 0 && fgMinSal <= 1))
      throw new Error(`seedsFromMaps: fgMinSaliency must be in [0, 1], got ${opts.fgMinSaliency}`);
    if (!sal) throw new Error('seedsFromMaps: fgMinSaliency needs a saliency map (opts.saliency)');
  }
  const m = maps.dataSync();
  const out = new Int32Array(N * h * w);
  const column = q !== undefined ? new Float32Array(h * w) : null;
  const classTh = new Float32Array(K).fill(thFg);
  for (let n = 0; n < N; n++) {
    const classes = labels[n]!;
    if (column) {
      // each present class's own threshold: its map's (1 − q)-quantile over the image, not below the floor
      for (const c of classes) {
        for (let i = 0; i < h * w; i++) column[i] = m[(n * h * w + i) * K + c]!;
        column.sort();
        const k = Math.min(h * w - 1, Math.max(0, Math.ceil((1 - q!) * h * w) - 1));
        classTh[c] = Math.max(floor, column[k]!);
      }
    }
    for (let i = 0; i < h * w; i++) {
      const p = n * h * w + i;
      let best = -1;
      let bv = -Infinity;
      for (const c of classes) {
        const v = m[p * K + c]!;
        if (v > bv) {
          bv = v;
          best = c;
        }
      }
      if (best >= 0 && bv > classTh[best]! && !(sal && sal[p]! < fgMinSal)) out[p] = best + 1;
      else if (sal ? sal[p]! < salThr : bv < thBg) out[p] = 0;
      else out[p] = UNLABELLED;
    }
  }
  return tf.tensor3d(out, [N, h, w], 'int32');
}
