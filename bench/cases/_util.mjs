// Shared helpers for bench cases: backend from argv, timing with warm-up, JSON output.
import * as tf from '@tensorflow/tfjs-core';
import { setBackend } from '@wsss/core';

export const quick = process.env.WSSS_BENCH_QUICK === '1';

let threads = 1;

/**
 * Sets the backend named by `--backend=<name>[:<threads>]` (e.g. `wasm:2` = wasm with 2 XNNPACK threads) and
 * returns the label rows carry as `impl` (`wasm`, `wasm-2t`, `cpu`, …).
 */
export async function initBackend() {
  const arg = process.argv.find((a) => a.startsWith('--backend='));
  const [name, t] = (arg ? arg.split('=')[1] : 'wasm').split(':');
  threads = t ? Number(t) : 1;
  await setBackend(name, name === 'wasm' ? { wasmThreads: threads } : {});
  return threads > 1 ? `${name}-${threads}t` : name;
}

/**
 * Times `step` (which returns a tensor or array of tensors to read back and dispose) after `warmup` runs.
 * Reads results back with dataSync so that asynchronous backends are measured to completion.
 * Returns the median of `reps` runs in ms.
 */
export function timeIt(step, { warmup = 3, reps = 20 } = {}) {
  if (quick) reps = Math.min(reps, 3);
  const once = () => {
    const out = step();
    const list = Array.isArray(out) ? out : [out];
    for (const t of list) t.dataSync();
    for (const t of list) t.dispose();
  };
  for (let i = 0; i < warmup; i++) once();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    once();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: Number(times[Math.floor(times.length / 2)].toFixed(3)), reps };
}

/** Prints the rows (one JSON array); `threads` is the thread count the backend really ran with. */
export function emit(rows) {
  // a row may state its own parallelism (e.g. loader workers); otherwise it ran with the backend's threads
  process.stdout.write(
    `${JSON.stringify(rows.map((r) => ({ ...r, threads: threads > 1 ? threads : (r.threads ?? 1) })))}\n`,
  );
}

export { tf };
