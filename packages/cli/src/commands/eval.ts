/** `wsss eval`: mIoU (with and without background), per-class IoU and pixel accuracy of a checkpoint on a split. */
import { join, resolve } from 'node:path';
import { ConfusionMatrix } from '@wsss/core';
import { writePredictionPng } from '@wsss/datasets';
import type { PartialConfig } from '../config/presets.js';
import { predictDsrg } from '../ficklenet/pipeline.js';
import { metricsOf, type SegMetrics } from '../run/evaluate.js';
import type { Output } from '../run/output.js';
import { MetricsLog } from '../run/runDir.js';
import { openAnyCheckpoint, openSplit } from './common.js';
import { InputError } from './errors.js';
import { predictImage } from './predictImage.js';

export interface EvalOptions {
  checkpoint: string;
  out: Output;
  /** Overrides over the checkpoint's config (data.*, eval.*, backend, threads). */
  overrides?: PartialConfig[];
  /** Split (default the config's valSplit). */
  split?: string;
  /** Evaluate only the first n images. */
  limit?: number;
  crf?: boolean;
  /** Also write the predicted PNGs here. */
  saveDir?: string;
}

export interface EvalResult extends SegMetrics {
  split: string;
  images: number;
  perClass: { name: string; iou: number }[];
  mode: string;
  /** Image labels the masks were cleaned with ('none': the DSRG network of a FickleNet + DSRG run). */
  labels: 'predicted' | 'ground truth' | 'none';
  crf: boolean;
  backend: string;
}

export async function runEval(o: EvalOptions): Promise<EvalResult> {
  const opened = await openAnyCheckpoint(o.checkpoint, o.overrides ?? [], o.out);
  const { file, config, classNames, backend } = opened;
  const split = o.split ?? config.data.valSplit;
  const runDir = resolve(file, '..', '..');
  const ds = await openSplit(config, split, runDir, o.out);
  if (ds.numClasses !== classNames.length - 1)
    throw new InputError(
      `split ${split} has ${ds.numClasses} classes, the checkpoint ${classNames.length - 1}`,
    );
  const n = o.limit ? Math.min(o.limit, ds.length) : ds.length;
  const cm = new ConfusionMatrix(ds.numClasses + 1);
  const ev = config.eval;
  const dsrg = opened.dsrg;
  // DSRG's network segments on its own: single scale at ficklenet.size², every class, no image labels
  const mode = dsrg
    ? `DSRG network, single-scale at ${config.ficklenet.size}²`
    : `${ev.scales.length > 1 || ev.flip ? `multi-scale [${ev.scales.join(', ')}]${ev.flip ? ' + flip' : ''}` : 'single-scale'}`;
  const labelsUsed = dsrg ? 'none' : ev.useGtLabels ? 'ground truth' : 'predicted';
  o.out.info(
    `evaluating ${file} on ${split} (${n} images): ${mode}${dsrg ? '' : `, ${labelsUsed} image labels`}${o.crf ? ', dense CRF' : ''}`,
  );
  const bar = o.out.progress('eval', n, 'img');
  for (let i = 0; i < n; i++) {
    const rec = await ds.read(i);
    if (!rec.mask) throw new InputError(`eval: image ${rec.id} of split ${split} has no ground-truth mask`);
    const mask = dsrg
      ? {
          width: rec.image.width,
          height: rec.image.height,
          data: await predictDsrg(dsrg, rec.image, config.ficklenet.size, { crf: !!o.crf }),
        }
      : (
          await predictImage(opened.net!, rec.image, ev, {
            ...(ev.useGtLabels ? { gtLabels: rec.labels } : {}),
            crf: !!o.crf,
            focalP: config.train.focalP,
            focalLambda: config.train.focalLambda,
          })
        ).mask;
    cm.update(mask.data, rec.mask.data);
    if (o.saveDir) await writePredictionPng(join(o.saveDir, `${rec.id}.png`), mask);
    bar.tick(1);
  }
  const m = metricsOf(cm);
  bar.done(`mIoU ${(m.miou * 100).toFixed(1)}%`);
  (dsrg ?? opened.net)!.model.dispose();
  const result: EvalResult = {
    ...m,
    split,
    images: n,
    perClass: m.iou.map((iou, c) => ({ name: classNames[c] ?? String(c), iou })),
    mode,
    labels: labelsUsed,
    crf: !!o.crf,
    backend,
  };
  const log = new MetricsLog(join(runDir, 'metrics.jsonl'));
  log.append({ type: 'eval', checkpoint: file, ...result });
  await log.flush().catch(() => {});
  return result;
}

/** The human summary of an eval result. */
export function formatEval(r: EvalResult): string {
  const lines = [
    `split ${r.split}, ${r.images} images, ${r.mode}, ${r.labels === 'none' ? 'no image labels' : `${r.labels} image labels`}${r.labels === 'ground truth' ? ' [GT LABELS — not a weakly-supervised test result]' : ''}${r.crf ? ', CRF' : ''}`,
    `mIoU (with background, ${r.iou.length} classes): ${(r.miou * 100).toFixed(2)}%`,
    `mIoU (without background):            ${(r.miouNoBackground * 100).toFixed(2)}%`,
    `pixel accuracy:                        ${(r.pixelAccuracy * 100).toFixed(2)}%`,
    'per-class IoU:',
    ...r.perClass.map((c) => `  ${c.name.padEnd(14)} ${(c.iou * 100).toFixed(2).padStart(6)}%`),
  ];
  return lines.join('\n');
}
