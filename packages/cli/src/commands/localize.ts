/**
 * `wsss localize`: FickleNet localization maps and seeds of a split (spec §5.3) from a trained classifier (the
 * `checkpoints/classifier.safetensors` of a `wsss train --method ficklenet` run): `<output>/seeds/<id>.png`,
 * `<output>/maps/<id>.png`, `<output>/summary.json` (seed precision/recall where the split has ground truth) and
 * `<output>/report.html` (image | ground truth | map | seeds for the first images).
 */

import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { withoutInitialization } from '@wsss/core';
import { writeFileAtomic } from '@wsss/core/node';
import type { IndexMask, RgbImage } from '@wsss/datasets';
import { VOC_PRESET } from '../config/presets.js';
import { deepMerge, validate, type WsssConfig } from '../config/schema.js';
import { buildClassifier, localizeSettings } from '../ficklenet/build.js';
import { type LocalizeSplitSummary, localizeSplit } from '../ficklenet/localizeSplit.js';
import { CLASSIFIER_CHECKPOINT } from '../ficklenet/pipeline.js';
import { applyCheckpointWeights } from '../run/checkpoint.js';
import { firstRecords } from '../run/evaluate.js';
import { esc, pct, type ReportSample, renderReport } from '../run/report.js';
import { openSplit, readCheckpoint, type SplitOutputOptions, startBackend } from './common.js';
import { runSkipList } from './data.js';
import { InputError } from './errors.js';

/**
 * `checkpoint`: a FickleNet run folder or a classifier checkpoint; `split` default: the config's training split;
 * `overrides`: ficklenet.runs/thFg/thBg/aggregate/size, data.*, backend, threads.
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

export async function runLocalize(o: LocalizeOptions): Promise<LocalizeCommandResult> {
  const file = classifierCheckpointPath(o.checkpoint);
  const ckpt = await readCheckpoint(file);
  if (ckpt.state.stage !== 'classifier')
    throw new InputError(
      `${file} is not a FickleNet classifier checkpoint (stage '${ckpt.state.stage ?? 'wsfcn'}'); pass a run of wsss train --method ficklenet or its checkpoints/${CLASSIFIER_CHECKPOINT}`,
    );
  const config: WsssConfig = deepMerge(VOC_PRESET, ckpt.state.config, ...(o.overrides ?? []));
  validate(config);
  await startBackend(config.backend, config.threads, o.out);
  const runDir = resolve(file, '..', '..');
  const split = o.split ?? config.data.trainSplit;
  const full = await openSplit(config, split, runDir, o.out, {
    classNames: ckpt.state.classNames,
    ...(await runSkipList(runDir, config)),
  });
  const ds = firstRecords(full, o.limit ?? 0);
  const net = withoutInitialization(() =>
    buildClassifier(ckpt.state.config, ckpt.state.classNames.length - 1),
  );
  applyCheckpointWeights(net, ckpt, file);
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
        if (i < 8) keep.push(r);
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
  const s = summary.scores;
  const html = await renderReport({
    title: `wsss localize — FickleNet seeds of ${split}`,
    runDir: o.output,
    preset: 'localize',
    backend: config.backend,
    config,
    classNames: ckpt.state.classNames,
    metrics: [],
    sections: [
      `<h2>Seeds</h2><p>${summary.images} images, ${summary.settings.runs} random selections each, maps at ${summary.settings.size}² → image size; θ_fg ${summary.settings.thFg}, θ_bg ${summary.settings.thBg}, ${esc(summary.settings.aggregate)} aggregation. ${
        s
          ? `Against ground truth: precision <b>${pct(s.precision)}</b>, recall <b>${pct(s.recall)}</b>, foreground precision ${pct(s.fgPrecision)}, foreground recall ${pct(s.fgRecall)}.`
          : 'No ground truth in this split.'
      } ${pct(summary.coverage)} of pixels seeded; ${summary.msPerImage.toFixed(0)} ms per image.</p>`,
    ],
    samples,
    sampleColumns: [
      { title: 'ground truth' },
      { title: 'localization map' },
      { title: 'seeds', partial: true },
    ],
    sampleNote:
      'Map: each pixel in the colour of its strongest present class, as bright as its map value. Seeds: washed-out pixels carry no seed.',
  });
  const report = join(o.output, 'report.html');
  await writeFileAtomic(report, html);
  return { ...summary, output: o.output, report, checkpoint: file };
}
