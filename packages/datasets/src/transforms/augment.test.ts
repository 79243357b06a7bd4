import { describe, expect, it } from 'vitest';
import { Rng } from '../synthetic/rng.js';
import { augmentTrain, colorJitter, IMAGENET_MEAN, IMAGENET_STD, sampleCropBox } from './augment.js';
import { makeInferenceViews, viewToOriginal } from './inferenceViews.js';
import { resizeBicubic, resizeNearest } from './resize.js';

describe('resize', () => {
  it('bicubic keeps a constant image constant and an identity resize exact', () => {
    const c = { width: 5, height: 4, data: new Uint8Array(60).fill(77) };
    expect([...resizeBicubic(c, { x: 0, y: 0, w: 5, h: 4 }, 9, 3).data].every((v) => v === 77)).toBe(true);
    const ramp = {
      width: 4,
      height: 1,
      data: Uint8Array.from([0, 0, 0, 40, 40, 40, 80, 80, 80, 200, 200, 200]),
    };
    expect([...resizeBicubic(ramp, { x: 0, y: 0, w: 4, h: 1 }, 4, 1).data]).toEqual([...ramp.data]);
  });

  it('bicubic 2x upsampling of a step matches the Keys a=-0.5 weights', () => {
    // Row [0, 255] → 4 px: output o has centre (o+0.5)/2 in source units; source pixel i sits at i+0.5.
    // o=1 (centre 0.75): distances 0.25 and 0.75 → 255·c(0.75)/(c(0.25)+c(0.75)). o=0 (centre 0.25):
    // distances 0.25 and 1.25, c(1.25) < 0 → the overshoot clamps to 0. Taps outside the source are dropped.
    const img = { width: 2, height: 1, data: Uint8Array.from([0, 0, 0, 255, 255, 255]) };
    const out = resizeBicubic(img, { x: 0, y: 0, w: 2, h: 1 }, 4, 1).data;
    const cub = (x: number) => {
      x = Math.abs(x);
      return x < 1 ? 1.5 * x ** 3 - 2.5 * x ** 2 + 1 : x < 2 ? -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2 : 0;
    };
    const v = Math.round((255 * cub(0.75)) / (cub(0.25) + cub(0.75)));
    expect(v).toBe(53);
    expect([out[0], out[3], out[6], out[9]]).toEqual([0, v, 255 - v, 255]);
  });

  it('nearest picks source pixels without blending', () => {
    const m = { width: 4, height: 2, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };
    expect([...resizeNearest(m, { x: 1, y: 0, w: 2, h: 2 }, 4, 1).data]).toEqual([6, 6, 7, 7]);
    expect(() => resizeNearest(m, { x: 3, y: 0, w: 2, h: 2 }, 4, 1)).toThrow('outside the 4x2 image');
  });
});

