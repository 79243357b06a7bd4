/**
 * FickleNet's stochastic hidden-unit selection (spec §5.2) as one contract-conforming layer with a functional twin.
 *
 * The paper's formulation: expand x (N,h,w,C) into tiles, one s×s neighbourhood per position (zero padding ⌊s/2⌋)
 * → E (N, s·h, s·w, C); drop units of E with rate p, scale kept units by 1/(1−p), force the centre of every tile
 * to be kept; classify with a stride-s, kernel-s convolution (K classes, with bias) → score map (N,h,w,K); global
 * average pooling → scores (N,K).
 *
 * What is computed instead (exactly the same function): a tile element at offset o = (dy,dx) of the tile of u is
 * x(u + o − r) (r = ⌊s/2⌋), so with W_o the (C,K) slice of the kernel at o and m_o(u,c) the mask of that element,
 *
 *   S(u) = b + Σ_o Σ_c W_o[c,:] · g_o(u,c) · x(u + o − r, c),   g_o = m_o/(1−p) (o ≠ centre),  g_centre = 1.
 *
 * Memory: the s²-times expanded map (nor its mask) is never built. The masks are drawn per offset o as the list of
 * kept units (≈ (1−p)·N·h·w·C indices, geometric gaps, `random.ts`); the sum over o runs over groups of offsets,
 * each group's masked, shifted inputs written into one (N·h·w, G·C) buffer and multiplied with its (G·C, K) kernel
 * rows, added into the (N·h·w, K) accumulator, then released. G is chosen so a group holds at most 16 MiB of
 * masked input (`groupBytes`), but always at least one offset: so at most max(16 MiB, |x|) besides x, the
 * kernel, one offset's kept-unit list and the accumulator. The backward pass (a custom gradient) keeps only x,
 * the kernel and the 31-bit seed, and regenerates every offset's kept units from (seed, offset).
 *
 * Scaling: every kept non-centre unit is scaled by 1/(1−p); the centre unit is always kept and NOT scaled
 * (its multiplier is exactly 1, "the mask is forced to 1"). Then E[S] over the masks equals the deterministic
 * s×s convolution with padding r, which is what the layer computes when it is not random (eval), so the
 * deterministic path is the expectation of the stochastic one, and p = 0 gives that same convolution.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2d, type Kwargs, type LayerArgs, registerWsssLayer, type Shape, WsssLayer } from '@wsss/core';
import { drawSeed, keptIndices, mixSeed } from './random.js';

/** Options of {@link FickleSelection} (defaults {@link FICKLE_SELECTION_DEFAULTS}). */
export interface FickleSelectionOptions {
  /** K: number of (foreground) classes of the classifier. Default 20 (VOC). */
  numClasses: number;
  /** s: window of the feature-map expansion and kernel/stride of the classifier (odd). [default] 9 (spec §5.2). */
  kernelSize: number;
  /** p: drop rate of the centre-preserving spatial dropout. 0.9 (spec §5.2, Table 5). */
  rate: number;
  /** Output `[scores, scoreMap]` instead of `scores` alone. Default false. */
  returnScoreMap: boolean;
}

/**
 * Default options of {@link FickleSelection} (spec §5.2): 20 classes (VOC), window s = 9, drop rate p = 0.9,
 * scores only.
 */
export const FICKLE_SELECTION_DEFAULTS: FickleSelectionOptions = {
  numClasses: 20,
  kernelSize: 9,
  rate: 0.9,
  returnScoreMap: false,
};

/** Options of the functional twin {@link fickleSelection}. */
export interface FickleSelectionCallOptions {
  /** Draw a random selection (training, or stochastic inference); otherwise the deterministic s×s conv. */
  stochastic: boolean;
  /** p. Default 0.9. */
  rate?: number;
  /** Seed of the selection; default: the next seed of `seedRandom`'s stream, else random. */
  seed?: number;
  /**
   * A {0,1} keep-mask on the expanded map, shape (N, s·h, s·w, C) (tile of u at rows u_y·s…u_y·s+s−1), replacing
   * the random draw (tests, parity). Tile centres are kept whatever it says. Kept units are scaled by 1/(1−p).
   */
  mask?: tf.Tensor4D;
  /** Implementation of the random path: default 'sparse' on cpu/wasm, 'dense' elsewhere (same numbers). */
  impl?: SelectionImpl;
  /** Sparse path: most bytes of masked input held at once (at least one offset's). Default 16 MiB. */
  groupBytes?: number;
}

