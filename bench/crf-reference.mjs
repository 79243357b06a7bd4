#!/usr/bin/env node
// @wsss/crf against pydensecrf (the C++ dense CRF of Krähenbühl & Koltun that WS-FCN's code calls) on the same
// inputs, in lockstep. Not part of the tests; needs pydensecrf importable by /usr/bin/python3 (built from source,
// see bench/README.md: pass its folder with --pydensecrf=<dir> or put it on PYTHONPATH).
//
// Cases, 500×375 (a VOC-sized image), WS-FCN's CRF (spec §4.9), 10 iterations, one core each side:
//   structured-21: the bench's structured scene (bench/cases/_crfScene.mjs) with all 20 classes present;
//   structured-4:  the same scene with background + 3 classes; the 17 absent classes sit at the clip (1e-5);
//   noise-21:      uniform-noise image and uniform-noise scores over 21 labels (the lattice's worst case).
// Both sides get byte-identical unaries (bg = (1 − max fg)^5, −log(clip(p, 1e-5)), built here) and image.
// Ours runs twice per case: activeLabels 'all' (every label, as pydensecrf: same work) and 'auto' (the default:
// labels whose probability never reaches 1e-4 are skipped). Reported per case: median wall and process-CPU ms of
// each, CPU-time ratio ours / pydensecrf per round (median over --rounds), and the share of pixels whose label
// equals pydensecrf's.
//
//   node bench/crf-reference.mjs [--pydensecrf=/tmp/pydensecrf] [--rounds=3] [--reps=3]
// Prints one JSON object and writes bench/results/crf-reference-<date>.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DenseCRF2D, unaryFromProbabilities, WS_FCN_CRF } from '@wsss/crf';
import { scene } from './cases/_crfScene.mjs';
import { seeded } from './cases/_seeded.mjs';
import { benchDir as here, machine, median, parseArgs, writeResult } from './lib.mjs';

const args = parseArgs();
const rounds = Number(args.rounds ?? 3);
const reps = Number(args.reps ?? 3);
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const pythonPath = [args.pydensecrf, process.env.PYTHONPATH].filter(Boolean).join(':');
const W = 500;
const H = 375;
const N = W * H;
const L = 21;

/** Labels-major unary of WS-FCN's CRF from foreground scores (N·20, pixel-major), as `wsFcnCrf` builds it. */
function wsFcnUnary(fg) {
  const C = L - 1;
  const probs = new Float32Array(N * L);
  for (let i = 0; i < N; i++) {
    let m = 0;
    for (let c = 0; c < C; c++) m = Math.max(m, fg[i * C + c]);
    probs[i * L] = (1 - m) ** WS_FCN_CRF.bgPower;
    for (let c = 0; c < C; c++) probs[i * L + 1 + c] = fg[i * C + c];
  }
  const pixelMajor = unaryFromProbabilities(probs, { clip: WS_FCN_CRF.clip });
  const out = new Float32Array(N * L);
  for (let i = 0; i < N; i++) for (let l = 0; l < L; l++) out[l * N + i] = pixelMajor[i * L + l];
  return out;
}

const all = Array.from({ length: 21 }, (_, l) => l);
const cases = [
  {
    id: 'structured-21',
    ...(({ image, fg }) => ({ rgb: image.data, unary: wsFcnUnary(fg) }))(scene(W, H, all, 7)),
  },
  {
    id: 'structured-4',
    ...(({ image, fg }) => ({ rgb: image.data, unary: wsFcnUnary(fg) }))(scene(W, H, [0, 3, 8, 15], 7)),
  },
  {
    id: 'noise-21',
    rgb: Uint8Array.from(seeded(N * 3, 11), (v) => Math.floor(v * 256)),
    unary: wsFcnUnary(seeded(N * (L - 1), 12)),
  },
];

const folder = mkdtempSync(join(tmpdir(), 'wsss-crf-ref-'));
writeFileSync(
  join(folder, 'cases.json'),
  JSON.stringify(
    cases.map((c) => ({ id: c.id, width: W, height: H, labels: L, iterations: WS_FCN_CRF.iterations, reps })),
  ),
);
for (const c of cases) {
  writeFileSync(join(folder, `${c.id}.rgb`), c.rgb);
  writeFileSync(join(folder, `${c.id}.unary`), new Uint8Array(c.unary.buffer));
}

