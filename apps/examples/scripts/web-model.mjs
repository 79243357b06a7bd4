#!/usr/bin/env node
// Regenerates the web page's static assets from a wsss run (a `wsss demo` run, a run trained on your own images, or
// one made by `wsss import` from a released PyTorch checkpoint):
//   web/public/model/   `wsss export --format tfjs --float16` of the run's best checkpoint, else its last
//                       (model.json, weights.bin, wsss-model.json)
//   web/public/samples/ index.json, the page's sample buttons: for a run on the synthetic set two of its held-out
//                       images; for any other run none (pick or drop your own)
//
//   npm run -w @wsss/examples web:model [-- <run folder or .safetensors checkpoint>] [--into <folder>]
//
// Without a run it takes the newest runs/demo-* folder of the repository (where `npm run demo` writes); `--into`
// writes somewhere else than web/public (the page test serves such a folder). Needs the packages built (the npm
// script builds @wsss/cli and its dependencies first).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeImage, renderSyntheticSample } from '@wsss/datasets';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const web = resolve(here, '../web');
/** Held-out indices shown as samples (the page's SAMPLES list names them). */
const SAMPLE_OFFSETS = [3, 29];

function newestDemoRun() {
  const runs = join(repo, 'runs');
  const dirs = existsSync(runs)
    ? readdirSync(runs)
        .filter((d) => /^demo-\d/.test(d) && existsSync(join(runs, d, 'checkpoints')))
        .map((d) => join(runs, d))
    : [];
  if (!dirs.length) {
    console.error('web:model: no runs/demo-* folder; run `npm run demo` first or pass a run folder');
    process.exit(1);
  }
  return dirs.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

const args = process.argv.slice(2);
const intoAt = args.indexOf('--into');
const into = intoAt >= 0 ? args.splice(intoAt, 2)[1] : undefined;
if (intoAt >= 0 && !into) {
  console.error('web:model: --into needs a folder');
  process.exit(2);
}
const publicDir = resolve(into ?? join(web, 'public'));
const arg = args[0];
function checkpointOf(run) {
  const best = join(run, 'checkpoints', 'best.safetensors');
  return existsSync(best) ? best : join(run, 'checkpoints', 'last.safetensors');
}
const checkpoint = resolve(
  arg ? (arg.endsWith('.safetensors') ? arg : checkpointOf(arg)) : checkpointOf(newestDemoRun()),
);
if (!existsSync(checkpoint)) {
  console.error(`web:model: no checkpoint at ${checkpoint}`);
  process.exit(1);
}
const runDir = dirname(dirname(checkpoint));
const { config } = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
const synthetic = config.data?.dataset === 'synthetic' ? config.data.synthetic : undefined;

const out = mkdtempSync(join(tmpdir(), 'wsss-web-model-'));
try {
  execFileSync(
    process.execPath,
    [
      join(repo, 'packages/cli/bin/wsss.mjs'),
      'export',
      '--checkpoint',
      checkpoint,
      '--output',
      out,
      '--format',
      'tfjs',
      '--float16',
      '--quiet',
    ],
    { stdio: 'inherit' },
  );
  const meta = JSON.parse(readFileSync(join(out, 'wsss-model.json'), 'utf8'));
  // provenance without this machine's paths
  meta.checkpoint = `${basename(runDir)}/checkpoints/${basename(checkpoint)}`;
  writeFileSync(join(out, 'wsss-model.json'), `${JSON.stringify(meta, null, 2)}\n`);
  const model = join(publicDir, 'model');
  rmSync(model, { recursive: true, force: true });
  await mkdir(model, { recursive: true });
  await cp(join(out, 'tfjs'), join(model, 'tfjs'), { recursive: true });
  await cp(join(out, 'wsss-model.json'), join(model, 'wsss-model.json'));
} finally {
  rmSync(out, { recursive: true, force: true });
}

const samples = join(publicDir, 'samples');
rmSync(samples, { recursive: true, force: true });
await mkdir(samples, { recursive: true });
const names = [];
for (const offset of synthetic ? SAMPLE_OFFSETS : []) {
  const index = synthetic.train + offset; // the held-out split follows the training images
  const s = renderSyntheticSample(synthetic.seed, index, {
    size: synthetic.size,
    numClasses: synthetic.numClasses,
  });
  names.push(`synthetic-${index}.png`);
  writeFileSync(join(samples, names.at(-1)), await encodeImage(s.image, 'png'));
}
writeFileSync(join(samples, 'index.json'), `${JSON.stringify(names)}\n`);
const size = (f) => `${(statSync(join(publicDir, f)).size / 1024).toFixed(0)} KiB`;
console.log(
  `web:model: ${checkpoint} → ${join(publicDir, 'model')} (weights.bin ${size('model/tfjs/weights.bin')}, ` +
    `model.json ${size('model/tfjs/model.json')}); ${names.length} sample image(s) in ${samples}`,
);
