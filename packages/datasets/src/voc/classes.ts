/** The 21 PASCAL VOC 2012 class names in index order; index 0 is background (spec §1.1). */
export const VOC_CLASSES: readonly string[] = Object.freeze([
  'background',
  'aeroplane',
  'bicycle',
  'bird',
  'boat',
  'bottle',
  'bus',
  'car',
  'cat',
  'chair',
  'cow',
  'diningtable',
  'dog',
  'horse',
  'motorbike',
  'person',
  'pottedplant',
  'sheep',
  'sofa',
  'train',
  'tvmonitor',
]);

/** Number of VOC foreground classes. */
export const VOC_NUM_CLASSES = 20;

/**
 * The standard VOC colour map: 256 RGB triples (768 bytes). Entry `i` spreads the bits of `i` over the high
 * bits of R, G and B (bit 0 → R, bit 1 → G, bit 2 → B, three bits per round). Entry 255 is (224, 224, 192),
 * the colour of the ignore boundary in VOC ground truth.
 */
export function vocColorMap(): Uint8Array {
  const map = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let c = i;
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    map[i * 3] = r;
    map[i * 3 + 1] = g;
    map[i * 3 + 2] = b;
  }
  return map;
}
