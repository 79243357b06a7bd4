import { describe, expect, it } from 'vitest';
import { labelsFromMask } from '../io/types.js';
import { VOC_CLASSES } from '../voc/classes.js';
import { maskEdgeCounts } from './color.js';
import { renderSyntheticSample, SYNTHETIC_CLASSES } from './render.js';
import { renderSceneSample, SCENE_CLASS_IDS, SCENE_CLASS_NAMES, SCENE_MAX_CLASSES } from './scenes.js';

/** Labels of samples 0..5 for seed 1. */
const GOLDEN = [[7], [7], [3, 8], [12], [1, 3], [3, 7]];

/** Largest side of the foreground bounding box, as a fraction of the image side. */
function extent(mask: Uint8Array, s: number): number {
  let [x0, x1, y0, y1] = [s, -1, s, -1];
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      if (!mask[y * s + x]) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  }
  return Math.max(x1 - x0 + 1, y1 - y0 + 1) / s;
}

/** Mean absolute horizontal colour difference between neighbouring background pixels. */
function backgroundGradient(img: Uint8Array, mask: Uint8Array, s: number): number {
  let g = 0;
  let n = 0;
  for (let y = 0; y < s; y++) {
    for (let x = 0; x + 1 < s; x++) {
      const p = y * s + x;
      if (mask[p] || mask[p + 1]) continue;
      for (let c = 0; c < 3; c++) g += Math.abs(img[p * 3 + c]! - img[p * 3 + 3 + c]!);
      n++;
    }
  }
  return g / n;
}

