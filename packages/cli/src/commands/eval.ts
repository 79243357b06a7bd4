/** `wsss eval`: mIoU (with and without background), per-class IoU and pixel accuracy of a checkpoint on a split. */
import { join, resolve } from 'node:path';
import { ConfusionMatrix } from '@wsss/core';
import { type IndexMask, writePredictionPng } from '@wsss/datasets';
import type { PartialConfig } from '../config/presets.js';
import { predictDsrg } from '../ficklenet/pipeline.js';
import { type EngineRequest, type InferenceEngine, startEngine } from '../infer/engine.js';
import { ClassificationMeter, type ClassificationSummary } from '../run/classification.js';
import { metricsOf, miouLabel, type SegMetrics } from '../run/evaluate.js';
import type { Output } from '../run/output.js';
import { MetricsLog } from '../run/runDir.js';
import { openAnyCheckpoint, openSplit } from './common.js';
import { runSkipList } from './data.js';
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
  /** Inference engine (`--engine`, `--ep`): tfjs (default) or ONNX Runtime. */
  engine?: EngineRequest;
}

export interface EvalResult extends SegMetrics {
  split: string;
  images: number;
  /** Images with a ground-truth mask: the mIoU counts these (all of them for VOC, COCO, the synthetic set). */
  masked: number;
  /** Image-label quality (mAP, F1 at eval.fpCut) over every image; null for the DSRG network (no class scores). */
  classification: ClassificationSummary | null;
  perClass: { name: string; iou: number }[];
  mode: string;
  /** Image labels the masks were cleaned with ('none': the DSRG network of a FickleNet + DSRG run). */
  labels: 'predicted' | 'ground truth' | 'none';
  crf: boolean;
  backend: string;
  /** What ran the network: `tfjs (<backend>)` or `onnx (<runtime>, <execution provider>, <threads>)`. */
  engine: string;
}

export async function runEval(o: EvalOptions): Promise<EvalResult> {
  const opened = await openAnyCheckpoint(o.checkpoint, o.overrides ?? [], o.out);
  const model = (opened.dsrg ?? opened.net)!.model;
  let engine: InferenceEngine | undefined;
  try {
    engine = await startEngine(model, o.engine ?? {}, {
      backend: opened.backend,
      threads: opened.config.threads,
      out: o.out,
    });
    return await evaluate(o, opened, engine);
  } finally {
    await engine?.release();
    model.dispose();
  }
}

