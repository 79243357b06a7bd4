/**
 * Class colours: the PASCAL VOC colour map (the bits of the class index spread over R, G and B, most significant
 * first), the palette of the masks `wsss infer` writes, so the page and the CLI colour classes alike.
 * (@wsss/datasets has it as `vocColorMap`, but that package reads files with Node and sharp; a test checks that
 * the two agree.)
 */
export function classColor(index: number): [number, number, number] {
  let r = 0;
  let g = 0;
  let b = 0;
  let c = index;
  for (let bit = 7; bit >= 0; bit--) {
    r |= (c & 1) << bit;
    g |= ((c >> 1) & 1) << bit;
    b |= ((c >> 2) & 1) << bit;
    c >>= 3;
  }
  return [r, g, b];
}

/** Opacity of the class colour over the image. */
const OVERLAY_ALPHA = 0.6;

/**
 * The image with every non-background pixel tinted by its class colour.
 * @param image RGBA pixels, H×W.
 * @param classes class index per pixel (0 = background, left as it is).
 */
export function overlayMask(image: ImageData, classes: Uint8Array): ImageData {
  const out = new ImageData(new Uint8ClampedArray(image.data), image.width, image.height);
  const colors = Array.from({ length: 256 }, (_, i) => classColor(i));
  for (let p = 0; p < classes.length; p++) {
    const c = classes[p]!;
    if (c === 0) continue;
    const rgb = colors[c]!;
    for (let k = 0; k < 3; k++) {
      const i = p * 4 + k;
      out.data[i] = (1 - OVERLAY_ALPHA) * out.data[i]! + OVERLAY_ALPHA * rgb[k]!;
    }
  }
  return out;
}
