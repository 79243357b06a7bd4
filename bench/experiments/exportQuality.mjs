// Sizes and held-out mIoU of a run's tfjs export at each weight storage (float32, float16, uint8, uint16):
//   node bench/experiments/exportQuality.mjs <run folder> [images to score, default all of the validation split]
// Exports the run's last checkpoint (the one the demo report scores) with `wsss export --format tfjs [--float16 | --quantize …]`, loads each export with
// plain tf.loadLayersModel (as a browser would) and scores predictWsFcn with the run's eval settings on its
// validation split (at each image's own size). Needs the packages built (npx turbo run build).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { predictWsFcn } from '@wsss/cli';
import { ConfusionMatrix, setBackend } from '@wsss/core';
import { loadLayersModelFromFile } from '@wsss/core/node';
import { IMAGENET_MEAN, IMAGENET_STD, VocDataset } from '@wsss/datasets';

const run = process.argv[2];
const limit = Number(process.argv[3] ?? 0);
if (!run) throw new Error('usage: node bench/experiments/exportQuality.mjs <run folder> [images]');
const bin = new URL('../../packages/cli/bin/wsss.mjs', import.meta.url).pathname;
const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
const config = cfg.config;
await setBackend('wasm', { wasmThreads: 2 });
const s = config.data.synthetic;
const root = join(run, 'data', `synthetic-${s.train}-${s.val}-${s.size}px-k${s.numClasses}-s${s.seed}`);
const ds = await VocDataset.open({ root: config.data.root ?? root, split: config.data.valSplit });
const n = limit ? Math.min(limit, ds.length) : ds.length;
const out = mkdtempSync(join(tmpdir(), 'wsss-export-quality-'));
const rows = [];
for (const storage of ['float32', 'float16', 'uint8', 'uint16']) {
  const dir = join(out, storage);
  const flag = storage === 'float32' ? [] : storage === 'float16' ? ['--float16'] : ['--quantize', storage];
  execFileSync(process.execPath, [
    bin,
    'export',
    '--checkpoint',
    join(run, 'checkpoints', 'last.safetensors'),
    '-o',
    dir,
    '--format',
    'tfjs',
    '-q',
    ...flag,
  ]);
  const bytes = statSync(join(dir, 'tfjs', 'weights.bin')).size;
  const model = await loadLayersModelFromFile(join(dir, 'tfjs'));
  const net = { model, config: { numClasses: cfg.classNames.length - 1 } };
  const cm = new ConfusionMatrix(cfg.classNames.length);
  for (let i = 0; i < n; i++) {
    const rec = await ds.read(i);
    const { width: w, height: h } = rec.image;
    const x = tf.tidy(() =>
      tf.div(
        tf.sub(tf.div(tf.tensor4d(rec.image.data, [1, h, w, 3], 'int32'), 255), IMAGENET_MEAN),
        IMAGENET_STD,
      ),
    );
    const p = predictWsFcn(net, x, {
      ...config.eval,
      focalP: config.train.focalP,
      focalLambda: config.train.focalLambda,
    });
    cm.update(p.classes.dataSync(), rec.mask.data);
    tf.dispose([x, p.scores, p.labels, p.masks, p.classes]);
  }
  rows.push({ storage, bytes, miou: cm.meanIoU({ absentClasses: 'exclude' }), images: n });
  model.dispose();
}
const base = rows[0].miou;
for (const r of rows)
  console.log(
    `${r.storage.padEnd(8)} ${(r.bytes / 1e6).toFixed(3).padStart(9)} MB  mIoU ${(r.miou * 100).toFixed(2)}%  (${((r.miou - base) * 100).toFixed(2)} points, ${r.images} images)`,
  );
