/** Computes what the report shows for a trained network and writes `<run>/report.html` atomically. */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '@wsss/core/node';
import { batchToTensors, type RandomAccessDataset } from '@wsss/datasets';
import type { WsssConfig } from '../config/schema.js';
import type { WsFcn } from '../model/wsfcn.js';
import {
  compareStages,
  evalBatches,
  evalSize,
  firstRecords,
  type StageComparison,
  stageMaps,
} from './evaluate.js';
import type { Output } from './output.js';
import { type ReportSample, renderReport } from './report.js';
import { readMetrics } from './runDir.js';

export interface WriteReportOptions {
  net: WsFcn;
  config: WsssConfig;
  preset: string;
  backend: string;
  runDir: string;
  /** Held-out data with masks (stage comparison and samples), or null. */
  val: RandomAccessDataset | null;
  classNames: readonly string[];
  out: Output;
  title?: string;
  /** Pictures for this many images (default 6). */
  samples?: number;
  notes?: string[];
}

export async function writeRunReport(
  o: WriteReportOptions,
): Promise<{ file: string; stages?: StageComparison }> {
  const samples: ReportSample[] = [];
  let stages: StageComparison | undefined;
  let size = o.config.data.crop; // the side images are evaluated at (evalSize), set below
  if (o.val && o.val.length > 0) {
    const first = await o.val.read(0);
    if (first.mask) stages = await compareStages(o.net, o.val, o.config, o.out);
    const S = await evalSize(o.config, o.val);
    size = S;
    const n = Math.min(o.samples ?? 6, o.val.length);
    for await (const b of evalBatches(firstRecords(o.val, n), S, n)) {
      const t = batchToTensors(b);
      const m = await stageMaps(o.net, t, o.config);
      tf.dispose([t.images, t.raw, t.labels, t.masks]);
      const px = S * S;
      b.ids.forEach((id, i) => {
        const img = new Uint8Array(px * 3);
        for (let p = 0; p < px * 3; p++)
          img[p] = Math.round(Math.min(1, Math.max(0, b.raw[i * px * 3 + p]!)) * 255);
        const idx = (a: Int32Array) => ({
          width: S,
          height: S,
          data: Uint8Array.from(a.subarray(i * px, (i + 1) * px)),
        });
        const gt = b.masks ? { width: S, height: S, data: b.masks.slice(i * px, (i + 1) * px) } : null;
        samples.push({
          id,
          image: { width: S, height: S, data: img },
          masks: [gt, idx(m.raw), idx(m.pseudo), idx(m.pred)],
        });
      });
    }
  }
  const html = await renderReport({
    title: o.title ?? 'wsss run report',
    runDir: o.runDir,
    preset: o.preset,
    backend: o.backend,
    config: o.config,
    classNames: o.classNames,
    metrics: await readMetrics(join(o.runDir, 'metrics.jsonl')),
    ...(stages
      ? {
          stages,
          evaluation: {
            metrics: stages.pred,
            images: stages.images,
            how: `scales [${o.config.eval.scales.join(', ')}]${o.config.eval.flip ? ' + flip' : ''}, predicted image labels (cut ${o.config.eval.fpCut}), background ${o.config.eval.bgScore}, at ${size}×${size}`,
          },
        }
      : {}),
    samples,
    notes: o.notes ?? [],
  });
  const file = join(o.runDir, 'report.html');
  await writeFileAtomic(file, html);
  return { file, ...(stages ? { stages } : {}) };
}