function pydensecrf() {
  const r = spawnSync(python, [join(here, 'reference', 'pydensecrf_crf.py'), folder], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: pythonPath },
  });
  if (r.status !== 0) {
    process.stderr.write(`[crf-reference] pydensecrf failed (exit ${r.status}):\n${r.stderr}\n`);
    process.stderr.write('  build it from source and pass --pydensecrf=<its folder> (see bench/README.md)\n');
    process.exit(1);
  }
  return new Map(JSON.parse(r.stdout.trim().split('\n').pop()).map((row) => [row.id, row]));
}

/** Ours on one case: median wall / CPU ms over `reps` after a warm-up, and the labels. */
function ours(c, active) {
  const once = () => {
    const crf = new DenseCRF2D(W, H, L);
    crf.setUnaryEnergy(c.unary);
    crf.addPairwiseGaussian(WS_FCN_CRF.gaussian);
    crf.addPairwiseBilateral({ ...WS_FCN_CRF.bilateral, rgbim: c.rgb });
    crf.setActiveLabels(active);
    const labels = crf.map(WS_FCN_CRF.iterations);
    return { labels, activeLabels: crf.activeLabels.length };
  };
  once();
  const wall = [];
  const cpu = [];
  let last;
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    last = once();
    wall.push(performance.now() - t0);
    const d = process.cpuUsage(c0);
    cpu.push((d.user + d.system) / 1000);
  }
  return { ms: median(wall), cpuMs: median(cpu), ...last };
}

const perCase = new Map(cases.map((c) => [c.id, { ref: [], all: [], auto: [] }]));
for (let r = 0; r < rounds; r++) {
  const ref = pydensecrf();
  for (const c of cases) {
    const e = perCase.get(c.id);
    const refRow = ref.get(c.id);
    const refLabels = new Int32Array(readFileSync(join(folder, `${c.id}.pydensecrf.labels`)).buffer.slice(0));
    for (const active of ['all', 'auto']) {
      const o = ours(c, active);
      let same = 0;
      for (let i = 0; i < N; i++) if (o.labels[i] === refLabels[i]) same++;
      e[active].push({
        ...o,
        agree: same / N,
        cpuRatio: o.cpuMs / refRow.cpuMs,
        wallRatio: o.ms / refRow.ms,
      });
    }
    e.ref.push(refRow);
    process.stderr.write(
      `[crf-reference] round ${r + 1}/${rounds} ${c.id}: pydensecrf ${refRow.cpuMs} ms CPU; ours all ${e.all.at(-1).cpuMs.toFixed(0)} ms (${e.all.at(-1).activeLabels} labels), auto ${e.auto.at(-1).cpuMs.toFixed(0)} ms (${e.auto.at(-1).activeLabels} labels)\n`,
    );
  }
}
rmSync(folder, { recursive: true, force: true });

const r1 = (x) => Number(x.toFixed(1));
const r3 = (x) => Number(x.toFixed(3));
const side = (runs) => ({
  ms: r1(median(runs.map((x) => x.ms))),
  cpuMs: r1(median(runs.map((x) => x.cpuMs))),
  activeLabels: runs[0].activeLabels,
  cpuRatio: r3(median(runs.map((x) => x.cpuRatio))),
  cpuRatioRange: [r3(Math.min(...runs.map((x) => x.cpuRatio))), r3(Math.max(...runs.map((x) => x.cpuRatio)))],
  wallRatio: r3(median(runs.map((x) => x.wallRatio))),
  labelAgreement: Math.min(...runs.map((x) => x.agree)),
});
const out = {
  date: new Date().toISOString(),
  machine: machine(),
  settings: { width: W, height: H, labels: L, ...WS_FCN_CRF },
  rounds,
  reps,
  results: cases.map((c) => {
    const e = perCase.get(c.id);
    return {
      id: `crf/${W}x${H}-${c.id}`,
      pydensecrf: {
        ms: r1(median(e.ref.map((x) => x.ms))),
        cpuMs: r1(median(e.ref.map((x) => x.cpuMs))),
        activeLabels: L,
      },
      oursAll: side(e.all),
      oursAuto: side(e.auto),
    };
  }),
};
const text = JSON.stringify(out, null, 2);
process.stdout.write(`${text}\n`);
process.stderr.write(
  `[crf-reference] wrote ${writeResult(`crf-reference-${out.date.replace(/[:.]/g, '-')}.json`, text)}\n`,
);
