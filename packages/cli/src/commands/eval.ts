/** `wsss eval`: mIoU (with and without background), per-class IoU and pixel accuracy of a checkpoint on a split. */
import { join, resolve } from 'node:path';
import { ConfusionMatrix, type ConfusionMatrixJSON } from '@wsss/core';
import { type IndexMask, type RandomAccessDataset, writePredictionPng } from '@wsss/datasets';
import type { PartialConfig } from '../config/presets.js';
import type { WsssConfig } from '../config/schema.js';
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

/** An opened checkpoint, its split and engine: what every range of an evaluation reads from. */
export interface EvalContext {
  opened: Awaited<ReturnType<typeof openAnyCheckpoint>>;
  ds: RandomAccessDataset;
  engine: InferenceEngine;
  crf: boolean;
  /** Also write the predicted PNGs here. */
  saveDir?: string;
}

/** What a range of images adds to an evaluation: its confusion, and each image's class scores and labels. */
export interface EvalPartial {
  images: number;
  masked: number;
  confusion: ConfusionMatrixJSON;
  /** Per image (WS-FCN only): the K sigmoid class scores and the 1-based ground-truth labels. */
  scores: number[][];
  labels: number[][];
}

/** Opens the split an evaluation reads (the config's validation split by default, the run's skip list applied). */
export async function openEvalSplit(
  opened: { file: string; config: WsssConfig; classNames: string[] },
  split: string | undefined,
  out: Output,
): Promise<{ split: string; ds: RandomAccessDataset }> {
  const { file, config, classNames } = opened;
  const name = split ?? config.data.valSplit;
  const runDir = resolve(file, '..', '..');
  const ds = await openSplit(config, name, runDir, out, {
    classNames,
    ...(await runSkipList(runDir, config)),
  });
  if (ds.numClasses !== classNames.length - 1)
    throw new InputError(
      `split ${name} has ${ds.numClasses} classes, the checkpoint ${classNames.length - 1}`,
    );
  return { split: name, ds };
}

/** Evaluates images [start, end): the single-process command runs one range, a scale-out worker one shard. */
export async function evalRange(
  c: EvalContext,
  start: number,
  end: number,
  onImage?: () => void,
): Promise<EvalPartial> {
  const { opened, ds, engine } = c;
  const { config } = opened;
  const ev = config.eval;
  const cm = new ConfusionMatrix(ds.numClasses + 1);
  const part: EvalPartial = { images: 0, masked: 0, confusion: cm.toJSON(), scores: [], labels: [] };
  for (let i = start; i < end; i++) {
    const rec = await ds.read(i);
    let mask: IndexMask;
    if (opened.dsrg) {
      const data = await predictDsrg(opened.dsrg, rec.image, config.ficklenet.size, {
        crf: c.crf,
        forward: engine.forward,
      });
      mask = { width: rec.image.width, height: rec.image.height, data };
    } else {
      const p = await predictImage(opened.net!, rec.image, ev, {
        ...(ev.useGtLabels ? { gtLabels: rec.labels } : {}),
        crf: c.crf,
        focalP: config.train.focalP,
        focalLambda: config.train.focalLambda,
        forward: engine.forward,
      });
      mask = p.mask;
      part.scores.push(Array.from(p.scores));
      part.labels.push([...rec.labels]);
    }
    if (rec.mask) {
      cm.update(mask.data, rec.mask.data);
      part.masked++;
    }
    if (c.saveDir) await writePredictionPng(join(c.saveDir, `${rec.id}.png`), mask);
    part.images++;
    onImage?.();
  }
  return { ...part, confusion: cm.toJSON() };
}

/** The evaluation's mode line: views, or the DSRG network's single scale. */
export function evalMode(config: WsssConfig, dsrg: boolean): string {
  const ev = config.eval;
  // DSRG's network segments on its own: single scale at ficklenet.size², every class, no image labels
  return dsrg
    ? `DSRG network, single-scale at ${config.ficklenet.size}²`
    : `${ev.scales.length > 1 ? `multi-scale [${ev.scales.join(', ')}]` : `single-scale${ev.scales[0] === 1 ? '' : ` (×${ev.scales[0]})`}`}${ev.flip ? ' + flip' : ''}`;
}

/**
 * Sums the ranges of an evaluation (in split order) into its result and appends it to the run's metrics.jsonl:
 * one process's ranges or a scale-out run's shards give the same numbers.
 */
export async function evalResult(
  parts: EvalPartial[],
  r: {
    opened: { file: string; config: WsssConfig; classNames: string[]; backend: string; dsrg: boolean };
    split: string;
    crf: boolean;
    engine: string;
  },
): Promise<EvalResult> {
  const { file, config, classNames, backend, dsrg } = r.opened;
  const K = classNames.length - 1;
  const cm = parts
    .map((p) => ConfusionMatrix.fromJSON(p.confusion))
    .reduce((a, b) => a.merge(b), new ConfusionMatrix(K + 1));
  const meter = new ClassificationMeter(K);
  for (const p of parts) for (const [i, s] of p.scores.entries()) meter.add(s, p.labels[i]!);
  const masked = parts.reduce((a, p) => a + p.masked, 0);
  const images = parts.reduce((a, p) => a + p.images, 0);
  if (!masked && dsrg)
    throw new InputError(
      `eval: no image of split ${r.split} has a ground-truth mask to score the DSRG network against`,
    );
  const m = metricsOf(cm, config.eval.miouOver);
  const result: EvalResult = {
    ...m,
    split: r.split,
    images,
    masked,
    classification: dsrg ? null : meter.summary(config.eval.fpCut),
    perClass: m.iou.map((iou, c) => ({ name: classNames[c] ?? String(c), iou })),
    mode: evalMode(config, dsrg),
    labels: dsrg ? 'none' : config.eval.useGtLabels ? 'ground truth' : 'predicted',
    crf: r.crf,
    backend,
    engine: r.engine,
  };
  const log = new MetricsLog(join(resolve(file, '..', '..'), 'metrics.jsonl'));
  log.append({ type: 'eval', checkpoint: file, ...result });
  await log.flush().catch(() => {});
  return result;
}

async function evaluate(
  o: EvalOptions,
  opened: Awaited<ReturnType<typeof openAnyCheckpoint>>,
  engine: InferenceEngine,
): Promise<EvalResult> {
  const { file, config } = opened;
  const { split, ds } = await openEvalSplit(opened, o.split, o.out);
  const n = o.limit ? Math.min(o.limit, ds.length) : ds.length;
  const dsrg = opened.dsrg;
  const labelsUsed = dsrg ? 'none' : config.eval.useGtLabels ? 'ground truth' : 'predicted';
  o.out.info(
    `evaluating ${file} on ${split} (${n} images): ${evalMode(config, !!dsrg)}${dsrg ? '' : `, ${labelsUsed} image labels`}${o.crf ? ', dense CRF' : ''}`,
  );
  const bar = o.out.progress('eval', n, 'img');
  const part = await evalRange(
    { opened, ds, engine, crf: !!o.crf, ...(o.saveDir ? { saveDir: o.saveDir } : {}) },
    0,
    n,
    () => bar.tick(1),
  );
  const result = await evalResult([part], {
    opened: { ...opened, dsrg: !!dsrg },
    split,
    crf: !!o.crf,
    engine: engine.description,
  });
  bar.done(
    result.masked
      ? `mIoU ${(result.miou * 100).toFixed(1)}%`
      : `mAP ${((result.classification?.map ?? 0) * 100).toFixed(1)}%`,
  );
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
