import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { IndexMask, RgbImage } from '../io/types.js';
import type { AugmentOptions } from '../transforms/augment.js';
import type { PreparedSample } from './loader.js';

/** Where the built worker script sits: next to this module's bundle (dist/augmentWorker.{js,cjs}). */
export function defaultWorkerScript(): string {
  const here =
    typeof __filename === 'string'
      ? __filename
      : // In the ESM bundle import.meta.url is defined; the CJS branch above never reaches here.
        fileURLToPath(import.meta.url);
  return join(dirname(here), here.endsWith('.cjs') ? 'augmentWorker.cjs' : 'augmentWorker.js');
}

type Pending = { resolve: (s: PreparedSample) => void; reject: (e: Error) => void };

/** A fixed set of worker threads running the augmentation; jobs go to the least busy worker. */
export class AugmentPool {
  private readonly workers: { w: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(size: number, script: string) {
    if (!existsSync(script)) {
      throw new Error(`worker script ${script} not found (build @wsss/datasets, or pass workerScript)`);
    }
    for (let i = 0; i < size; i++) {
      const w = new Worker(script);
      const entry = { w, busy: 0 };
      w.on('message', (m: { id: number; sample?: PreparedSample; error?: string }) => {
        // An idle worker must not keep the process alive; a busy one must (its reply is awaited).
        if (--entry.busy === 0) w.unref();
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined || !m.sample) p.reject(new Error(m.error ?? 'worker returned nothing'));
        else {
          if (!m.sample.mask) delete m.sample.mask;
          p.resolve(m.sample);
        }
      });
      w.on('error', (err) => this.failAll(err));
      w.unref();
      this.workers.push(entry);
    }
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Augments one record in a worker; the image (and mask) are copied, the results transferred back. */
  run(
    seed: number,
    image: RgbImage,
    mask: IndexMask | undefined,
    options: AugmentOptions,
  ): Promise<PreparedSample> {
    if (this.closed) return Promise.reject(new Error('AugmentPool is closed'));
    const entry = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    return new Promise<PreparedSample>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (entry.busy++ === 0) entry.w.ref();
      const img = { width: image.width, height: image.height, data: image.data.slice() };
      const m = mask ? { width: mask.width, height: mask.height, data: mask.data.slice() } : undefined;
      const transfer = [img.data.buffer, ...(m ? [m.data.buffer] : [])] as ArrayBuffer[];
      entry.w.postMessage({ id, seed, image: img, mask: m, options }, transfer);
    });
  }

  /** Stops the workers; jobs still running are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('AugmentPool closed'));
    await Promise.all(this.workers.map((e) => e.w.terminate()));
  }
}