/**
 * What the functional twin {@link fickleSelection} returns: the image-level scores and the score map they
 * average.
 */
export interface FickleSelectionResult {
  /** Image-level class scores (N,K): global average of the score map. */
  scores: tf.Tensor2D;
  /** Class score map (N,h,w,K). */
  scoreMap: tf.Tensor4D;
}

function checkRate(rate: number, who: string): void {
  if (!(rate >= 0 && rate < 1)) throw new Error(`${who}: rate must be in [0, 1), got ${rate}`);
}

/**
 * The window offsets o = (dy,dx) ∈ [0,s)² whose shifted view of x is not entirely zero padding, with their
 * index dy·s + dx (which seeds the offset's mask, so skipping some never changes the others).
 */
function liveOffsets(s: number, h: number, w: number): { dy: number; dx: number; index: number }[] {
  const r = (s - 1) / 2;
  const out: { dy: number; dx: number; index: number }[] = [];
  for (let dy = 0; dy < s; dy++) {
    for (let dx = 0; dx < s; dx++) {
      if (Math.abs(dy - r) < h && Math.abs(dx - r) < w) out.push({ dy, dx, index: dy * s + dx });
    }
  }
  return out;
}

/**
 * The kept units of window offset `index` = dy·s + dx of a selection drawn with `seed`: ascending flat indices
 * into (N,h,w,C) (position u, channel c of the tiles' element at that offset). The one source of every mask.
 */
export function selectionKeptUnits(count: number, rate: number, seed: number, index: number): Int32Array {
  return keptIndices(count, 1 - rate, mixSeed(seed, index));
}

/**
 * The keep-mask of the expanded map, materialised (N, s·h, s·w, C) with values {0,1} — exactly the mask a
 * stochastic call with this `seed` uses (tile centres 1). For inspection and tests only: the layer never builds it.
 */
export function fickleExpandedMask(
  shape: [number, number, number, number],
  kernelSize: number,
  rate: number,
  seed: number,
): tf.Tensor4D {
  const [n, h, w, c] = shape;
  const s = kernelSize;
  const r = (s - 1) / 2;
  const out = new Float32Array(n * s * h * s * w * c);
  const put = (q: number, dy: number, dx: number) => {
    const k = q % c;
    const pos = (q - k) / c;
    const j = pos % w;
    const i = ((pos - j) / w) % h;
    const b = Math.floor(pos / (h * w));
    out[((b * s * h + i * s + dy) * s * w + (j * s + dx)) * c + k] = 1;
  };
  for (let dy = 0; dy < s; dy++) {
    for (let dx = 0; dx < s; dx++) {
      if (dy === r && dx === r) for (let q = 0; q < n * h * w * c; q++) put(q, dy, dx);
      else for (const q of selectionKeptUnits(n * h * w * c, rate, seed, dy * s + dx)) put(q, dy, dx);
    }
  }
  return tf.tensor4d(out, [n, s * h, s * w, c]);
}

/** Kept units of every offset read from an injected expanded mask (N, s·h, s·w, C). */
function keptFromMask(mask: tf.Tensor4D, s: number): (index: number) => Int32Array {
  const [n, sh, sw, c] = mask.shape;
  const h = sh / s;
  const w = sw / s;
  const m = mask.dataSync();
  return (index) => {
    const dy = Math.floor(index / s);
    const dx = index % s;
    const out: number[] = [];
    for (let b = 0; b < n; b++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          const src = ((b * sh + i * s + dy) * sw + j * s + dx) * c;
          const dst = ((b * h + i) * w + j) * c;
          for (let k = 0; k < c; k++) if (m[src + k]! > 0.5) out.push(dst + k);
        }
    return Int32Array.from(out);
  };
}

