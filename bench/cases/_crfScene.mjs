// The structured test scene of the CRF benches (bench/cases/crf.mjs, bench/crf-reference.mjs): seeded, so both
// implementations get the same bytes.
import { seeded } from './_seeded.mjs';

/**
 * A W×H image of `regions` blobs (a 7×3 grid of cells whose borders are wavy), each region one label of
 * `present` (label 0 = background included), coloured per label with ±20 noise; foreground scores for C = 20
 * classes: the true class 0.25–0.75, every other present class 0–0.4 (0–0.1 on background pixels), absent classes 0.
 */
export function scene(W, H, present, seed) {
  const n = W * H;
  const C = 20;
  const noise = seeded(n * 3, seed);
  const pn = seeded(n * C, seed + 1);
  const rgb = new Uint8Array(n * 3);
  const fg = new Float32Array(n * C);
  const truth = new Int32Array(n);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const cx = Math.floor(((x + 12 * Math.sin(y / 17)) / W) * 7);
      const cy = Math.floor(((y + 9 * Math.sin(x / 23)) / H) * 3);
      const cell = Math.min(6, Math.max(0, cx)) + 7 * Math.min(2, Math.max(0, cy));
      const label = present[cell % present.length];
      truth[i] = label;
      const base = [(label * 67 + 40) % 256, (label * 131 + 90) % 256, (label * 199 + 10) % 256];
      for (let c = 0; c < 3; c++)
        rgb[i * 3 + c] = Math.max(0, Math.min(255, base[c] + (noise[i * 3 + c] - 0.5) * 40));
      for (const l of present) {
        if (l === 0) continue;
        const r = pn[i * C + l - 1];
        fg[i * C + l - 1] = l === label ? 0.25 + 0.5 * r : (label === 0 ? 0.1 : 0.4) * r;
      }
    }
  }
  return { image: { data: rgb, width: W, height: H }, fg, truth };
}
