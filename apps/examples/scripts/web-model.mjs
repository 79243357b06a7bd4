#!/usr/bin/env node
// Regenerates the web page's static assets from a `wsss demo` run:
//   web/public/model/   `wsss export --format tfjs --float16` of the run's best checkpoint (model.json, weights.bin,
//                       wsss-model.json)
//   web/public/samples/ two held-out images of the run's synthetic set (the sample buttons of the page)
//
//   npm run -w @wsss/examples web:model [-- <run folder or .safetensors checkpoint>]
//
// Without an argument it takes the newest runs/demo-* folder of the repository (where `npm run demo` writes).
// Needs the packages built (the npm script builds @wsss/cli and its dependencies first).
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

const arg = process.argv[2];
const checkpoint = resolve(
  arg
    ? arg.endsWith('.safetensors')
      ? arg
      : join(arg, 'checkpoints', 'best.safetensors')
    : join(newestDemoRun(), 'checkpoints', 'best.safetensors'),
);
if (!existsSync(checkpoint)) {
  console.error(`web:model: no checkpoint at ${checkpoint}`);
  process.exit(1);
}
const runDir = dirname(dirname(checkpoint));
const { config } = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
const synthetic = config.data?.synthetic;
if (config.data?.dataset !== 'synthetic' || !synthetic) {
  console.error(
    `web:model: ${runDir} was not trained on the synthetic set; the page expects the demo's model`,
  );
  process.exit(1);
}

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
  const model = join(web, 'public', 'model');
  rmSync(model, { recursive: true, force: true });
  await mkdir(model, { recursive: true });
  await cp(join(out, 'tfjs'), join(model, 'tfjs'), { recursive: true });
  await cp(join(out, 'wsss-model.json'), join(model, 'wsss-model.json'));
} finally {
  rmSync(out, { recursive: true, force: true });
}

const samples = join(web, 'public', 'samples');
await mkdir(samples, { recursive: true });
for (const offset of SAMPLE_OFFSETS) {
  const index = synthetic.train + offset; // the held-out split follows the training images
  const s = renderSyntheticSample(synthetic.seed, index, {
    size: synthetic.size,
    numClasses: synthetic.numClasses,
  });
  writeFileSync(join(samples, `synthetic-${index}.png`), await encodeImage(s.image, 'png'));
}
const size = (f) => `${(statSync(join(web, 'public', f)).size / 1024).toFixed(0)} KiB`;
console.log(
  `web:model: ${checkpoint} → web/public/model (weights.bin ${size('model/tfjs/weights.bin')}, ` +
    `model.json ${size('model/tfjs/model.json')}) and web/public/samples`,
);