/** Which implementation runs a random selection (same numbers; see {@link fickleSelection}). */
export type SelectionImpl = 'sparse' | 'dense';

/** Most bytes of masked input the sparse path holds at once (but always at least one offset's). */
export const SPARSE_GROUP_BYTES = 16 * 1024 * 1024;

type Offset = { dy: number; dx: number; index: number };

/**
 * The score map S (N,h,w,K) of a random selection, without bias, through a custom gradient that keeps only x and
 * the kernel (masks are regenerated from `keptOf` in the backward pass). `keptOf(index)` gives offset `index`'s
 * kept units (flat (N,h,w,C) indices); the centre is always kept, ×1; the others ×`scale`.
 *
 * - 'sparse' (cpu, wasm): offsets in groups of G (G·|x|·4 bytes ≤ max(16 MiB, |x|·4)): the masked, shifted inputs
 *   of a group are written from x's values at the kept units only (~(1−p) of them) side by side into one
 *   (N·h·w, G·C) buffer, multiplied with the group's (G·C, K) kernel rows in one matmul; the backward pass
 *   scatters the (N·h·w, G·C) input gradient back at the same units. Per-op costs dominated a per-offset
 *   slice/mask/pad formulation on wasm.
 * - 'dense' (other backends, where reading x back is costly): per offset a slice of the padded x times a mask
 *   tensor, one matmul, and in the backward pass the padded input gradient.
 */
