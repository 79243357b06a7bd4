#!/usr/bin/env node
// Regenerates the web page's static assets from a wsss run (a `wsss demo` run, a run trained on your own images, or
// one made by `wsss import` from a released PyTorch checkpoint):
//   web/public/model/   `wsss export --format tfjs --float16` of the run's best checkpoint, else its last
//                       (tfjs/model.json, tfjs/weights.bin, wsss-model.json), and model.onnx: that tfjs model as
//                       loaded (float16 weights widened to float32) exported with @wsss/onnx's exportOnnx (output
//                       last_conv, the foreground logits, NHWC), for the page's ONNX Runtime engine
//   web/public/samples/ index.json, the page's sample buttons: for a run on the synthetic set two of its held-out
//                       images; for any other run none (pick or drop your own)
//
//   npm run -w @wsss/examples web:model [-- <run folder or .safetensors checkpoint>] [--into <folder>]
//   npm run -w @wsss/examples web:model -- --onnx-only [--into <folder>]
//
// Without a run it takes the newest runs/demo-* folder of the repository (where `npm run demo` writes); `--into`
// writes somewhere else than web/public (the page test serves such a folder). `--onnx-only` takes no run: it
// (re)writes model/model.onnx from the tfjs model already in <folder>/model/tfjs and leaves everything else as it
// is (assets made before the page had an ONNX engine). Needs the packages built (the npm script builds @wsss/cli
// and its dependencies first; --onnx-only also needs @wsss/onnx built).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
// '@wsss/cli' registers the WS-FCN layer classes (WsssWideResNet38, WsssFca, …) that model.json names
import '@wsss/cli';
import { setBackend } from '@wsss/core';
import { fileSystem, writeFileAtomic } from '@wsss/core/node';
import { encodeImage, renderSyntheticSample } from '@wsss/datasets';
import { exportOnnx } from '@wsss/onnx';

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

/**
 * Writes `<modelDir>/model.onnx`: the tfjs LayersModel in `<modelDir>/tfjs` as tfjs loads it (the page's tfjs
 * engine runs the very same float32 weights) → `exportOnnx` with its defaults (head 'none', layout 'nhwc': input
 * `image` (N,H,W,3), output `last_conv` (N,h,w,K), what `applyModel` returns). Written atomically (temp + rename).
 * Returns the file's path.
 */
async function writeOnnx(modelDir) {
  await setBackend('cpu');
  const model = await loadLayersModel(fileSystem(join(modelDir, 'tfjs')));
  try {
    const file = join(modelDir, 'model.onnx');
    await writeFileAtomic(file, exportOnnx(model));
    return file;
  } finally {
    model.dispose();
  }
}

const args = process.argv.slice(2);
const intoAt = args.indexOf('--into');
const into = intoAt >= 0 ? args.splice(intoAt, 2)[1] : undefined;
if (intoAt >= 0 && !into) {
  console.error('web:model: --into needs a folder');
  process.exit(2);
}
const publicDir = resolve(into ?? join(web, 'public'));
const onnxOnlyAt = args.indexOf('--onnx-only');
if (onnxOnlyAt >= 0) {
  args.splice(onnxOnlyAt, 1);
  if (args.length) {
    console.error(`web:model: --onnx-only takes no run (got ${args.join(' ')})`);
    process.exit(2);
  }
  const modelDir = join(publicDir, 'model');
  if (!existsSync(join(modelDir, 'tfjs', 'model.json'))) {
    console.error(`web:model: --onnx-only: no tfjs model at ${join(modelDir, 'tfjs', 'model.json')}`);
    process.exit(1);
  }
  const file = await writeOnnx(modelDir);
  console.log(
    `web:model: ${join(modelDir, 'tfjs')} → ${file} (${(statSync(file).size / 1024).toFixed(0)} KiB)`,
  );
  process.exit(0);
}
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
  // before the page's folder is touched: a model the exporter cannot convert leaves it as it was
  await writeOnnx(out);
  const model = join(publicDir, 'model');
  rmSync(model, { recursive: true, force: true });
  await mkdir(model, { recursive: true });
  await cp(join(out, 'tfjs'), join(model, 'tfjs'), { recursive: true });
  await cp(join(out, 'wsss-model.json'), join(model, 'wsss-model.json'));
  await cp(join(out, 'model.onnx'), join(model, 'model.onnx'));
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
    `model.json ${size('model/tfjs/model.json')}, model.onnx ${size('model/model.onnx')}); ${names.length} ` +
    `sample image(s) in ${samples}`,
);
