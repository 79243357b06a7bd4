/** Colour helpers shared by the synthetic generators. */

/** HSV (each in [0, 1]; hue wraps, s and v are clamped) → RGB in [0, 255]. */
export function hsv(h: number, s: number, v: number): [number, number, number] {
  h = ((h % 1) + 1) % 1;
  s = Math.min(1, Math.max(0, s));
  v = Math.min(1, Math.max(0, v));
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const m = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][i % 6]!;
  return [m[0]! * 255, m[1]! * 255, m[2]! * 255];
}

/**
 * Horizontal mask boundaries of a square s×s sample (the mask compared `shift` px to the right of the image) and how
 * many of them sit on an image edge stronger than `threshold` (sum of |ΔR|+|ΔG|+|ΔB|): a mask that lines up with its
 * image has almost all of them on edges, a shifted one far fewer. For the generators' tests.
 */
export function maskEdgeCounts(
  img: Uint8Array,
  mask: Uint8Array,
  s: number,
  shift: number,
  threshold: number,
): { boundaries: number; onEdges: number } {
  let boundaries = 0;
  let onEdges = 0;
  for (let y = 0; y < s; y++) {
    for (let x = 0; x + 1 < s; x++) {
      const xs = x + shift;
      if (xs < 0 || xs + 1 >= s || mask[y * s + xs] === mask[y * s + xs + 1]) continue;
      boundaries++;
      let d = 0;
      for (let c = 0; c < 3; c++) d += Math.abs(img[(y * s + x) * 3 + c]! - img[(y * s + x + 1) * 3 + c]!);
      if (d > threshold) onEdges++;
    }
  }
  return { boundaries, onEdges };
}