function stochasticScoreMap(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  keptOf: (index: number) => Int32Array,
  scale: number,
  impl: SelectionImpl,
  groupBytes: number,
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [s, , , k] = kernel.shape;
  const r = (s - 1) / 2;
  const total = n * h * w * c;
  const rows = n * h * w;
  const offsets = liveOffsets(s, h, w);
  const centreIndex = r * s + r;
  // Unit q = ((b·h + i)·w + j)·C + ch of offset o reads x(b, i+dy−r, j+dx−r, ch) = x[q + shift], if inside.
  const inside = (q: number, o: Offset) => {
    const pos = (q / c) | 0;
    const j = pos % w;
    const i = ((pos / w) | 0) % h;
    const yy = i + o.dy - r;
    const xx = j + o.dx - r;
    return yy >= 0 && yy < h && xx >= 0 && xx < w;
  };
  const shiftOf = (o: Offset) => ((o.dy - r) * w + (o.dx - r)) * c;

  if (impl === 'sparse') {
    const perGroup = Math.max(1, Math.floor(groupBytes / (total * 4)));
    const groups: Offset[][] = [];
    for (let i = 0; i < offsets.length; i += perGroup) groups.push(offsets.slice(i, i + perGroup));
    /**
     * The group's masked inputs side by side, (N·h·w, G·C) — or transposed, (G·C, N·h·w), for the kernel
     * gradient: tfjs-wasm's matmul is several times slower with a transpose flag than on a transposed copy.
     */
    const groupInput = (xData: Float32Array, g: Offset[], transposed = false) => {
      const gc = g.length * c;
      const buf = new Float32Array(rows * gc);
      // element (row p, column col) lives at p·gc + col, or col·rows + p when transposed
      const rs = transposed ? 1 : gc;
      const cs = transposed ? rows : 1;
      g.forEach((o, gi) => {
        const col = gi * c;
        if (o.index === centreIndex) {
          for (let p = 0; p < rows; p++)
            for (let ch = 0; ch < c; ch++) buf[p * rs + (col + ch) * cs] = xData[p * c + ch]!;
          return;
        }
        const shift = shiftOf(o);
        const kept = keptOf(o.index);
        for (let t = 0; t < kept.length; t++) {
          const q = kept[t]!;
          if (!inside(q, o)) continue;
          const ch = q % c;
          buf[((q - ch) / c) * rs + (col + ch) * cs] = xData[q + shift]! * scale;
        }
      });
      return transposed ? tf.tensor2d(buf, [gc, rows]) : tf.tensor2d(buf, [rows, gc]);
    };
    /** The group's kernel rows (G·C, K), or transposed (K, G·C), copied from the kernel's values. */
    const groupTaps = (kData: Float32Array, g: Offset[], transposed = false) => {
      const gc = g.length * c;
      const out = new Float32Array(gc * k);
      g.forEach((o, gi) => {
        const src = kData.subarray(o.index * c * k, (o.index + 1) * c * k);
        if (!transposed) out.set(src, gi * c * k);
        else
          for (let ch = 0; ch < c; ch++)
            for (let j = 0; j < k; j++) out[j * gc + gi * c + ch] = src[ch * k + j]!;
      });
      return transposed ? tf.tensor2d(out, [k, gc]) : tf.tensor2d(out, [gc, k]);
    };
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const save = args.pop() as tf.GradSaveFunc;
      const [xIn, kIn] = args as [tf.Tensor4D, tf.Tensor4D];
      save([xIn, kIn]);
      const xData = xIn.dataSync() as Float32Array;
      const kData = kIn.dataSync() as Float32Array;
      let acc: tf.Tensor = tf.zeros([rows, k]);
      for (const g of groups) {
        const next = tf.tidy(() => tf.add(acc, tf.matMul(groupInput(xData, g), groupTaps(kData, g))));
        acc.dispose();
        acc = next;
      }
      const value = tf.reshape(acc, [n, h, w, k]);
      acc.dispose();
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ks] = saved as [tf.Tensor4D, tf.Tensor4D];
          const dyFlat = tf.reshape(dy, [rows, k]) as tf.Tensor2D;
          const xsData = xs.dataSync() as Float32Array;
          const ksData = ks.dataSync() as Float32Array;
          const dxData = new Float32Array(total);
          const dkData = new Float32Array(s * s * c * k);
          for (const g of groups) {
            const gc = g.length * c;
            const [gxT, dtT] = tf.tidy(() => [
              tf.matMul(dyFlat, groupTaps(ksData, g, true)), // (N·h·w, G·C)
              tf.matMul(groupInput(xsData, g, true), dyFlat), // (G·C, K)
            ]);
            const gIn = gxT!.dataSync();
            const dTap = dtT!.dataSync();
            tf.dispose([gxT!, dtT!]);
            g.forEach((o, gi) => {
              dkData.set(dTap.subarray(gi * c * k, (gi + 1) * c * k), o.index * c * k);
              const col = gi * c;
              if (o.index === centreIndex) {
                for (let p = 0; p < rows; p++)
                  for (let ch = 0; ch < c; ch++)
                    dxData[p * c + ch] = dxData[p * c + ch]! + gIn[p * gc + col + ch]!;
                return;
              }
              const shift = shiftOf(o);
              const kept = keptOf(o.index);
              for (let t = 0; t < kept.length; t++) {
                const q = kept[t]!;
                if (!inside(q, o)) continue;
                const ch = q % c;
                dxData[q + shift] = dxData[q + shift]! + gIn[((q - ch) / c) * gc + col + ch]! * scale;
              }
            });
          }
          dyFlat.dispose();
          return [tf.tensor4d(dxData, [n, h, w, c]), tf.tensor4d(dkData, [s, s, c, k])];
        },
      };
    });
    return f(x, kernel) as tf.Tensor4D;
  }

  const pad: [number, number][] = [
    [0, 0],
    [r, r],
    [r, r],
    [0, 0],
  ];
  const tap = (kern: tf.Tensor4D, o: Offset) =>
    tf.reshape(tf.slice(kern, [o.dy, o.dx, 0, 0], [1, 1, c, k]), [c, k]) as tf.Tensor2D;
  const maskOf = (o: Offset) => {
    const m = new Float32Array(total);
    for (const q of keptOf(o.index)) m[q] = scale;
    return tf.tensor4d(m, [n, h, w, c]);
  };
  const maskedInput = (xpad: tf.Tensor4D, o: Offset) => {
    const view = tf.slice(xpad, [0, o.dy, o.dx, 0], [n, h, w, c]);
    return tf.reshape(o.index === centreIndex ? view : tf.mul(view, maskOf(o)), [rows, c]) as tf.Tensor2D;
  };
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xIn, kIn] = args as [tf.Tensor4D, tf.Tensor4D];
    save([xIn, kIn]);
    const xpad = tf.pad(xIn, pad);
    let acc: tf.Tensor = tf.zeros([rows, k]);
    for (const o of offsets) {
      const next = tf.tidy(() => tf.add(acc, tf.matMul(maskedInput(xpad, o), tap(kIn, o))));
      acc.dispose();
      acc = next;
    }
    xpad.dispose();
    const value = tf.reshape(acc, [n, h, w, k]);
    acc.dispose();
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ks] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dyFlat = tf.reshape(dy, [rows, k]) as tf.Tensor2D;
        const xpadB = tf.pad(xs, pad);
        let dxpad: tf.Tensor = tf.zeros(xpadB.shape);
        const dTaps = new Map<number, tf.Tensor2D>();
        for (const o of offsets) {
          const next = tf.tidy(() => {
            dTaps.set(o.index, tf.keep(tf.matMul(maskedInput(xpadB, o), dyFlat, true, false)));
            let g4 = tf.reshape(tf.matMul(dyFlat, tap(ks, o), false, true), [n, h, w, c]);
            if (o.index !== centreIndex) g4 = tf.mul(g4, maskOf(o));
            return tf.add(
              dxpad,
              tf.pad(g4, [
                [0, 0],
                [o.dy, 2 * r - o.dy],
                [o.dx, 2 * r - o.dx],
                [0, 0],
              ]),
            );
          });
          dxpad.dispose();
          dxpad = next;
        }
        const dx = tf.slice(dxpad, [0, r, r, 0], [n, h, w, c]);
        const zero = tf.zeros([c, k]);
        const taps = Array.from({ length: s * s }, (_, i) => dTaps.get(i) ?? zero);
        const dk = tf.reshape(tf.stack(taps), [s, s, c, k]);
        tf.dispose([dyFlat, xpadB, dxpad, zero, ...dTaps.values()]);
        return [dx, dk];
      },
    };
  });
  return f(x, kernel) as tf.Tensor4D;
}

