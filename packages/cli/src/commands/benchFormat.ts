import type { MemoryUsage } from '@wsss/core';
import type { BenchRow } from './bench.js';

/** The human table of `wsss bench`. */
export function formatBench(r: {
  backend: string;
  size: number;
  batch: number;
  rows: BenchRow[];
  memory?: MemoryUsage;
  stepPeakTensorBytes?: number | null;
}): string {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const m = r.memory;
  return [
    `backend ${r.backend}, ${r.size}×${r.size} images`,
    ...r.rows.map(
      (x) =>
        `  ${x.what.padEnd(58)} ${x.ms.toFixed(1).padStart(9)} ms  ${x.imagesPerSecond.toFixed(2).padStart(8)} img/s`,
    ),
    ...(m
      ? [
          `memory after the training steps: tensors ${mb(m.tensorBytes)}${r.stepPeakTensorBytes != null ? ` (at most ${mb(r.stepPeakTensorBytes)} during a step)` : ''}${m.wasmHeapBytes !== null ? `, wasm heap ${mb(m.wasmHeapBytes)} (its high-water mark; at most 4096 MiB)` : ''}${m.gpuBufferBytes !== null ? `, GPU buffers ${mb(m.gpuBufferBytes)}` : ''}`,
        ]
      : []),
  ].join('\n');
}
