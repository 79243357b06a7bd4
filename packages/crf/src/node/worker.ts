/**
 * Worker-thread script of `crfBatch` (built to dist/worker.js). Receives `{ id, task }`, answers
 * `{ id, result }` or `{ id, error }`; result arrays are transferred, not copied.
 */
import { parentPort } from 'node:worker_threads';
import type { CrfTask } from '../tasks.js';
import { runCrfTask } from '../tasks.js';

if (!parentPort) throw new Error('@wsss/crf worker: must run in a worker thread');
const port = parentPort;
port.on('message', (msg: { id: number; task: CrfTask }) => {
  try {
    const result = runCrfTask(msg.task);
    port.postMessage({ id: msg.id, result }, [
      result.probs.buffer as ArrayBuffer,
      result.labels.buffer as ArrayBuffer,
    ]);
  } catch (e) {
    const err = e as Error;
    port.postMessage({ id: msg.id, error: { name: err?.name, message: err?.message ?? String(e) } });
  }
});
