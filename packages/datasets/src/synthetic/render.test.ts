import { describe, expect, it } from 'vitest';
import { labelsFromMask } from '../io/types.js';
import { maskEdgeCounts } from './color.js';
import { renderSyntheticSample } from './render.js';
import { mixSeed, Rng } from './rng.js';

/** Share of the mask's horizontal boundaries (shifted `shift` px) on strong image edges, 128 px samples. */
const edgeShare = (img: Uint8Array, mask: Uint8Array, shift: number) => {
  const c = maskEdgeCounts(img, mask, 128, shift, 30);
  return c.onEdges / c.boundaries;
};

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  return h;
}

describe('Rng', () => {
  it('is mulberry32: fixed first outputs for seed 1', () => {
    const r = new Rng(1);
    // The published mulberry32(1) sequence: 0.6270739405881613, 0.002735721180215478, 0.5274470399599522.
    expect([r.next(), r.next(), r.next()]).toEqual([
      0.6270739405881613, 0.002735721180215478, 0.5274470399599522,
    ]);
    expect(mixSeed(1, 0)).not.toBe(mixSeed(1, 1));
    expect(mixSeed(1, 0)).not.toBe(mixSeed(2, 0));
  });
});

describe('renderSyntheticSample', () => {
  it('is deterministic in (seed, index) and differs across indices and seeds', () => {
    const a = renderSyntheticSample(1, 0);
    const b = renderSyntheticSample(1, 0);
    expect(fnv1a(a.image.data)).toBe(fnv1a(b.image.data));
    expect(fnv1a(a.mask.data)).toBe(fnv1a(b.mask.data));
    expect(fnv1a(renderSyntheticSample(1, 1).image.data)).not.toBe(fnv1a(a.image.data));
    expect(fnv1a(renderSyntheticSample(2, 0).image.data)).not.toBe(fnv1a(a.image.data));
    // Golden labels lock the generator: a change here changes the demo's data.
    expect([0, 1, 2, 3].map((i) => renderSyntheticSample(1, i).labels)).toEqual([
      [1, 4],
      [1, 3],
      [3, 4],
      [1, 3],
    ]);
  });

  it('returns 128x128 RGB + mask with labels = classes present in the mask', () => {
    for (let i = 0; i < 6; i++) {
      const s = renderSyntheticSample(9, i, { numClasses: 5 });
      expect(s.image.data.length).toBe(128 * 128 * 3);
      expect(s.mask.data.length).toBe(128 * 128);
      expect(s.labels.length).toBeGreaterThanOrEqual(1);
      expect(s.labels.length).toBeLessThanOrEqual(3);
      expect(s.labels).toEqual(labelsFromMask(s.mask));
      expect(Math.max(...s.mask.data)).toBeLessThanOrEqual(5);
    }
  });

  it('has masks aligned with the image: every mask boundary is an image edge, a shifted mask is not', () => {
    for (let i = 0; i < 5; i++) {
      const s = renderSyntheticSample(5, i);
      expect(edgeShare(s.image.data, s.mask.data, 0)).toBeGreaterThan(0.97);
      expect(edgeShare(s.image.data, s.mask.data, 2)).toBeLessThan(0.5);
    }
  });

  it('keeps each object at least 40% visible and honours object/distractor counts', () => {
    for (let i = 0; i < 5; i++) {
      const s = renderSyntheticSample(3, i, {
        objects: [1, 1],
        distractors: [0, 0],
        numClasses: 2,
        size: 64,
      });
      expect(s.labels.length).toBe(1);
      expect(s.image.width).toBe(64);
      const fg = s.mask.data.reduce((n, v) => n + (v > 0 ? 1 : 0), 0);
      expect(fg).toBeGreaterThan(0.02 * 64 * 64);
    }
  });

  it('rejects bad options with the offending value', () => {
    expect(() => renderSyntheticSample(1, 0, { numClasses: 9 })).toThrow(
      'numClasses must be an integer in 1..8, got 9',
    );
    expect(() => renderSyntheticSample(1, 0, { size: 16 })).toThrow(
      'size must be an integer in 32..4096, got 16',
    );
    expect(() => renderSyntheticSample(1, 0, { objects: [0, 2] })).toThrow(
      'objects must start at 1 or more, got 0',
    );
  });
});
