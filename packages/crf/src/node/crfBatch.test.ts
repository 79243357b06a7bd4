import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CrfTask } from '../tasks.js';
import { runCrfTask } from '../tasks.js';
import { seededUniform, twoRegionScene } from '../testing/exactFilter.js';
import { crfBatch } from './index.js';

// The worker script is TypeScript here: bundle it from the sources (the package ships dist/worker.js).
let workerUrl: URL;
beforeAll(async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'wsss-crf-')), 'worker.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./worker.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: out,
    logLevel: 'warning',
  });
  workerUrl = pathToFileURL(out);
});

function tasks(): CrfTask[] {
  const list: CrfTask[] = [];
  for (let k = 0; k < 5; k++) {
    const W = 14 + k;
    const H = 10 + (k % 3);
    const n = W * H;
    const scene = twoRegionScene(W, H, 2, { flip: 0.15, seed: k + 1 });
    const fg = new Float32Array(n * 3);
    const u = seededUniform(n * 3, k + 20);
    for (let i = 0; i < n; i++) {
      fg[i * 3 + 1] = scene.probs[n + i]!;
      fg[i * 3 + 2] = 0.1 * u[i * 3 + 2]!;
    }
    const image = { data: scene.rgb, width: W, height: H };
    list.push(
      k % 2 === 0
        ? { recipe: 'ws-fcn', image, fgProbs: fg, ...(k === 2 ? { presentClasses: [2] } : {}) }
        : { recipe: 'dsrg', image, probs: fg },
    );
  }
  return list;
}

describe('crfBatch (worker threads)', () => {
  it('gives results identical to the single-threaded path, in task order', async () => {
    const list = tasks();
    const expected = list.map(runCrfTask);
    const threaded = await crfBatch(list, { workers: 2, workerUrl });
    expect(threaded.length).toBe(list.length);
    for (let k = 0; k < list.length; k++) {
      expect(threaded[k]!.probs).toEqual(expected[k]!.probs);
      expect(threaded[k]!.labels).toEqual(expected[k]!.labels);
      expect(threaded[k]!.activeLabels).toEqual(expected[k]!.activeLabels);
    }
    expect(await crfBatch(list, { workers: 0 })).toEqual(expected);
  });

  it('names the failing task', async () => {
    const list = tasks();
    list[3] = {
      recipe: 'ws-fcn',
      image: { data: new Uint8Array(3), width: 2, height: 2 },
      fgProbs: new Float32Array(3),
    };
    await expect(crfBatch(list, { workers: 2, workerUrl })).rejects.toThrow(
      /crfBatch: task 3: fgProbs must be a Float32Array of H·W·C = 2·2·C values, got length 3/,
    );
    await expect(crfBatch(list, { workers: -1 })).rejects.toThrow(/workers must be an integer ≥ 0, got -1/);
  });
});
