// Worker-thread entry of the loader: runs the spec §3.10 augmentation off the main thread. Built as its own
// file (dist/augmentWorker.{js,cjs}); it imports only the pure typed-array transforms.
import { parentPort } from 'node:worker_threads';
import type { IndexMask, RgbImage } from '../io/types.js';
import { Rng } from '../synthetic/rng.js';
import { type AugmentOptions, augmentTrain } from '../transforms/augment.js';

/** A job sent to the worker. */
export interface AugmentJob {
  id: number;
  seed: number;
  image: RgbImage;
  mask?: IndexMask;
  options: AugmentOptions;
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (job: AugmentJob) => {
    try {
      const s = augmentTrain(new Rng(job.seed), job.image, job.mask, job.options);
      const transfer = [s.image.buffer, s.raw.buffer, ...(s.mask ? [s.mask.buffer] : [])] as ArrayBuffer[];
      port.postMessage(
        { id: job.id, sample: { size: s.size, image: s.image, raw: s.raw, mask: s.mask } },
        transfer,
      );
    } catch (err) {
      port.postMessage({ id: job.id, error: (err as Error).message });
    }
  });
}
