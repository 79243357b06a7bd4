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
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
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

const rows = [];
const pick = (dir, ext) =>
  existsSync(join(here, dir))
    ? readdirSync(join(here, dir))
        .filter((f) => f.endsWith(ext) && !f.startsWith('_') && (!only || f.includes(only)))
        .sort()
    : [];
for (const f of pick('torch', '.py')) {
  process.stderr.write(`[bench] torch ${f}\n`);
  rows.push(...runJson(python, [join(here, 'torch', f)], `torch/${f}`));
}
for (const f of pick('cases', '.mjs')) {
  for (const b of backends) {
    process.stderr.write(`[bench] ${b} ${f}\n`);
    rows.push(...runJson(process.execPath, [join(here, 'cases', f), `--backend=${b}`], `${b} ${f}`));
  }
}

const torch = new Map(rows.filter((r) => r.impl === 'torch').map((r) => [r.id, r]));
const results = rows
  .filter((r) => r.impl !== 'torch')
  .map((r) => {
    const t = torch.get(r.id);
    return { ...r, torchMs: t?.ms ?? null, ratio: t ? Number((r.ms / t.ms).toFixed(2)) : null };
  });
const out = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  torch: [...torch.values()],
  results,
};
const text = JSON.stringify(out, null, 2);
process.stdout.write(`${text}\n`);
const dir = join(here, 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `bench-${out.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(`${file}.tmp`, text);
renameSync(`${file}.tmp`, file);
writeFileSync(join(dir, 'latest.json.tmp'), text);
renameSync(join(dir, 'latest.json.tmp'), join(dir, 'latest.json'));
process.stderr.write(`[bench] wrote ${file}\n`);