/**
 * Functional FickleNet selection + classifier. `params` holds `classifier/kernel` (s,s,C,K) and optionally
 * `classifier/bias` (K) — the names of {@link FickleSelection}'s weights (`weightRecord()`).
 */
export function fickleSelection(
  x: tf.Tensor4D,
  params: Record<string, tf.Tensor>,
  opts: FickleSelectionCallOptions,
): FickleSelectionResult {
  const kernel = params['classifier/kernel'] as tf.Tensor4D | undefined;
  const bias = params['classifier/bias'] as tf.Tensor1D | undefined;
  if (!kernel) throw new Error("fickleSelection: params must contain 'classifier/kernel' (s,s,C,K)");
  if (x.rank !== 4) throw new Error(`fickleSelection: x must be rank 4 (NHWC), got rank ${x.rank}`);
  const [s, s2, c, k] = kernel.shape;
  if (kernel.rank !== 4 || s !== s2 || s % 2 !== 1 || c !== x.shape[3]) {
    throw new Error(
      `fickleSelection: classifier/kernel must be (s,s,C,K) with odd s and C = x's channels ${x.shape[3]}, got [${kernel.shape}]`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== k)) {
    throw new Error(`fickleSelection: classifier/bias must have shape [${k}], got [${bias.shape}]`);
  }
  const rate = opts.rate ?? FICKLE_SELECTION_DEFAULTS.rate;
  checkRate(rate, 'fickleSelection');
  const [n, h, w] = x.shape;
  if (opts.mask && !tf.util.arraysEqual(opts.mask.shape, [n, s * h, s * w, c])) {
    throw new Error(
      `fickleSelection: mask must be the expanded map's shape [${[n, s * h, s * w, c]}], got [${opts.mask.shape}]`,
    );
  }
  return tf.tidy(() => {
    const r = (s - 1) / 2;
    let map: tf.Tensor4D;
    if (!opts.stochastic || (rate === 0 && !opts.mask)) {
      map = conv2d(x, kernel, { padding: r });
    } else {
      const seed = opts.seed ?? drawSeed();
      const total = n * h * w * c;
      const keptOf = opts.mask
        ? keptFromMask(opts.mask, s)
        : (index: number) => selectionKeptUnits(total, rate, seed, index);
      const impl = opts.impl ?? (['cpu', 'wasm'].includes(tf.getBackend()) ? 'sparse' : 'dense');
      map = stochasticScoreMap(
        x,
        kernel,
        keptOf,
        1 / (1 - rate),
        impl,
        opts.groupBytes ?? SPARSE_GROUP_BYTES,
      );
    }
    if (bias) map = tf.add(map, bias);
    return { scoreMap: map, scores: tf.mean(map, [1, 2]) as tf.Tensor2D };
  });
}