async function evaluate(
  o: EvalOptions,
  opened: Awaited<ReturnType<typeof openAnyCheckpoint>>,
  engine: InferenceEngine,
): Promise<EvalResult> {
  const { file, config, classNames, backend } = opened;
  const split = o.split ?? config.data.valSplit;
  const runDir = resolve(file, '..', '..');
  const ds = await openSplit(config, split, runDir, o.out, {
    classNames,
    ...(await runSkipList(runDir, config)),
  });
  if (ds.numClasses !== classNames.length - 1)
    throw new InputError(
      `split ${split} has ${ds.numClasses} classes, the checkpoint ${classNames.length - 1}`,
    );
  const meter = new ClassificationMeter(ds.numClasses);
  let masked = 0;
  const n = o.limit ? Math.min(o.limit, ds.length) : ds.length;
  const cm = new ConfusionMatrix(ds.numClasses + 1);
  const ev = config.eval;
  const dsrg = opened.dsrg;
  // DSRG's network segments on its own: single scale at ficklenet.size², every class, no image labels
  const mode = dsrg
    ? `DSRG network, single-scale at ${config.ficklenet.size}²`
    : `${ev.scales.length > 1 ? `multi-scale [${ev.scales.join(', ')}]` : `single-scale${ev.scales[0] === 1 ? '' : ` (×${ev.scales[0]})`}`}${ev.flip ? ' + flip' : ''}`;
  const labelsUsed = dsrg ? 'none' : ev.useGtLabels ? 'ground truth' : 'predicted';
  o.out.info(
    `evaluating ${file} on ${split} (${n} images): ${mode}${dsrg ? '' : `, ${labelsUsed} image labels`}${o.crf ? ', dense CRF' : ''}`,
  );
  const bar = o.out.progress('eval', n, 'img');
  for (let i = 0; i < n; i++) {
    const rec = await ds.read(i);
    let mask: IndexMask;
    if (dsrg) {
      const data = await predictDsrg(dsrg, rec.image, config.ficklenet.size, {
        crf: !!o.crf,
        forward: engine.forward,
      });
      mask = { width: rec.image.width, height: rec.image.height, data };
    } else {
      const p = await predictImage(opened.net!, rec.image, ev, {
        ...(ev.useGtLabels ? { gtLabels: rec.labels } : {}),
        crf: !!o.crf,
        focalP: config.train.focalP,
        focalLambda: config.train.focalLambda,
        forward: engine.forward,
      });
      mask = p.mask;
      meter.add(p.scores, rec.labels);
    }
    if (rec.mask) {
      cm.update(mask.data, rec.mask.data);
      masked++;
    }
    if (o.saveDir) await writePredictionPng(join(o.saveDir, `${rec.id}.png`), mask);
    bar.tick(1);
  }
  if (!masked && dsrg)
    throw new InputError(
      `eval: no image of split ${split} has a ground-truth mask to score the DSRG network against`,
    );
  const m = metricsOf(cm, config.eval.miouOver);
  const classification = dsrg ? null : meter.summary(ev.fpCut);
  bar.done(
    masked ? `mIoU ${(m.miou * 100).toFixed(1)}%` : `mAP ${((classification?.map ?? 0) * 100).toFixed(1)}%`,
  );
  const result: EvalResult = {
    ...m,
    split,
    images: n,
    masked,
    classification,
    perClass: m.iou.map((iou, c) => ({ name: classNames[c] ?? String(c), iou })),
    mode,
    labels: labelsUsed,
    crf: !!o.crf,
    backend,
    engine: engine.description,
  };
  const log = new MetricsLog(join(runDir, 'metrics.jsonl'));
  log.append({ type: 'eval', checkpoint: file, ...result });
  await log.flush().catch(() => {});
  return result;
}

/** The human summary of an eval result. */
export function formatEval(r: EvalResult): string {
  const p2 = (x: number | undefined) =>
    x !== undefined && Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : '–';
  const c = r.classification;
  const lines = [
    `split ${r.split}, ${r.images} images, ${r.mode}, ${r.labels === 'none' ? 'no image labels' : `${r.labels} image labels`}${r.labels === 'ground truth' ? ' [GT LABELS — not a weakly-supervised test result]' : ''}${r.crf ? ', CRF' : ''}`,
    ...(c
      ? [
          `image labels: mAP ${p2(c.map)}, F1 ${p2(c.f1)} at ${c.threshold} (precision ${p2(c.precision)}, recall ${p2(c.recall)}), ${c.images} images`,
        ]
      : []),
  ];
  if (!r.masked) {
    lines.push(
      'no image of this split has a ground-truth mask: no mIoU (pass --masks <folder> to score masks)',
    );
    return lines.join('\n');
  }
  lines.push(
    `mIoU ${miouLabel(r)}${r.masked < r.images ? `, on the ${r.masked} images with masks` : ''}:`,
    `  with background:    ${p2(r.miou)}`,
    `  without background: ${p2(r.miouNoBackground)}`,
    `pixel accuracy:       ${p2(r.pixelAccuracy)}`,
    `per class:          IoU${c ? '      AP      F1' : ''}`,
    ...r.perClass.map((k, i) => {
      const pc = i > 0 ? c?.perClass[i - 1] : undefined;
      return `  ${k.name.padEnd(16)} ${p2(k.iou).padStart(7)}${pc ? ` ${p2(pc.ap).padStart(7)} ${p2(pc.f1).padStart(7)}` : ''}`;
    }),
  );
  return lines.join('\n');
}
