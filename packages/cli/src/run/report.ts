/**
 * `report.html`: one self-contained file (PNG pictures as data URIs, inline SVG charts, no JavaScript) showing
 * overlays for a fixed sample (image | ground truth | raw mask | PAMR pseudo-label | prediction), the stage
 * comparison (what PAMR and the trained network add), loss and mIoU curves and a per-class IoU table.
 */
import { encodeImage, type IndexMask, overlayMask, type RgbImage, vocColorMap } from '@wsss/datasets';
import type { SegMetrics, StageComparison } from './evaluate.js';

/**
 * One image of the fixed sample: the image and one entry per column — a class-index mask (drawn over the image), a
 * picture of its own (`{ rgb }`, e.g. a heat map), or null (nothing to show).
 */
export interface ReportSample {
  id: string;
  image: RgbImage;
  masks: (IndexMask | { rgb: RgbImage } | null)[];
}

/** A column of the sample table; `partial` masks wash their unlabelled (255) pixels out to near white. */
export interface SampleColumn {
  title: string;
  partial?: boolean;
}

/** A loss curve: a numeric field of the metrics' step records. */
export interface LossSeries {
  key: string;
  name: string;
}

/** The sample table and loss curves of a WS-FCN run. */
export const WSFCN_SAMPLE_COLUMNS: SampleColumn[] = [
  { title: 'ground truth' },
  { title: 'raw mask' },
  { title: 'PAMR pseudo-label', partial: true },
  { title: 'prediction' },
];
const WSFCN_SAMPLE_NOTE =
  'Class colours over the image; in the PAMR pseudo-label column, washed-out white pixels are ambiguous and ignored by the mask loss.';
const WSFCN_LOSSES: LossSeries[] = [
  { key: 'loss', name: 'total loss' },
  { key: 'clsLoss', name: 'classification' },
  { key: 'maskLoss', name: 'mask (PAMR self-supervision)' },
];

export interface ReportData {
  title: string;
  runDir: string;
  preset: string;
  backend: string;
  config: unknown;
  classNames: readonly string[];
  /** metrics.jsonl records. */
  metrics: Record<string, unknown>[];
  stages?: StageComparison;
  /** Final evaluation (what `wsss eval` computes) with a label saying how (scales, flip, labels). */
  evaluation?: { metrics: SegMetrics; how: string; images: number };
  samples: ReportSample[];
  /** Columns of the sample table after the image (default: WS-FCN's). */
  sampleColumns?: SampleColumn[];
  /** The sentence above the sample table. */
  sampleNote?: string;
  /** Loss curves (default: WS-FCN's total, classification and mask losses). */
  losses?: LossSeries[];
  /** Extra HTML sections (already escaped) after the evaluation. */
  sections?: string[];
  /** Extra lines (timings, budget) shown in the summary. */
  notes?: string[];
}

export const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
export const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '–');

export async function pngUri(img: RgbImage): Promise<string> {
  return `data:image/png;base64,${Buffer.from(await encodeImage(img, 'png')).toString('base64')}`;
}

/** The class overlay of a partial label map, with its unlabelled pixels (255) washed out to near white. */
export function pseudoOverlay(image: RgbImage, m: IndexMask): RgbImage {
  const o = overlayMask(image, m, 0.6);
  for (let i = 0; i < m.data.length; i++) {
    if (m.data[i] !== 255) continue;
    for (let k = 0; k < 3; k++) o.data[i * 3 + k] = Math.round(0.2 * o.data[i * 3 + k]! + 0.8 * 255);
  }
  return o;
}

interface Series {
  name: string;
  colour: string;
  points: [number, number][];
}

