#!/usr/bin/env node
// Lockstep comparison of one training step, ours against PyTorch (not part of the tests).
//
// bench/run.mjs times each side for a few seconds and then the other; on a shared machine whose speed drifts by
// tens of percent within a minute that pairs a fast stretch with a slow one. Here both sides are started once
// (`bench/cases/trainstep.mjs --serve`, `bench/torch/trainstep.py --serve`: the CLI's demo preset, batch 16 at
// 96 px) and asked for one step each, alternately, `--pairs` times after `--warmup` pairs. Each pair gives a ratio
// (ours / torch) taken within about a second; the result is the median of those ratios with the medians of both
// sides.
//
// PyTorch runs at our thread count (wasm:2 → 2, wasm → 1) unless `--torch-threads=N` says otherwise; the JSON
// records both (`threads`, `torchThreads`).
//
//   node bench/paired.mjs [--backend=wasm:2] [--torch-threads=N] [--pairs=15] [--warmup=2]
// Prints one JSON object and writes it to bench/results/paired-<date>.json.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { benchDir as here, machine, median, parseArgs, writeResult } from './lib.mjs';

const args = parseArgs();
const backend = args.backend ?? 'wasm:2';
const pairs = Number(args.pairs ?? 15);
const warmup = Number(args.warmup ?? 2);
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const threads = Number(backend.split(':')[1] ?? 1);
const torchThreads = Number(args['torch-threads'] ?? threads);
if (!Number.isInteger(torchThreads) || torchThreads < 1) {
  process.stderr.write(`[paired] --torch-threads=${args['torch-threads']}: expected a positive integer\n`);
  process.exit(2);
}

/** A served step: `step()` resolves to the ms the side measured for one step. */
function start(label, cmd, argv, env = process.env) {
  const child = spawn(cmd, argv, { cwd: join(here, '..'), env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`${label} ended early (exit ${child.exitCode})`);
      if (value.startsWith('{')) return JSON.parse(value);
    }
  };
  return {
    ready: next(),
    async step() {
      child.stdin.write('step\n');
      return (await next()).ms;
    },
    stop() {
      child.stdin.end('quit\n');
    },
  };
}

const ours = start('ours', process.execPath, [
  join(here, 'cases', 'trainstep.mjs'),
  '--serve',
  `--backend=${backend}`,
]);
const torch = start('torch', python, [join(here, 'torch', 'trainstep.py'), '--serve'], {
  ...process.env,
  WSSS_TORCH_THREADS: String(torchThreads),
});
await Promise.all([ours.ready, torch.ready]);
const rows = [];
for (let i = 0; i < warmup + pairs; i++) {
  // alternate which side goes first, so that neither always follows the other's cache state
  const [a, b] = i % 2 ? [torch, ours] : [ours, torch];
  const ta = await a.step();
  const tb = await b.step();
  const [o, t] = a === ours ? [ta, tb] : [tb, ta];
  if (i >= warmup) rows.push({ ours: o, torch: t, ratio: o / t });
  process.stderr.write(
    `[paired] ${i < warmup ? 'warmup' : `pair ${i - warmup + 1}/${pairs}`}: ours ${o.toFixed(0)} ms, torch ${t.toFixed(0)} ms\n`,
  );
}
ours.stop();
torch.stop();
const r2 = (x) => Number(x.toFixed(2));
const out = {
  date: new Date().toISOString(),
  machine: machine(),
  id: 'wsfcn-trainstep/demo-preset-96',
  impl: backend,
  threads,
  torchThreads,
  pairs,
  oursMs: r2(median(rows.map((r) => r.ours))),
  torchMs: r2(median(rows.map((r) => r.torch))),
  ratio: r2(median(rows.map((r) => r.ratio))),
  ratioRange: [r2(Math.min(...rows.map((r) => r.ratio))), r2(Math.max(...rows.map((r) => r.ratio)))],
  ratios: rows.map((r) => r2(r.ratio)),
};
const text = JSON.stringify(out, null, 2);
process.stdout.write(`${text}\n`);
process.stderr.write(
  `[paired] wrote ${writeResult(`paired-${out.date.replace(/[:.]/g, '-')}.json`, text)}\n`,
);
