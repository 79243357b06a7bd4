import { writeImage } from '../io/image.js';
import { writeIndexPng } from '../io/indexPng.js';
import { IGNORE_INDEX, type IndexMask, type RgbImage } from '../io/types.js';
import { vocColorMap } from '../voc/classes.js';

/** Writes a predicted class-index mask as a palette PNG with the VOC colour map (atomic). */
export async function writePredictionPng(
  file: string,
  mask: IndexMask,
  palette: Uint8Array = vocColorMap(),
): Promise<void> {
  await writeIndexPng(file, mask, palette);
}

/**
 * Blends the colour of each pixel's class over the image: `out = (1 − alpha)·image + alpha·colour` for
 * foreground pixels; background (0) and ignore (255) pixels keep the image.
 */
export function overlayMask(
  image: RgbImage,
  mask: IndexMask,
  alpha = 0.5,
  palette: Uint8Array = vocColorMap(),
): RgbImage {
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new RangeError(
      `overlayMask: mask ${mask.width}x${mask.height} differs from image ${image.width}x${image.height}`,
    );
  }
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`overlayMask: alpha must be in [0, 1], got ${alpha}`);
  const out = new Uint8Array(image.data.length);
  for (let p = 0; p < mask.data.length; p++) {
    const c = mask.data[p]!;
    for (let k = 0; k < 3; k++) {
      const v = image.data[p * 3 + k]!;
      out[p * 3 + k] =
        c === 0 || c === IGNORE_INDEX ? v : Math.round((1 - alpha) * v + alpha * palette[c * 3 + k]!);
    }
  }
  return { width: image.width, height: image.height, data: out };
}

/** Writes the colour overlay of a prediction on its image (JPEG or PNG by extension, atomic). */
export async function writeOverlay(
  file: string,
  image: RgbImage,
  mask: IndexMask,
  alpha = 0.5,
): Promise<void> {
  await writeImage(file, overlayMask(image, mask, alpha));
}
