import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readImage } from '../io/image.js';
import { decodeIndexPng } from '../io/indexPng.js';
import { overlayMask, writeOverlay, writePredictionPng } from './writePredictions.js';

const dir = mkdtempSync(join(tmpdir(), 'wsss-pred-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('prediction writers', () => {
  const image = {
    width: 2,
    height: 2,
    data: Uint8Array.from([100, 100, 100, 0, 0, 0, 10, 20, 30, 200, 200, 200]),
  };
  const mask = { width: 2, height: 2, data: Uint8Array.from([0, 1, 255, 15]) };

  it('overlays class colours on foreground only', () => {
    const o = overlayMask(image, mask, 0.5);
    // class 1 = (128,0,0), class 15 = (192,128,128)
    expect([...o.data]).toEqual([100, 100, 100, 64, 0, 0, 10, 20, 30, 196, 164, 164]);
    expect(() => overlayMask(image, { width: 1, height: 1, data: new Uint8Array(1) })).toThrow(
      'differs from image',
    );
  });

  it('writes palette PNG predictions and PNG overlays', async () => {
    await writePredictionPng(join(dir, 'p.png'), mask);
    expect([...decodeIndexPng(readFileSync(join(dir, 'p.png'))).data]).toEqual([0, 1, 255, 15]);
    await writeOverlay(join(dir, 'o.png'), image, mask);
    expect([...(await readImage(join(dir, 'o.png'))).data]).toEqual([...overlayMask(image, mask).data]);
    await expect(writeOverlay(join(dir, 'o.gif'), image, mask)).rejects.toThrow(
      'o.gif: unsupported image extension',
    );
    expect(readdirSync(dir).sort()).toEqual(['o.png', 'p.png']);
  });
});
