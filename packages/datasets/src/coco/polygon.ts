/**
 * Fills polygons (COCO `[x1, y1, x2, y2, …]` in pixel coordinates, where pixel (i, j) spans [i, i+1)×[j, j+1))
 * into a row-major 0/1 mask: a pixel is set when its centre (i+0.5, j+0.5) lies inside a polygon by the
 * even-odd rule; several polygons (parts of one object) are united. This is the documented rule of this
 * package; pycocotools' rasteriser can differ from it by a pixel along edges.
 */
export function fillPolygons(
  polygons: readonly (readonly number[])[],
  height: number,
  width: number,
  out?: Uint8Array,
): Uint8Array {
  const mask = out ?? new Uint8Array(height * width);
  const xs: number[] = [];
  for (const poly of polygons) {
    const n = Math.floor(poly.length / 2);
    if (n < 3) continue;
    for (let row = 0; row < height; row++) {
      const cy = row + 0.5;
      xs.length = 0;
      for (let i = 0; i < n; i++) {
        const x0 = poly[2 * i]!;
        const y0 = poly[2 * i + 1]!;
        const j = (i + 1) % n;
        const x1 = poly[2 * j]!;
        const y1 = poly[2 * j + 1]!;
        // half-open rule on y so that shared vertices are counted once
        if (y0 <= cy !== y1 <= cy) xs.push(x0 + ((cy - y0) * (x1 - x0)) / (y1 - y0));
      }
      if (xs.length < 2) continue;
      xs.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        // pixels whose centre col+0.5 lies in [xs[k], xs[k+1])
        const c0 = Math.max(0, Math.ceil(xs[k]! - 0.5));
        const c1 = Math.min(width - 1, Math.ceil(xs[k + 1]! - 0.5) - 1);
        for (let c = c0; c <= c1; c++) mask[row * width + c] = 1;
      }
    }
  }
  return mask;
}
