import type { RgbImage } from '../io/types.js';
import { flipHorizontal, normalizeImageNet, toUnitFloat } from './augment.js';
import { resizeBicubic, resizeBilinearFloat } from './resize.js';

/** Options of {@link makeInferenceViews}; defaults are spec §3.11. */
export interface InferenceViewOptions {
  /** Scales in batch order (default [1, 0.5, 1.5, 2]). */
  scales?: readonly number[];
  /** Add a flipped copy after each scale (default true). */
  flip?: boolean;
  /** Square canvas side the views are centred in (default 1024). */
  padSize?: number;
}

/** Where one view sits in its canvas; enough to map a prediction back (see {@link viewToOriginal}). */
export interface ViewPlacement {
  scale: number;
  flip: boolean;
  /** Resized image size, round(W·s) × round(H·s). */
  width: number;
  height: number;
  /** Zero padding before the image: ⌊(P − w)/2⌋, ⌊(P − h)/2⌋. */
  padLeft: number;
  padTop: number;
}

/** The views of one image, HWC float32 canvases in batch order [s1, s1-flip, s2, s2-flip, …]. */
export interface InferenceViews {
  padSize: number;
  originalWidth: number;
  originalHeight: number;
  views: ViewPlacement[];
  /** `views.length` canvases of `padSize*padSize*3`, normalised, zero outside the image (spec §3.11 step 2). */
  canvases: Float32Array[];
}

/**
 * Builds the multi-scale, flipped inference views of spec §3.11: bicubic resize per scale, optional horizontal
 * flip, ImageNet normalisation, then centred placement on a zero canvas (the padding is 0 *after*
 * normalisation).
 */
export function makeInferenceViews(image: RgbImage, options: InferenceViewOptions = {}): InferenceViews {
  const scales = options.scales ?? [1, 0.5, 1.5, 2];
  const flip = options.flip ?? true;
  const P = options.padSize ?? 1024;
  const views: ViewPlacement[] = [];
  const canvases: Float32Array[] = [];
  for (const s of scales) {
    const w = Math.round(image.width * s);
    const h = Math.round(image.height * s);
    if (!(s > 0) || w < 1 || h < 1)
      throw new RangeError(`makeInferenceViews: scale ${s} gives an empty image`);
    if (w > P || h > P) {
      throw new RangeError(
        `makeInferenceViews: scale ${s} makes the ${image.width}x${image.height} image ${w}x${h}, larger than padSize ${P}`,
      );
    }
    const base = normalizeImageNet(
      toUnitFloat(resizeBicubic(image, { x: 0, y: 0, w: image.width, h: image.height }, w, h).data),
    );
    const padLeft = Math.floor((P - w) / 2);
    const padTop = Math.floor((P - h) / 2);
    for (const f of flip ? [false, true] : [false]) {
      const src = f ? flipHorizontal(base.slice(), w, h, 3) : base;
      const canvas = new Float32Array(P * P * 3);
      for (let y = 0; y < h; y++)
        canvas.set(src.subarray(y * w * 3, (y + 1) * w * 3), ((padTop + y) * P + padLeft) * 3);
      views.push({ scale: s, flip: f, width: w, height: h, padLeft, padTop });
      canvases.push(canvas);
    }
  }
  return { padSize: P, originalWidth: image.width, originalHeight: image.height, views, canvases };
}

/**
 * Maps one view's prediction (HWC float, `mapSize`×`mapSize`×`channels`, covering the canvas) back to the
 * original image (spec §3.11 step 5): cut the un-padded region, bilinear resize with align_corners=False to
 * H×W, and un-flip. If the map is smaller than the canvas (e.g. before upsampling), the cut is scaled.
 */
export function viewToOriginal(
  map: Float32Array,
  mapSize: number,
  channels: number,
  view: ViewPlacement,
  padSize: number,
  originalWidth: number,
  originalHeight: number,
): Float32Array {
  if (map.length !== mapSize * mapSize * channels) {
    throw new RangeError(`viewToOriginal: map length ${map.length} != ${mapSize}*${mapSize}*${channels}`);
  }
  const k = mapSize / padSize;
  const box = {
    x: Math.round(view.padLeft * k),
    y: Math.round(view.padTop * k),
    w: Math.max(1, Math.round(view.width * k)),
    h: Math.max(1, Math.round(view.height * k)),
  };
  const out = resizeBilinearFloat(map, mapSize, mapSize, channels, box, originalWidth, originalHeight);
  return view.flip ? flipHorizontal(out, originalWidth, originalHeight, channels) : out;
}
