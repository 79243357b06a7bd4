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
//   --torch-threads=equal|N: PyTorch's thread count. `equal` (default) runs every torch script once per thread count
//   the backends use (wasm:2 → 2; wasm, cpu, webgpu → 1) and pairs each of our rows with the torch row at its own
//   thread count; a number pins PyTorch to it for every pair (e.g. to show a 2-vs-1 comparison, labelled as such).
//   Each result row records `threads` (ours) and `torchThreads`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchDir as here, machine, median, parseArgs, writeResult } from './lib.mjs';

const args = parseArgs();
const only = args.only;
const backends = (args.backends ?? 'wasm,wasm:2,cpu').split(',');
const env = { ...process.env, ...(args.quick ? { WSSS_BENCH_QUICK: '1' } : {}) };
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function runJson(cmd, argv, label, childEnv = env) {
  const r = spawnSync(cmd, argv, {
    encoding: 'utf8',
    env: childEnv,
    maxBuffer: 64 << 20,
    cwd: join(here, '..'),
  });
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
const backendThreads = (b) => Number(b.split(':')[1] ?? 1);
const torchThreadsArg = args['torch-threads'] ?? 'equal';
if (torchThreadsArg !== 'equal' && !/^[1-9]\d*$/.test(torchThreadsArg)) {
  process.stderr.write(
    `[bench] --torch-threads=${torchThreadsArg}: expected "equal" or a positive integer\n`,
  );
  process.exit(2);
}
/** PyTorch's thread count for one of our rows run with `threads`. */
const torchThreadsFor = (threads) => (torchThreadsArg === 'equal' ? threads : Number(torchThreadsArg));
const torchThreadCounts = [...new Set(backends.map((b) => torchThreadsFor(backendThreads(b))))].sort(
  (a, b) => a - b,
);

/** One pass over every torch script and case file: its rows. */
function runRound(round) {
  const rows = [];
  const tag = rounds > 1 ? ` (round ${round + 1}/${rounds})` : '';
  for (const threads of torchThreadCounts) {
    for (const f of pick('torch', '.py')) {
      process.stderr.write(`[bench] torch ${f} (${threads} thread${threads > 1 ? 's' : ''})${tag}\n`);
      const torchEnv = { ...env, WSSS_TORCH_THREADS: String(threads) };
      rows.push(...runJson(python, [join(here, 'torch', f)], `torch/${f}`, torchEnv));
    }
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
const key = (r) => `${r.id}\u0000${r.impl}\u0000${r.threads ?? 1}`;
const torchKey = (id, threads) => `${id}\u0000${threads}`;
const torch = new Map();
const ours = new Map();
for (const rows of perRound) {
  const t = new Map(rows.filter((r) => r.impl === 'torch').map((r) => [torchKey(r.id, r.threads ?? 1), r]));
  for (const r of rows) {
    const into = r.impl === 'torch' ? torch : ours;
    const e = into.get(key(r)) ?? { row: r, ms: [], ratios: [] };
    e.ms.push(r.ms);
    const tr = r.impl === 'torch' ? undefined : t.get(torchKey(r.id, torchThreadsFor(r.threads ?? 1)));
    if (r.impl !== 'torch' && tr) e.ratios.push(r.ms / tr.ms);
    into.set(key(r), e);
  }
}
const round3 = (x) => Number(x.toFixed(3));
const torchRows = [...torch.values()].map((e) => ({ ...e.row, ms: round3(median(e.ms)) }));
const torchById = new Map(torchRows.map((r) => [torchKey(r.id, r.threads ?? 1), r]));
const results = [...ours.values()].map((e) => {
  const torchThreads = torchThreadsFor(e.row.threads ?? 1);
  const t = torchById.get(torchKey(e.row.id, torchThreads));
  const row = {
    ...e.row,
    ms: round3(median(e.ms)),
    torchThreads: t ? torchThreads : null,
    torchMs: t?.ms ?? null,
  };
  row.ratio = e.ratios.length ? Number(median(e.ratios).toFixed(2)) : null;
  if (rounds > 1) row.roundRatios = e.ratios.map((x) => Number(x.toFixed(2)));
  return row;
});
const out = {
  date: new Date().toISOString(),
  machine: machine(),
  rounds,
  torchThreads: torchThreadsArg,
  torch: torchRows,
  results,
};
const text = JSON.stringify(out, null, 2);
process.stdout.write(`${text}\n`);
const file = writeResult(`bench-${out.date.replace(/[:.]/g, '-')}.json`, text);
writeResult('latest.json', text);
process.stderr.write(`[bench] wrote ${file}\n`);
