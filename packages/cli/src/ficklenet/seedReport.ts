/** The seeds' part of the localize and FickleNet + DSRG reports: the rule used and the scores, overall and per class. */
import { esc, pct } from '../run/report.js';
import { isTta, type LocalizeSplitSummary } from './localizeSplit.js';

/** How background seeds were chosen, in words. */
export function backgroundRule(settings: LocalizeSplitSummary['settings']): string {
  if (settings.background === 'saliency')
    return `background where the ${settings.saliencyMaps ? `saliency of ${esc(settings.saliencyMaps)}` : 'MB+ saliency'} is below ${settings.saliencyThreshold ?? 0.1}`;
  return `background where every present map is below θ_bg ${settings.thBg} (low-activation rule)`;
}

/**
 * The seeds section: images, selections, thresholds and background rule, the overall scores, and a table of each
 * label's seed precision and recall (with `iou`, the final network's IoU of each label next to it: how seeds carry
 * through to the segmentation).
 */
export function seedSection(
  s: LocalizeSplitSummary,
  classNames: readonly string[],
  opts: { title: string; iou?: readonly number[] },
): string {
  const set = s.settings;
  const fg = set.fgQuantile
    ? `foreground: each present class's top ${pct(set.fgQuantile)} (above θ_fg/5)`
    : `θ_fg ${set.thFg}`;
  const gate =
    set.background === 'saliency' && set.fgMinSaliency
      ? ` where the saliency is at least ${set.fgMinSaliency}`
      : '';
  const tta = isTta(set)
    ? ` averaged over scales ${(set.scales ?? [1]).map((x) => `×${x}`).join(', ')}${set.flip ? ' and their mirror images' : ''}`
    : '';
  const head = `<h2>${esc(opts.title)}</h2><p>${s.images} images, ${set.runs} random selections each, maps at ${set.size}²${tta} → image size; ${fg}${gate}, ${backgroundRule(set)}, ${esc(set.aggregate)} over selections. ${
    s.scores
      ? `Against ground truth: precision <b>${pct(s.scores.precision)}</b>, recall <b>${pct(s.scores.recall)}</b> (foreground ${pct(s.scores.fgPrecision)} / ${pct(s.scores.fgRecall)}).`
      : 'No ground truth to score against.'
  } ${pct(s.coverage)} of pixels seeded; ${s.msPerImage.toFixed(0)} ms per image.</p>`;
  const rows = s.scores?.perClass ?? [];
  if (!rows.length) return head;
  const cell = (v: number) => (Number.isNaN(v) ? '–' : pct(v));
  const table = [
    `<table><tr><th>class</th><th>seed precision</th><th>seed recall</th><th>seeded pixels</th><th>ground-truth pixels</th>${opts.iou ? '<th>final IoU</th>' : ''}</tr>`,
    ...rows.map(
      (r) =>
        `<tr><td>${esc(classNames[r.label] ?? String(r.label))}</td><td>${cell(r.precision)}</td><td>${cell(r.recall)}</td><td>${r.seeded}</td><td>${r.labelled}</td>${opts.iou ? `<td>${cell(opts.iou[r.label] ?? Number.NaN)}</td>` : ''}</tr>`,
    ),
    '</table>',
  ].join('\n');
  return `${head}\n${table}`;
}