/** A line chart as inline SVG. */
export function lineChart(
  series: Series[],
  opts: { title: string; xLabel: string; yLabel: string; yMin?: number; yMax?: number },
): string {
  const W = 520;
  const H = 260;
  const m = { l: 52, r: 12, t: 28, b: 40 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (!all.length) return `<p class="muted">${esc(opts.title)}: no data yet.</p>`;
  const x0 = Math.min(...all.map((p) => p[0]));
  const x1 = Math.max(...all.map((p) => p[0]), x0 + 1e-9);
  const y0 = opts.yMin ?? Math.min(...all.map((p) => p[1]));
  let y1 = opts.yMax ?? Math.max(...all.map((p) => p[1]));
  if (y1 <= y0) y1 = y0 + 1;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const ticks = 5;
  let grid = '';
  for (let i = 0; i <= ticks; i++) {
    const y = y0 + ((y1 - y0) * i) / ticks;
    grid += `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" stroke="#e3e3e3"/>`;
    grid += `<text x="${m.l - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${Math.abs(y) >= 100 ? y.toFixed(0) : y.toFixed(2)}</text>`;
  }
  // x ticks: whole numbers when the data are (steps, epochs), without repeats
  const integral = all.every(([x]) => Number.isInteger(x));
  const seen = new Set<string>();
  for (let i = 0; i <= ticks; i++) {
    let x = x0 + ((x1 - x0) * i) / ticks;
    if (integral) x = Math.round(x);
    const label = integral ? String(x) : x.toFixed(1);
    if (seen.has(label)) continue;
    seen.add(label);
    grid += `<text x="${sx(x).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle">${label}</text>`;
  }
  const lines = series
    .filter((s) => s.points.length)
    .map((s) => {
      const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      const d = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      const dots =
        pts.length <= 40
          ? pts
              .map(
                ([x, y]) =>
                  `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${s.colour}"/>`,
              )
              .join('')
          : '';
      return `<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="1.8"/>${dots}`;
    })
    .join('');
  let lx = m.l + 8;
  const legend = series
    .map((s) => {
      const item = `<rect x="${lx}" y="8" width="12" height="4" fill="${s.colour}"/><text x="${lx + 16}" y="14">${esc(s.name)}</text>`;
      lx += 30 + s.name.length * 5.6;
      return item;
    })
    .join('');
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(opts.title)}" font-family="sans-serif" font-size="11" fill="#333">
<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>${grid}
<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#888"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#888"/>
${lines}${legend}
<text x="${(W + m.l) / 2}" y="${H - 6}" text-anchor="middle">${esc(opts.xLabel)}</text>
<text transform="translate(12 ${(H - m.b + m.t) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>
</svg><figcaption>${esc(opts.title)}</figcaption></figure>`;
}

function movingAverage(points: [number, number][], k: number): [number, number][] {
  if (points.length <= k) return points;
  const out: [number, number][] = [];
  let s = 0;
  for (let i = 0; i < points.length; i++) {
    s += points[i]![1];
    if (i >= k) s -= points[i - k]![1];
    if (i >= k - 1) out.push([points[i]![0], s / k]);
  }
  return out;
}

/** Builds the HTML text of the report. */
export async function renderReport(d: ReportData): Promise<string> {
  const steps = d.metrics.filter((r) => r['type'] === 'step');
  const vals = d.metrics.filter((r) => r['type'] === 'val');
  const k = Math.max(1, Math.round(steps.length / 60));
  const colours = ['#1f77b4', '#ff7f0e', '#2ca02c', '#8c564b', '#e377c2'];
  const lossChart = lineChart(
    (d.losses ?? WSFCN_LOSSES).map((l, i) => ({
      name: i === 0 ? `${l.name} (mean of ${k})` : l.name,
      colour: colours[i % colours.length]!,
      points: movingAverage(
        steps
          .filter((r) => typeof r[l.key] === 'number')
          .map((r) => [r['step'] as number, r[l.key] as number] as [number, number]),
        k,
      ),
    })),
    { title: 'Training losses per step (moving average)', xLabel: 'step', yLabel: 'loss', yMin: 0 },
  );
  const valSeries = (name: string, key: string, colour: string): Series => ({
    name,
    colour,
    points: vals
      .filter((r) => typeof r[key] === 'number')
      .map((r) => [r['epoch'] as number, (r[key] as number) * 100]),
  });
  const miouChart = lineChart(
    [
      valSeries('val mIoU (single scale)', 'miou', '#d62728'),
      valSeries('val mAP (image labels)', 'map', '#17becf'),
      valSeries('val F1', 'f1', '#bcbd22'),
      {
        name: 'val 1 − loss',
        colour: '#9467bd',
        points: vals.map((r) => [r['epoch'] as number, (1 - (r['loss'] as number)) * 100]),
      },
    ],
    {
      title: 'Validation after each checked epoch',
      xLabel: 'epochs completed',
      yLabel: '%',
      yMin: 0,
      yMax: 100,
    },
  );

  let stagesHtml = '';
  if (d.stages) {
    const s = d.stages;
    const row = (name: string, m: SegMetrics, note: string) =>
      `<tr><td>${name}</td><td class="num">${pct(m.miou)}</td><td class="num">${pct(m.miouNoBackground)}</td><td class="num">${pct(m.pixelAccuracy)}</td><td>${note}</td></tr>`;
    stagesHtml = `<h2>What each stage adds (${s.images} held-out images, same images for every row)</h2>
<table><thead><tr><th>stage</th><th>mIoU</th><th>mIoU w/o bg</th><th>pixel acc.</th><th>how</th></tr></thead><tbody>
${row('raw masks', s.raw, 'network softmax masks, single scale, cleaned with the ground-truth image labels (as training sees them)')}
${row('PAMR-refined masks', s.pamr, 'raw masks refined by PAMR, cleaned, argmax (every pixel labelled)')}
${row('PAMR pseudo-labels', s.pseudoLabelled, `pseudo ground truth of the mask loss, scored on the ${pct(s.pseudoCoverage)} of pixels it labels (the rest is ignored by the loss)`)}
${row('final prediction', s.pred, 'inference: scales and flips merged, predicted image labels, constant background score (spec §4.9)')}
</tbody></table>`;
  }

  let evalHtml = '';
  let classTable = '';
  const lastVal = vals[vals.length - 1];
  const perClass = d.evaluation?.metrics.iou ?? (lastVal?.['iou'] as number[] | undefined);
  if (d.evaluation) {
    const m = d.evaluation.metrics;
    const over =
      m.over === 'all'
        ? `over all ${m.iou.length} classes, absent ones as 0`
        : `over the ${m.classes} classes present`;
    evalHtml = `<h2>Evaluation</h2><p><b>mIoU ${pct(m.miou)}</b> (with background, ${over}) · ${pct(m.miouNoBackground)} without background · pixel accuracy ${pct(m.pixelAccuracy)} — ${d.evaluation.images} images, ${esc(d.evaluation.how)}.</p>`;
  }
  // image-label quality of the last validation (every validation image, with or without a mask)
  const cls = lastVal?.['classification'] as
    | { perClass: { ap: number | null; f1: number | null; positives: number }[]; threshold: number }
    | undefined;
  if (perClass || cls) {
    const pal = vocColorMap();
    const num = (v: number | null | undefined) => pct(v ?? Number.NaN);
    const rows = d.classNames
      .map((name, c) => {
        const col = `rgb(${pal[c * 3]},${pal[c * 3 + 1]},${pal[c * 3 + 2]})`;
        const v = perClass?.[c] ?? Number.NaN;
        const k = c > 0 ? cls?.perClass[c - 1] : undefined;
        return `<tr><td><span class="sw" style="background:${col}"></span>${esc(name)}</td><td class="num">${num(v)}</td><td><div class="bar" style="width:${Number.isFinite(v) ? Math.max(0, Math.min(100, v * 100)).toFixed(1) : 0}%"></div></td>${cls ? `<td class="num">${k ? num(k.ap) : ''}</td><td class="num">${k ? num(k.f1) : ''}</td><td class="num">${k ? k.positives : ''}</td>` : ''}</tr>`;
      })
      .join('\n');
    const head = cls ? `<th>AP</th><th>F1 at ${cls.threshold}</th><th>val images with the class</th>` : '';
    classTable = `<h2>Per-class scores ${d.evaluation ? '(IoU: evaluation; AP, F1: last validation)' : '(last validation)'}</h2><p class="muted">IoU “–”: the class is in neither the ground truth nor the predictions, or no validation image has a mask. AP and F1 score the predicted image labels on every validation image.</p><table class="classes"><thead><tr><th>class</th><th>IoU</th><th style="width:240px"></th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
  }

  let samplesHtml = '';
  if (d.samples.length) {
    const columns = d.sampleColumns ?? WSFCN_SAMPLE_COLUMNS;
    const cells: string[] = [];
    for (const s of d.samples) {
      const parts = [`<td><img src="${await pngUri(s.image)}" alt="image ${esc(s.id)}"></td>`];
      for (const [i, col] of columns.entries()) {
        const m = s.masks[i];
        const pic = !m
          ? null
          : 'rgb' in m
            ? m.rgb
            : col.partial
              ? pseudoOverlay(s.image, m)
              : overlayMask(s.image, m, 0.6);
        parts.push(pic ? `<td><img src="${await pngUri(pic)}" alt="${esc(col.title)}"></td>` : '<td>–</td>');
      }
      cells.push(`<tr><th class="id">${esc(s.id)}</th>${parts.join('')}</tr>`);
    }
    const legend = d.classNames
      .map((n, c) => {
        const pal = vocColorMap();
        return `<span class="lg"><span class="sw" style="background:rgb(${pal[c * 3]},${pal[c * 3 + 1]},${pal[c * 3 + 2]})"></span>${esc(n)}</span>`;
      })
      .join(' ');
    samplesHtml = `<h2>Fixed sample</h2><p class="muted">${esc(d.sampleNote ?? (d.sampleColumns ? 'Class colours over the image.' : WSFCN_SAMPLE_NOTE))} ${legend}</p>
<table class="samples"><thead><tr><th></th><th>image</th>${columns.map((c) => `<th>${esc(c.title)}</th>`).join('')}</tr></thead><tbody>${cells.join('\n')}</tbody></table>`;
  }

  const notes = (d.notes ?? []).map((n) => `<li>${esc(n)}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(d.title)}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222;line-height:1.45;padding:0 16px}
h1{font-size:1.6em;margin-bottom:0.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:middle}
td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#666;font-size:0.92em}
.samples img{width:150px;height:auto;image-rendering:pixelated;display:block}.samples td{padding:3px}.id{font-weight:normal;font-size:0.8em;color:#666}
.sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px;border:1px solid #999}.lg{margin-right:10px;white-space:nowrap}
.bar{height:10px;background:#4a90d9}.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-size:0.9em;color:#555;text-align:center}
details pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:0.85em}
</style></head><body>
<h1>${esc(d.title)}</h1>
<p class="muted">Run folder <code>${esc(d.runDir)}</code> · preset <code>${esc(d.preset)}</code> · backend <code>${esc(d.backend)}</code> · written ${esc(new Date().toISOString())}</p>
${notes ? `<ul>${notes}</ul>` : ''}
${evalHtml}
${(d.sections ?? []).join('\n')}
${stagesHtml}
${samplesHtml}
${d.metrics.length ? `<h2>Curves</h2><div class="charts">${lossChart}${miouChart}</div>` : ''}
${classTable}
<h2>Configuration</h2><details><summary>resolved config.json</summary><pre>${esc(JSON.stringify(d.config, null, 2))}</pre></details>
</body></html>
`;
}
