import type { IndexMask, RgbImage } from '../io/types.js';
import type { Rng } from '../synthetic/rng.js';
import { type Box, resizeBicubic, resizeNearest } from './resize.js';

/** ImageNet mean and std of spec §1.2 (RGB, on [0,1] values). */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
/**
 * ImageNet per-channel standard deviation of spec §1.2 (RGB, on [0,1] values); {@link normalizeImageNet}
 * computes (x − mean)/std.
 */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Options of {@link augmentTrain}; defaults are spec §3.10 (`configs/voc_resnet38.yaml`). */
export interface AugmentOptions {
  /** Output square side (default 321). */
  size?: number;
  /** Crop area range as a fraction of the image area (default [0.9, 1.0]). */
  scale?: [number, number];
  /** Crop aspect-ratio range w/h (default [3/4, 4/3]). */
  ratio?: [number, number];
  /** Horizontal flip probability (default 0.5). */
  flipProb?: number;
  /** Colour jitter strengths brightness/contrast/saturation/hue (default 0.3/0.3/0.3/0.1); null disables. */
  jitter?: { brightness: number; contrast: number; saturation: number; hue: number } | null;
}

/** One augmented training sample, HWC float32. */
export interface AugmentedSample {
  size: number;
  /** ImageNet-normalised image (spec §1.2), `size*size*3`. */
  image: Float32Array;
  /** The same image before normalisation, in [0,1] after colour jitter: the "raw" image PAMR uses (spec §1.2). */
  raw: Float32Array;
  /** The mask after the same crop and flip, nearest-sampled, if one was given. */
  mask?: Uint8Array;
  /** What was drawn, for tests and debugging. */
  params: {
    box: Box;
    flip: boolean;
    jitter: { order: number[]; b: number; c: number; s: number; h: number } | null;
  };
}

/**
 * Samples a RandomResizedCrop box (spec §3.10, §7): up to 10 tries of area ∈ U[scale]·A and log-uniform aspect
 * within `ratio`, position uniform; if none fits, the largest centred crop whose aspect is within `ratio`.
 * (Current torchvision semantics; the pinned torchvision 0.2.1 drew the aspect uniformly and could swap w/h.)
 */
export function sampleCropBox(
  rng: Rng,
  width: number,
  height: number,
  scale: [number, number],
  ratio: [number, number],
): Box {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let t = 0; t < 10; t++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const y = rng.int(0, height - h);
      const x = rng.int(0, width - w);
      return { x, y, w, h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), w, h };
}

/** Mirrors an interleaved row-major image with `channels` values per pixel, in place. */
export function flipHorizontal<T extends Uint8Array | Float32Array>(
  data: T,
  width: number,
  height: number,
  channels: number,
): T {
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width >> 1; x++) {
      const a = (row + x) * channels;
      const b = (row + width - 1 - x) * channels;
      for (let c = 0; c < channels; c++) {
        const t = data[a + c]!;
        data[a + c] = data[b + c]!;
        data[b + c] = t;
      }
    }
  }
  return data;
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

