#!/usr/bin/env node
// Benchmark runner (`npm run bench`). Not part of the tests.
//
// Protocol: every bench/cases/*.mjs is run as `node <file> --backend=<b>` for each backend it supports
// (exported by printing rows for the backend given); every bench/torch/*.py is run with Debian's python3
// (`/usr/bin/python3`, which has python3-torch). Each prints ONE JSON array of rows to stdout:
//   { "id": "conv3x3-train/d1", "impl": "wasm" | "cpu" | "webgpu" | "torch", "ms": 12.3, "reps": 20,
//     "threads": 1, "note"?: "..." }
// Rows with the same id are paired; ratio = ours / torch. Results go to stdout and bench/results/.
//
// Options: --only=<substring of case file>  --backends=wasm,wasm:2,cpu (name[:threads])  --quick (fewer reps; passed to cases as WSSS_BENCH_QUICK=1)
//   --rounds=N: run everything N times, torch and ours alternating, and pair rows within each round: a row's ms and
//   torchMs are then medians over the rounds and its ratio the median of the per-round ratios (listed in
//   `roundRatios`). On a shared machine whose speed drifts by tens of percent over minutes, this keeps the ratio
//   from comparing a slow stretch with a fast one.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchDir as here, machine, median, parseArgs, writeResult } from './lib.mjs';

const args = parseArgs();
const only = args.only;
const backends = (args.backends ?? 'wasm,wasm:2,cpu').split(',');
const env = { ...process.env, ...(args.quick ? { WSSS_BENCH_QUICK: '1' } : {}) };
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function runJson(cmd, argv, label) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env, maxBuffer: 64 << 20, cwd: join(here, '..') });
  if (r.status !== 0) {
    process.stderr.write(`[bench] ${label} failed (exit ${r.status}):\n${r.stderr}\n`);
    return [];
  }
  const line = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('['))
    .pop();
  try {
    return JSON.parse(line ?? '[]');
  } catch {
    process.stderr.write(`[bench] ${label}: no JSON array on stdout\n${r.stdout}\n`);
    return [];
  }
}

const pick = (dir, ext) =>
  existsSync(join(here, dir))
    ? readdirSync(join(here, dir))
        .filter((f) => f.endsWith(ext) && !f.startsWith('_') && (!only || f.includes(only)))
        .sort()
    : [];
const rounds = Math.max(1, Number(args.rounds ?? 1));

/** One pass over every torch script and case file: its rows. */
function runRound(round) {
  const rows = [];
  const tag = rounds > 1 ? ` (round ${round + 1}/${rounds})` : '';
  for (const f of pick('torch', '.py')) {
    process.stderr.write(`[bench] torch ${f}${tag}\n`);
    rows.push(...runJson(python, [join(here, 'torch', f)], `torch/${f}`));
  }
  for (const f of pick('cases', '.mjs')) {
    for (const b of backends) {
      process.stderr.write(`[bench] ${b} ${f}${tag}\n`);
      rows.push(...runJson(process.execPath, [join(here, 'cases', f), `--backend=${b}`], `${b} ${f}`));
    }
  }
  return rows;
}

const perRound = Array.from({ length: rounds }, (_, i) => runRound(i));
const key = (r) => `${r.id}\u0000${r.impl}`;
const torch = new Map();
const ours = new Map();
for (const rows of perRound) {
  const t = new Map(rows.filter((r) => r.impl === 'torch').map((r) => [r.id, r]));
  for (const r of rows) {
    const into = r.impl === 'torch' ? torch : ours;
    const e = into.get(key(r)) ?? { row: r, ms: [], ratios: [] };
    e.ms.push(r.ms);
    const tr = t.get(r.id);
    if (r.impl !== 'torch' && tr) e.ratios.push(r.ms / tr.ms);
    into.set(key(r), e);
  }
}
const round3 = (x) => Number(x.toFixed(3));
const torchRows = [...torch.values()].map((e) => ({ ...e.row, ms: round3(median(e.ms)) }));
const torchById = new Map(torchRows.map((r) => [r.id, r]));
const results = [...ours.values()].map((e) => {
  const t = torchById.get(e.row.id);
  const row = { ...e.row, ms: round3(median(e.ms)), torchMs: t?.ms ?? null };
  row.ratio = e.ratios.length ? Number(median(e.ratios).toFixed(2)) : null;
  if (rounds > 1) row.roundRatios = e.ratios.map((x) => Number(x.toFixed(2)));
  return row;
});
const out = {
  date: new Date().toISOString(),
  machine: machine(),
  rounds,
  torch: torchRows,
  results,
};
const text = JSON.stringify(out, null, 2);
process.stdout.write(`${text}\n`);
const file = writeResult(`bench-${out.date.replace(/[:.]/g, '-')}.json`, text);
writeResult('latest.json', text);
process.stderr.write(`[bench] wrote ${file}\n`);
