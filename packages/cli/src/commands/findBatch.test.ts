import { describe, expect, it } from 'vitest';
import { VOC_PRESET } from '../config/presets.js';
import { deepMerge } from '../config/schema.js';
import { type BatchTrial, formatFindBatch, searchLargestBatch } from './findBatch.js';
import { candidateOptions, fitCandidates } from './fitAdvice.js';

/** A fake trial: batches up to `fitsUpTo` fit, each "step" taking batch × 100 ms. */
const upTo =
  (fitsUpTo: number) =>
  async (batch: number): Promise<BatchTrial> =>
    batch <= fitsUpTo
      ? {
          batch,
          fits: true,
          ms: batch * 100,
          memory: {
            tensorBytes: batch << 20,
            wasmHeapBytes: batch << 21,
            gpuBufferBytes: null,
            backend: 'wasm',
          },
        }
      : { batch, fits: false, reason: `wasm backend out of memory at batch ${batch}` };

describe('wsss bench --find-batch: the search', () => {
  it('doubles until a batch fails, then bisects: every answer from 1 to 64, with few trials', async () => {
    for (let fitsUpTo = 0; fitsUpTo <= 70; fitsUpTo++) {
      const r = await searchLargestBatch(64, upTo(fitsUpTo));
      expect(r.largest?.batch ?? 0, `fits up to ${fitsUpTo}`).toBe(Math.min(fitsUpTo, 64));
      // no batch tried twice; at most log2(64) + 1 doublings and 5 bisection steps
      const tried = r.trials.map((t) => t.batch);
      expect(new Set(tried).size).toBe(tried.length);
      expect(tried.length).toBeLessThanOrEqual(12);
      expect(Math.max(...tried)).toBeLessThanOrEqual(64);
    }
    // fits up to 5: 1, 2, 4, 8 (fails), then 6 (fails), 5 (fits)
    expect((await searchLargestBatch(64, upTo(5))).trials.map((t) => [t.batch, t.fits])).toEqual([
      [1, true],
      [2, true],
      [4, true],
      [8, false],
      [6, false],
      [5, true],
    ]);
    // a maximum that is not a power of two is tried itself
    expect((await searchLargestBatch(12, upTo(99))).trials.map((t) => t.batch)).toEqual([1, 2, 4, 8, 12]);
    await expect(searchLargestBatch(0, upTo(1))).rejects.toThrow(
      /maxBatch must be a positive integer, got 0/,
    );
  });

  it('says what fitted, what did not and why', async () => {
    const r = await searchLargestBatch(8, upTo(3));
    const text = formatFindBatch({ ...r, size: 97, backend: 'wasm', heapLimitMiB: 512 });
    expect(text).toContain('wasm, 97×97 images, heap limit 512 MiB');
    expect(text).toMatch(/batch {4}3 {2}fits {7}step {5}0\.30 s {2}wasm heap 6 MiB {2}tensors 3 MiB/);
    expect(text).toContain('batch    4  does not fit: wasm backend out of memory at batch 4');
    expect(text.split('\n').at(-1)).toBe('largest batch that fits: 3');
    const none = formatFindBatch({ ...(await searchLargestBatch(8, upTo(0))), size: 321, backend: 'wasm' });
    expect(none.split('\n').at(-1)).toMatch(/^not even batch 1 fits: try --recompute all, a smaller --size/);
    const all = formatFindBatch({ ...(await searchLargestBatch(8, upTo(99))), size: 32, backend: 'wasm' });
    expect(all.split('\n').at(-1)).toBe('largest batch that fits: 8 (the most tried: --max-batch 8)');
  });
});

describe('wsss train out of memory: the changes it tries', () => {
  it('micro-batches of 1, then every stage recomputed, then crops of 8k + 1, never the failed configuration', () => {
    const c = deepMerge(VOC_PRESET, { train: { batchSize: 16 } });
    expect(fitCandidates(c).map((k) => candidateOptions(c, k))).toEqual([
      '--accumulate 16',
      '--accumulate 16 --recompute all',
      '--accumulate 16 --recompute all --crop 241',
      '--accumulate 16 --recompute all --crop 161',
    ]);
    // the backbone recomputed already: FCA and SF2 next, in the trial as on the command line
    const stages = deepMerge(c, {
      train: { accumulate: 16, recompute: [2, 3, 4, 5, 6, 7] },
      data: { crop: 97 },
    });
    expect(fitCandidates(stages).map((k) => candidateOptions(stages, k))).toEqual([
      '--recompute all',
      '--recompute all --crop 73',
      '--recompute all --crop 49',
    ]);
    const partial = deepMerge(c, { train: { recompute: [6, 7] } });
    expect(candidateOptions(partial, { ...fitCandidates(partial)[0]!, modules: true })).toBe(
      '--accumulate 16 --recompute 6,7,modules',
    );
    const done = deepMerge(stages, { train: { recomputeModules: true } });
    expect(fitCandidates(done).map((k) => candidateOptions(done, k))).toEqual(['--crop 73', '--crop 49']);
    const tiny = deepMerge(done, { data: { crop: 33 } });
    expect(fitCandidates(tiny)).toEqual([]);
  });
});
