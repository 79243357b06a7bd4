import type { BenchRow } from './bench.js';

/** The human table of `wsss bench`. */
export function formatBench(r: { backend: string; size: number; batch: number; rows: BenchRow[] }): string {
  return [
    `backend ${r.backend}, ${r.size}×${r.size} images`,
    ...r.rows.map(
      (x) =>
        `  ${x.what.padEnd(58)} ${x.ms.toFixed(1).padStart(9)} ms  ${x.imagesPerSecond.toFixed(2).padStart(8)} img/s`,
    ),
  ].join('\n');
}
