import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RandomAccessDataset } from '../io/dataset.js';
import type { DataRecord } from '../io/types.js';
import { type Batch, DataLoader } from './loader.js';

// The worker script is TypeScript in the sources; bundle it to plain JS for the test, as tsup does for dist.
let dir: string;
let script: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wsss-worker-'));
  script = join(dir, 'augmentWorker.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./augmentWorker.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: script,
    logLevel: 'error',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gradientDataset(n: number): RandomAccessDataset {
  return {
    ids: Array.from({ length: n }, (_, i) => `g${i}`),
    length: n,
    numClasses: 2,
    classNames: ['background', 'a', 'b'],
    async read(i: number): Promise<DataRecord> {
      const w = 20;
      const h = 14;
      const data = new Uint8Array(w * h * 3);
      for (let p = 0; p < w * h; p++) {
        data[p * 3] = (p * 7 + i * 31) & 255;
        data[p * 3 + 1] = (p * 3) & 255;
        data[p * 3 + 2] = (i * 50) & 255;
      }
      const mask = new Uint8Array(w * h).map((_, p) => (p % w < w / 2 ? 1 : 2));
      return {
        id: `g${i}`,
        image: { width: w, height: h, data },
        labels: [1, 2],
        mask: { width: w, height: h, data: mask },
      };
    },
  };
}

async function collect(loader: DataLoader): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.batches(1)) out.push(b);
  return out;
}

describe('DataLoader worker threads', () => {
  it('gives exactly the in-thread results', async () => {
    const opts = { dataset: gradientDataset(6), batchSize: 3, seed: 5, transform: { size: 9 } } as const;
    const inThread = await collect(new DataLoader(opts));
    const threaded = await collect(new DataLoader({ ...opts, workers: 2, workerScript: script }));
    expect(threaded.map((b) => b.ids)).toEqual(inThread.map((b) => b.ids));
    for (let k = 0; k < inThread.length; k++) {
      expect(Array.from(threaded[k]!.images)).toEqual(Array.from(inThread[k]!.images));
      expect(Array.from(threaded[k]!.raw)).toEqual(Array.from(inThread[k]!.raw));
      expect(Array.from(threaded[k]!.masks!)).toEqual(Array.from(inThread[k]!.masks!));
    }
  });

  it('refuses workers with a function transform and reports a missing script', async () => {
    expect(
      () => new DataLoader({ dataset: gradientDataset(2), batchSize: 1, workers: 1, transform: 'none' }),
    ).toThrow('workers need transform to be augmentation options');
    const l = new DataLoader({
      dataset: gradientDataset(2),
      batchSize: 1,
      workers: 1,
      workerScript: join(dir, 'nope.js'),
    });
    await expect(collect(l)).rejects.toThrow(`worker script ${join(dir, 'nope.js')} not found`);
  });
});
