import { DatasetError } from './errors.js';
import { IGNORE_INDEX, type IndexMask, type RgbImage } from './types.js';

/**
 * Checks a decoded mask against its image and the class count: the same size as the image, and every value a
 * class index `0..numClasses` or {@link IGNORE_INDEX}. Returns the mask without any palette.
 * @param file - the mask file, named in the error.
 * @throws DatasetError naming `file`, with the sizes or the first offending value and its pixel.
 */
export function checkMask(mask: IndexMask, image: RgbImage, numClasses: number, file: string): IndexMask {
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new DatasetError(
      file,
      `mask size ${mask.width}x${mask.height} differs from image size ${image.width}x${image.height}`,
    );
  }
  const d = mask.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v > numClasses && v !== IGNORE_INDEX) {
      throw new DatasetError(
        file,
        `label value ${v} out of range (expected 0..${numClasses} or ${IGNORE_INDEX}) at pixel ${i}`,
      );
    }
  }
  return { width: mask.width, height: mask.height, data: mask.data };
}