describe('renderSceneSample', () => {
  it('is deterministic in (seed, index) and differs across indices and seeds', () => {
    const a = renderSceneSample(1, 0);
    const b = renderSceneSample(1, 0);
    expect(Buffer.from(a.image.data).equals(Buffer.from(b.image.data))).toBe(true);
    expect(Buffer.from(a.mask.data).equals(Buffer.from(b.mask.data))).toBe(true);
    expect(a.labels).toEqual(b.labels);
    expect(Buffer.from(renderSceneSample(1, 1).image.data).equals(Buffer.from(a.image.data))).toBe(false);
    expect(Buffer.from(renderSceneSample(2, 0).image.data).equals(Buffer.from(a.image.data))).toBe(false);
    // Golden labels lock the generator: a change here changes the held-out set.
    expect([0, 1, 2, 3, 4, 5].map((i) => renderSceneSample(1, i).labels)).toEqual(GOLDEN);
  });

  it('uses VOC class ids and names, none shared with the shapes generator', () => {
    expect(SCENE_CLASS_IDS).toEqual([1, 3, 7, 8, 12, 15]);
    expect(SCENE_CLASS_NAMES).toEqual(['aeroplane', 'bird', 'car', 'cat', 'dog', 'person']);
    expect(SCENE_CLASS_IDS.map((id) => VOC_CLASSES[id])).toEqual(SCENE_CLASS_NAMES);
    expect(SCENE_CLASS_NAMES.filter((n) => SYNTHETIC_CLASSES.includes(n))).toEqual([]);
    expect(SCENE_MAX_CLASSES).toBe(6);
  });

  it('returns labels = the VOC ids in the exact mask (no 255), from the first numClasses classes only', () => {
    for (const numClasses of [2, 4, 6]) {
      const allowed = SCENE_CLASS_IDS.slice(0, numClasses);
      for (let i = 0; i < 25; i++) {
        const s = renderSceneSample(4, i, { numClasses });
        expect(s.image.data.length).toBe(128 * 128 * 3);
        expect(s.mask.data.length).toBe(128 * 128);
        expect(s.labels).toEqual(labelsFromMask(s.mask));
        expect(s.labels.length).toBeGreaterThanOrEqual(1);
        expect(s.labels.length).toBeLessThanOrEqual(3);
        for (const v of new Set(s.mask.data)) expect(v === 0 || allowed.includes(v)).toBe(true);
      }
    }
  });

  it('honours the objects range and keeps every object visible', () => {
    for (let i = 0; i < 20; i++) {
      const s = renderSceneSample(6, i, { objects: [1, 1], size: 64 });
      expect(s.labels).toHaveLength(1);
      const fg = s.mask.data.reduce((n, v) => n + (v > 0 ? 1 : 0), 0);
      expect(fg).toBeGreaterThanOrEqual(12);
    }
    const many = Array.from(
      { length: 20 },
      (_, i) => renderSceneSample(6, i, { objects: [3, 3] }).labels.length,
    );
    expect(Math.max(...many)).toBe(3);
  });

  it('spreads object scales from about a quarter to the whole image side (VOC-like), smaller ones more frequent', () => {
    const ext = Array.from({ length: 300 }, (_, i) =>
      extent(renderSceneSample(1, i, { objects: [1, 1] }).mask.data, 128),
    ).sort((a, b) => a - b);
    // the largest template extent is 30–90 % of the side; rotation and the image border shrink some
    expect(ext[0]).toBeGreaterThan(0.2);
    expect(ext[299]).toBeLessThanOrEqual(1);
    expect(ext[30]).toBeLessThan(0.36); // 10th percentile
    expect(ext[150]).toBeGreaterThan(0.42); // median
    expect(ext[150]).toBeLessThan(0.6);
    expect(ext[270]).toBeGreaterThan(0.68); // 90th percentile
    const smaller = ext.filter((e) => e < 0.6).length;
    expect(smaller).toBeGreaterThan(300 - smaller);
  });

  it('balances the classes: each of the 6 appears in at least 18 % of 300 images', () => {
    const count = new Map<number, number>();
    for (let i = 0; i < 300; i++)
      for (const c of renderSceneSample(2, i).labels) count.set(c, (count.get(c) ?? 0) + 1);
    for (const id of SCENE_CLASS_IDS) {
      expect(count.get(id) ?? 0).toBeGreaterThan(0.18 * 300);
      expect(count.get(id) ?? 0).toBeLessThan(0.5 * 300);
    }
  });

  it('renders odd and small sizes', () => {
    for (const size of [97, 32, 33]) {
      for (let i = 0; i < 4; i++) {
        const s = renderSceneSample(3, i, { size });
        expect([s.image.width, s.image.height, s.mask.width, s.mask.height]).toEqual([
          size,
          size,
          size,
          size,
        ]);
        expect(s.image.data.length).toBe(size * size * 3);
        expect(s.labels).toEqual(labelsFromMask(s.mask));
        expect(s.labels.length).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('has masks aligned with the image: most mask boundaries are image edges, a shifted mask much less', () => {
    let [a, n] = [0, 0];
    let [b, m] = [0, 0];
    for (let i = 0; i < 20; i++) {
      const s = renderSceneSample(5, i);
      const { onEdges: a1, boundaries: n1 } = maskEdgeCounts(s.image.data, s.mask.data, 128, 0, 20);
      const { onEdges: b1, boundaries: m1 } = maskEdgeCounts(s.image.data, s.mask.data, 128, 3, 20);
      [a, n, b, m] = [a + a1, n + n1, b + b1, m + m1];
    }
    expect(a / n).toBeGreaterThan(0.75);
    expect(b / m).toBeLessThan(a / n - 0.3);
  });

  it('differs from the shapes generator in its statistics (fewer foreground pixels, smoother backgrounds)', () => {
    let [fgScenes, fgShapes, gScenes, gShapes] = [0, 0, 0, 0];
    for (let i = 0; i < 40; i++) {
      const s = renderSceneSample(2, i);
      const t = renderSyntheticSample(2, i);
      fgScenes += s.mask.data.reduce((k, v) => k + (v ? 1 : 0), 0) / (128 * 128 * 40);
      fgShapes += t.mask.data.reduce((k, v) => k + (v ? 1 : 0), 0) / (128 * 128 * 40);
      gScenes += backgroundGradient(s.image.data, s.mask.data, 128) / 40;
      gShapes += backgroundGradient(t.image.data, t.mask.data, 128) / 40;
    }
    expect(fgScenes).toBeLessThan(0.9 * fgShapes);
    expect(gScenes).toBeLessThan(0.7 * gShapes);
  });

  it('rejects bad options naming the offending value', () => {
    expect(() => renderSceneSample(1, 0, { numClasses: 7 })).toThrow(
      'scenes: numClasses must be an integer in 1..6, got 7',
    );
    expect(() => renderSceneSample(1, 0, { numClasses: 0 })).toThrow('got 0');
    expect(() => renderSceneSample(1, 0, { numClasses: 2.5 })).toThrow('got 2.5');
    expect(() => renderSceneSample(1, 0, { size: 31 })).toThrow(
      'scenes: size must be an integer in 32..4096, got 31',
    );
    expect(() => renderSceneSample(1, 0, { objects: [0, 2] })).toThrow(
      'scenes: objects must be an integer range [lo, hi] within 1..8, got [0, 2]',
    );
  });
});