function gray(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

function shiftHue(img: Float32Array, shift: number): void {
  for (let p = 0; p < img.length; p += 3) {
    const r = img[p]!;
    const g = img[p + 1]!;
    const b = img[p + 2]!;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const d = max - min;
    if (d === 0) continue; // grey: hue undefined, unchanged
    let h: number;
    if (max === r) h = ((g - b) / d) % 6;
    else if (max === g) h = (b - r) / d + 2;
    else h = (r - g) / d + 4;
    h = h / 6 + shift;
    h -= Math.floor(h);
    const s = d / max;
    const v = max;
    // HSV → RGB without temporaries: channel n takes v − v·s·clamp(min(k, 4 − k), 0, 1), k = (n + 6h) mod 6.
    const h6 = h * 6;
    const vs = v * s;
    let k = (5 + h6) % 6;
    const rr = v - vs * Math.max(0, Math.min(k, 4 - k, 1));
    k = (3 + h6) % 6;
    const gg = v - vs * Math.max(0, Math.min(k, 4 - k, 1));
    k = (1 + h6) % 6;
    const bb = v - vs * Math.max(0, Math.min(k, 4 - k, 1));
    img[p] = rr;
    img[p + 1] = gg;
    img[p + 2] = bb;
  }
}

/**
 * Colour jitter on a [0,1] RGB float image in place (spec §3.10, §7): brightness, contrast, saturation and hue
 * applied in `order` (0 = brightness, 1 = contrast, 2 = saturation, 3 = hue) with factors b, c, s (multiplicative)
 * and hue shift h (fraction of the hue circle). Contrast blends with the mean grey value of the image,
 * saturation with each pixel's grey value (ITU-R 601 weights); every step clamps to [0,1].
 */
export function colorJitter(
  img: Float32Array,
  order: readonly number[],
  b: number,
  c: number,
  s: number,
  h: number,
): void {
  for (const op of order) {
    if (op === 0) {
      for (let i = 0; i < img.length; i++) img[i] = clamp01(img[i]! * b);
    } else if (op === 1) {
      let m = 0;
      for (let p = 0; p < img.length; p += 3) m += gray(img[p]!, img[p + 1]!, img[p + 2]!);
      m /= img.length / 3;
      for (let i = 0; i < img.length; i++) img[i] = clamp01(c * img[i]! + (1 - c) * m);
    } else if (op === 2) {
      for (let p = 0; p < img.length; p += 3) {
        const g = gray(img[p]!, img[p + 1]!, img[p + 2]!);
        for (let k = 0; k < 3; k++) img[p + k] = clamp01(s * img[p + k]! + (1 - s) * g);
      }
    } else if (op === 3) {
      if (h !== 0) shiftHue(img, h);
    } else {
      throw new RangeError(`colorJitter: unknown op ${op} (expected 0..3)`);
    }
  }
}

/** ImageNet normalisation (spec §1.2) of a [0,1] HWC image into a new array. */
export function normalizeImageNet(raw: Float32Array): Float32Array {
  const out = new Float32Array(raw.length);
  for (let p = 0; p < raw.length; p += 3) {
    out[p] = (raw[p]! - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
    out[p + 1] = (raw[p + 1]! - IMAGENET_MEAN[1]) / IMAGENET_STD[1];
    out[p + 2] = (raw[p + 2]! - IMAGENET_MEAN[2]) / IMAGENET_STD[2];
  }
  return out;
}

/** Converts 8-bit RGB to [0,1] floats. */
export function toUnitFloat(data: Uint8Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! / 255;
  return out;
}

/**
 * The training augmentation of spec §3.10: RandomResizedCrop (bicubic, resized to a square), horizontal flip,
 * colour jitter in random order, ImageNet normalisation. The mask follows crop and flip with nearest sampling.
 * All draws come from `rng`, in a fixed order (crop, flip, jitter order, b, c, s, h), so one seed per sample
 * makes the sample reproducible whatever thread computes it.
 */
export function augmentTrain(
  rng: Rng,
  image: RgbImage,
  mask: IndexMask | undefined,
  options: AugmentOptions = {},
): AugmentedSample {
  const size = options.size ?? 321;
  const scale = options.scale ?? [0.9, 1.0];
  const ratio = options.ratio ?? [3 / 4, 4 / 3];
  const flipProb = options.flipProb ?? 0.5;
  const jit =
    options.jitter === undefined
      ? { brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.1 }
      : options.jitter;
  if (mask && (mask.width !== image.width || mask.height !== image.height)) {
    throw new RangeError(
      `augmentTrain: mask ${mask.width}x${mask.height} differs from image ${image.width}x${image.height}`,
    );
  }
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`augmentTrain: size must be a positive integer, got ${size}`);
  const box = sampleCropBox(rng, image.width, image.height, scale, ratio);
  const flip = rng.next() < flipProb;
  const resized = resizeBicubic(image, box, size, size);
  const raw = toUnitFloat(resized.data);
  let m = mask ? resizeNearest(mask, box, size, size).data : undefined;
  if (flip) {
    flipHorizontal(raw, size, size, 3);
    if (m) m = flipHorizontal(m, size, size, 1);
  }
  let jitter: AugmentedSample['params']['jitter'] = null;
  if (jit) {
    const order = [0, 1, 2, 3];
    for (let i = 3; i > 0; i--) {
      const j = rng.int(0, i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const b = rng.uniform(Math.max(0, 1 - jit.brightness), 1 + jit.brightness);
    const c = rng.uniform(Math.max(0, 1 - jit.contrast), 1 + jit.contrast);
    const s = rng.uniform(Math.max(0, 1 - jit.saturation), 1 + jit.saturation);
    const h = rng.uniform(-jit.hue, jit.hue);
    colorJitter(raw, order, b, c, s, h);
    jitter = { order, b, c, s, h };
  }
  const out: AugmentedSample = { size, image: normalizeImageNet(raw), raw, params: { box, flip, jitter } };
  if (m) out.mask = m;
  return out;
}