/**
 * The FickleNet layer: input the feature map x (N,h,w,C); output the class scores (N,K), or
 * `[scores, scoreMap]` with `returnScoreMap`. Weights `classifier/kernel` (s,s,C,K) and `classifier/bias` (K).
 *
 * Random only when called with `{training: true}` or `{stochastic: true}` (FickleNet keeps the selection on at
 * inference, spec §5.3); `seed` and `mask` kwargs are passed to {@link fickleSelection}. Otherwise it is the
 * deterministic s×s convolution (the expectation of the random one; see the module comment).
 */
export class FickleSelection extends WsssLayer<FickleSelectionOptions> {
  static className = 'WsssFickleSelection';

  constructor(args: Partial<FickleSelectionOptions> & LayerArgs = {}) {
    super(args, FICKLE_SELECTION_DEFAULTS);
    const o = this.options;
    if (!Number.isInteger(o.numClasses) || o.numClasses <= 0)
      throw new Error(`WsssFickleSelection: numClasses must be a positive integer, got ${o.numClasses}`);
    if (!Number.isInteger(o.kernelSize) || o.kernelSize < 1 || o.kernelSize % 2 !== 1)
      throw new Error(`WsssFickleSelection: kernelSize must be an odd positive integer, got ${o.kernelSize}`);
    checkRate(o.rate, 'WsssFickleSelection');
  }

  private inShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    if (s.length !== 4 || !s[3])
      throw new Error(`WsssFickleSelection expects NHWC input with known channels, got ${JSON.stringify(s)}`);
    return s;
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = this.inShape(inputShape);
    this.addConv('classifier', {
      kernelSize: this.options.kernelSize,
      inChannels: s[3]!,
      outChannels: this.options.numClasses,
      bias: true,
    });
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const s = this.inShape(inputShape);
    const k = this.options.numClasses;
    const scores: Shape = [s[0] ?? null, k];
    return this.options.returnScoreMap ? [scores, [s[0] ?? null, s[1] ?? null, s[2] ?? null, k]] : scores;
  }

  /** Whether a call with these kwargs draws a random selection. */
  isStochastic(kwargs: Kwargs | undefined): boolean {
    return this.isTraining(kwargs) || kwargs?.['stochastic'] === true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const { scores, scoreMap } = fickleSelection(x, this.classifierWeights(), {
      stochastic: this.isStochastic(kwargs),
      rate: this.options.rate,
      seed: kwargs?.['seed'],
      mask: kwargs?.['mask'],
    });
    if (this.options.returnScoreMap) return [scores, scoreMap];
    scoreMap.dispose();
    return scores;
  }

  /** The classifier's current weights, `{ 'classifier/kernel', 'classifier/bias' }`. */
  classifierWeights(): Record<string, tf.Tensor> {
    const ops = this.ops(false);
    return {
      'classifier/kernel': ops.weight('classifier/kernel'),
      'classifier/bias': ops.weight('classifier/bias'),
    };
  }
}
registerWsssLayer(FickleSelection);
