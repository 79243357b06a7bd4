/**
 * `wsss localize`: FickleNet localization maps and seeds of a split (spec §5.3) from a trained classifier (the
 * `checkpoints/classifier.safetensors` of a `wsss train --method ficklenet` run): `<output>/seeds/<id>.png`,
 * `<output>/maps/<id>.png`, `<output>/summary.json` (seed precision/recall where the split has ground truth) and
 * `<output>/report.html` (image | ground truth | map | seeds for the first images).
 */

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { withoutInitialization } from '@wsss/core';
import { writeFileAtomic } from '@wsss/core/node';
import {
  type IndexMask,
  type RandomAccessDataset,
  type RgbImage,
  readImage,
  readIndexPng,
} from '@wsss/datasets';
import type { PartialConfig } from '../config/presets.js';
import type { WsssConfig } from '../config/schema.js';
import { buildClassifier, localizeSettings } from '../ficklenet/build.js';
import { type LocalizeSplitSummary, localizeSplit, MAPS_DIR, SEEDS_DIR } from '../ficklenet/localizeSplit.js';
import type { FickleClassifierNet } from '../ficklenet/model.js';
import { CLASSIFIER_CHECKPOINT } from '../ficklenet/pipeline.js';
import { seedSection } from '../ficklenet/seedReport.js';
import { applyCheckpointWeights } from '../run/checkpoint.js';
import { firstRecords } from '../run/evaluate.js';
import { type ReportSample, renderReport } from '../run/report.js';
import { openCheckpointFile, type SplitOutputOptions, startBackend } from './common.js';
import { InputError } from './errors.js';
import { openPseudoLabelSplit } from './pseudoLabels.js';

/**
 * `checkpoint`: a FickleNet run folder or a classifier checkpoint; `split` default: the config's training split;
 * `overrides`: ficklenet.runs/thFg/thBg/background/saliencyThreshold/fgMinSaliency/saliencyMaps/aggregate/size/
 * localizeScales/localizeFlip, data.*, backend, threads.
 */
export interface LocalizeOptions extends SplitOutputOptions {
  /** Skip the heat-map PNGs. */
  noMaps?: boolean;
}

export interface LocalizeCommandResult extends LocalizeSplitSummary {
  output: string;
  report: string;
  checkpoint: string;
}

/** The classifier checkpoint a `--checkpoint` path names. */
export function classifierCheckpointPath(p: string): string {
  if (existsSync(p) && statSync(p).isDirectory()) {
    const f = join(p, 'checkpoints', CLASSIFIER_CHECKPOINT);
    if (!existsSync(f))
      throw new InputError(
        `${p}: no checkpoints/${CLASSIFIER_CHECKPOINT} (train one with wsss train --method ficklenet)`,
      );
    return f;
  }
  return p;
}

/** Reads a classifier checkpoint and its config (with the command's overrides); refuses any other checkpoint. */
export async function openClassifierCheckpoint(path: string, overrides: PartialConfig[]) {
  const c = await openCheckpointFile(classifierCheckpointPath(path), overrides);
  checkClassifier(c.ckpt.state.stage, c.file);
  return c;
}

/** Refuses a checkpoint that is not a FickleNet classifier's. */
export function checkClassifier(stage: string | undefined, file: string): void {
  if (stage !== 'classifier')
    throw new InputError(
      `${file} is not a FickleNet classifier checkpoint (stage '${stage ?? 'wsfcn'}'); pass a run of wsss train --method ficklenet or its checkpoints/${CLASSIFIER_CHECKPOINT}`,
    );
}

/** Builds the classifier a checkpoint holds, with its weights (on the backend already started). */
export function classifierOf(c: Awaited<ReturnType<typeof openClassifierCheckpoint>>): FickleClassifierNet {
  const net = withoutInitialization(() =>
    buildClassifier(c.ckpt.state.config, c.ckpt.state.classNames.length - 1),
  );
  applyCheckpointWeights(net, c.ckpt, c.file);
  return net;
}

export async function runLocalize(o: LocalizeOptions): Promise<LocalizeCommandResult> {
  const c = await openClassifierCheckpoint(o.checkpoint, o.overrides ?? []);
  const { config, file } = c;
  await startBackend(config.backend, config.threads, o.out);
  const { split, ds: full } = await openPseudoLabelSplit(c, o.split, o.out);
  const ds = firstRecords(full, o.limit ?? 0);
  const net = classifierOf(c);
  const keep: { seeds: IndexMask; heat: RgbImage | null; gt?: IndexMask }[] = [];
  let summary: LocalizeSplitSummary;
  try {
    summary = await localizeSplit({
      net,
      ds,
      split,
      dir: o.output,
      ...localizeSettings(config),
      maps: !o.noMaps,
      out: o.out,
      onImage: (i, r) => {
        if (i < REPORT_SAMPLES) keep.push(r);
      },
    });
  } finally {
    net.model.dispose();
  }
  const samples: ReportSample[] = [];
  for (const [i, r] of keep.entries()) {
    const rec = await ds.read(i);
    samples.push({
      id: rec.id,
      image: rec.image,
      masks: [r.gt ?? null, r.heat ? { rgb: r.heat } : null, r.seeds],
    });
  }
  const report = await writeLocalizeReport(o.output, {
    split,
    config,
    classNames: c.classNames,
    summary,
    samples,
  });
  return { ...summary, output: o.output, report, checkpoint: file };
}

/** Images shown in the report. */
export const REPORT_SAMPLES = 8;

/**
 * The report's samples read back from a localization's output (what a distributed run has: the workers wrote the
 * files): image | ground truth | map | seeds for the first images.
 */
export async function samplesFromOutput(
  ds: RandomAccessDataset,
  dir: string,
  count: number,
): Promise<ReportSample[]> {
  const samples: ReportSample[] = [];
  for (let i = 0; i < Math.min(count, REPORT_SAMPLES); i++) {
    const rec = await ds.read(i);
    const map = join(dir, MAPS_DIR, `${rec.id}.png`);
    const heat = existsSync(map) ? await readImage(map) : null;
    const seeds = await readIndexPng(join(dir, SEEDS_DIR, `${rec.id}.png`));
    samples.push({
      id: rec.id,
      image: rec.image,
      masks: [rec.mask ?? null, heat ? { rgb: heat } : null, seeds],
    });
  }
  return samples;
}

/** Writes `<dir>/report.html` for a split's localization; returns its path. */
export async function writeLocalizeReport(
  dir: string,
  r: {
    split: string;
    config: WsssConfig;
    classNames: string[];
    summary: LocalizeSplitSummary;
    samples: ReportSample[];
  },
): Promise<string> {
  const { summary, split, config } = r;
  const html = await renderReport({
    title: `wsss localize — FickleNet seeds of ${split}`,
    runDir: dir,
    preset: 'localize',
    backend: config.backend,
    config,
    classNames: r.classNames,
    metrics: [],
    sections: [seedSection(summary, r.classNames, { title: 'Seeds' })],
    samples: r.samples,
    sampleColumns: [
      { title: 'ground truth' },
      { title: 'localization map' },
      { title: 'seeds', partial: true },
    ],
    sampleNote:
      'Map: each pixel in the colour of its strongest present class, as bright as its map value. Seeds: washed-out pixels carry no seed.',
  });
  const report = join(dir, 'report.html');
  await writeFileAtomic(report, html);
  return report;
}