describe('augmentTrain', () => {
  it('draws crops within area 0.9–1.0 and aspect 3/4–4/3', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 50; i++) {
      const b = sampleCropBox(rng, 500, 375, [0.9, 1], [3 / 4, 4 / 3]);
      expect(b.x + b.w).toBeLessThanOrEqual(500);
      expect(b.y + b.h).toBeLessThanOrEqual(375);
      expect((b.w * b.h) / (500 * 375)).toBeGreaterThan(0.895);
      expect(b.w / b.h).toBeGreaterThan(0.74);
      expect(b.w / b.h).toBeLessThan(1.34);
    }
  });

  it('keeps image and mask aligned through crop + flip (a known pattern survives)', () => {
    // Image: left half red, right half blue, with a green square at (40..59, 10..29); the mask marks the same.
    const W = 96;
    const H = 64;
    const data = new Uint8Array(W * H * 3);
    const mask = new Uint8Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        const sq = x >= 40 && x < 60 && y >= 10 && y < 30;
        const left = x < 48;
        data[p * 3] = sq ? 0 : left ? 255 : 0;
        data[p * 3 + 1] = sq ? 255 : 0;
        data[p * 3 + 2] = sq ? 0 : left ? 0 : 255;
        mask[p] = sq ? 3 : left ? 1 : 2;
      }
    }
    let flips = 0;
    for (let seed = 0; seed < 12; seed++) {
      const s = augmentTrain(
        new Rng(seed),
        { width: W, height: H, data },
        { width: W, height: H, data: mask },
        {
          size: 48,
          jitter: null,
        },
      );
      if (s.params.flip) flips++;
      let agree = 0;
      for (let p = 0; p < 48 * 48; p++) {
        const [r, g, b] = [s.raw[p * 3]!, s.raw[p * 3 + 1]!, s.raw[p * 3 + 2]!];
        const cls = g > 0.5 ? 3 : r > 0.5 ? 1 : b > 0.5 ? 2 : 0;
        if (cls === s.mask![p]) agree++;
      }
      // Only bicubic edge blur may disagree (a 1-px band along the two edges and the square).
      expect(agree / (48 * 48)).toBeGreaterThan(0.93);
      // Flip moves the red half to the right.
      const leftMask = s.mask![24 * 48 + 2];
      expect(leftMask).toBe(s.params.flip ? 2 : 1);
    }
    expect(flips).toBeGreaterThan(0);
    expect(flips).toBeLessThan(12);
  });

  it('normalises with ImageNet mean/std and is reproducible from the seed', () => {
    const img = { width: 8, height: 8, data: new Uint8Array(192).fill(128) };
    const a = augmentTrain(new Rng(1), img, undefined, { size: 4 });
    const b = augmentTrain(new Rng(1), img, undefined, { size: 4 });
    expect([...a.image]).toEqual([...b.image]);
    for (let p = 0; p < 16; p++) {
      for (let c = 0; c < 3; c++) {
        expect(a.image[p * 3 + c]).toBeCloseTo((a.raw[p * 3 + c]! - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!, 6);
      }
    }
    const j = a.params.jitter!;
    expect([...j.order].sort()).toEqual([0, 1, 2, 3]);
    expect(j.b).toBeGreaterThanOrEqual(0.7);
    expect(j.b).toBeLessThan(1.3);
    expect(Math.abs(j.h)).toBeLessThanOrEqual(0.1);
  });

  it('colour jitter ops compute the documented formulas', () => {
    const px = () => Float32Array.from([0.5, 0.25, 0.0, 1.0, 0.5, 0.5]);
    const b = px();
    colorJitter(b, [0], 1.2, 1, 1, 0);
    expect([...b].map((v) => +v.toFixed(5))).toEqual([0.6, 0.3, 0, 1, 0.6, 0.6]);
    const s = px();
    colorJitter(s, [2], 1, 1, 0, 0); // saturation 0 → grey
    const g0 = 0.299 * 0.5 + 0.587 * 0.25;
    expect(s[0]).toBeCloseTo(g0, 6);
    expect(s[2]).toBeCloseTo(g0, 6);
    const c = px();
    colorJitter(c, [1], 1, 0, 1, 0); // contrast 0 → mean grey
    const mean = (g0 + (0.299 + 0.587 * 0.5 + 0.114 * 0.5)) / 2;
    expect(c[4]).toBeCloseTo(mean, 6);
    // hue +0.1 then −0.1 gives the colour back; (0.8, 0.4, 0.2) has hue 1/18, +1/6 gives hue 4/18 → (0.6, 0.8, 0.2)
    const orig = [0.8, 0.4, 0.2, 0.1, 0.5, 0.9, 0.3, 0.3, 0.3];
    const rt = Float32Array.from(orig);
    colorJitter(rt, [3], 1, 1, 1, 0.1);
    colorJitter(rt, [3], 1, 1, 1, -0.1);
    for (let i = 0; i < orig.length; i++) expect(rt[i]).toBeCloseTo(orig[i]!, 6);
    const sh = Float32Array.from([0.8, 0.4, 0.2]);
    colorJitter(sh, [3], 1, 1, 1, 1 / 6);
    expect([...sh].map((v) => +v.toFixed(6))).toEqual([0.6, 0.8, 0.2]);
    const h = Float32Array.from([1, 0, 0]);
    colorJitter(h, [3], 1, 1, 1, 1 / 3); // red → green
    expect([...h]).toEqual([0, 1, 0]);
  });
});

describe('inference views', () => {
  it('places normalised views centred on a zero canvas in spec order and maps them back', () => {
    const W = 6;
    const H = 4;
    const data = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) data[i * 3] = i * 10;
    const v = makeInferenceViews({ width: W, height: H, data }, { scales: [1, 0.5], padSize: 8 });
    expect(v.views.map((x) => [x.scale, x.flip, x.width, x.height, x.padLeft, x.padTop])).toEqual([
      [1, false, 6, 4, 1, 2],
      [1, true, 6, 4, 1, 2],
      [0.5, false, 3, 2, 2, 3],
      [0.5, true, 3, 2, 2, 3],
    ]);
    const c0 = v.canvases[0]!;
    expect(c0[0]).toBe(0); // padding is 0 after normalisation
    const at = (cv: Float32Array, x: number, y: number) => cv[(y * 8 + x) * 3]!;
    expect(at(c0, 1, 2)).toBeCloseTo((0 / 255 - 0.485) / 0.229, 5);
    expect(at(c0, 2, 2)).toBeCloseTo((10 / 255 - 0.485) / 0.229, 5);
    expect(at(v.canvases[1]!, 6, 2)).toBeCloseTo(at(c0, 1, 2), 5); // flipped
    // Map a 1-channel "prediction" = the canvas red channel back: scale 1 recovers the image exactly.
    const red = (cv: Float32Array) => Float32Array.from({ length: 64 }, (_, i) => cv[i * 3]!);
    const back0 = viewToOriginal(red(c0), 8, 1, v.views[0]!, 8, W, H);
    const back1 = viewToOriginal(red(v.canvases[1]!), 8, 1, v.views[1]!, 8, W, H);
    for (let i = 0; i < W * H; i++) {
      expect(back0[i]).toBeCloseTo(((i * 10) / 255 - 0.485) / 0.229, 5);
      expect(back1[i]).toBeCloseTo(back0[i]!, 5);
    }
    expect(() => makeInferenceViews({ width: W, height: H, data }, { scales: [2], padSize: 8 })).toThrow(
      'scale 2 makes the 6x4 image 12x8, larger than padSize 8',
    );
  });
});
