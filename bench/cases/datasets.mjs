// Loader throughput: decode (sharp) + spec §3.10 augmentation at 321 + batching into NHWC tensors, from
// VOC-sized (500x375) JPEGs, as images per second of one JS thread. Rows: { id: 'loader/voc-jpeg-321', … }.
// Each loader row's note also states what a training step consumes: the demo WS-FCN step of
// bench/cases/trainstep.mjs (128×128, batch 8, same backend) in images/s, measured here (wasm/webgpu
// only; WSSS_BENCH_NO_STEP=1 skips it). A full-size (321, ResNet-38d) step is far slower than the loader: its
// forward alone is `backbone-fwd/full-321` per image.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  batchToTensors,
  DataLoader,
  disposeBatchTensors,
  generateSyntheticSet,
  renderSyntheticSample,
  VocDataset,
  vocColorMap,
  writeFileAtomic,
  writeImage,
  writeIndexPng,
} from '@wsss/datasets';
import { emit, initBackend, quick } from './_util.mjs';
import { demoTrainStep } from './trainstep.mjs';

const backend = await initBackend();
const dir = mkdtempSync(join(tmpdir(), 'wsss-bench-voc-'));
try {
  const root = join(dir, 'VOC2012');
  const n = quick ? 16 : 48;
  const W = 500;
  const H = 375;
  const ids = [];
  for (let i = 0; i < n; i++) {
    const s = renderSyntheticSample(1, i, { size: W });
    const id = `img_${i}`;
    ids.push(id);
    await writeImage(
      join(root, 'JPEGImages', `${id}.jpg`),
      { width: W, height: H, data: s.image.data.subarray(0, W * H * 3) },
      90,
    );
    await writeIndexPng(
      join(root, 'SegmentationClass', `${id}.png`),
      { width: W, height: H, data: s.mask.data.subarray(0, W * H) },
      vocColorMap(),
    );
  }
  await writeFileAtomic(join(root, 'ImageSets', 'Segmentation', 'train.txt'), ids.join('\n'));
  const dataset = await VocDataset.open({ root, split: 'train' });
  const batchSize = 16;
  const run = async (epochs, workers) => {
    const loader = new DataLoader({
      dataset,
      batchSize,
      seed: 0,
      dropLast: true,
      transform: { size: 321 },
      workers,
    });
    let images = 0;
    const t0 = performance.now();
    for await (const b of loader.batches(epochs)) {
      const t = batchToTensors(b);
      t.images.dataSync();
      disposeBatchTensors(t);
      images += b.ids.length;
    }
    return { ms: performance.now() - t0, images };
  };
  const reps = quick ? 1 : 3;
  const rows = [];
  // workers 0: augmentation on the main thread (decoding runs on sharp's pool); 2: two worker threads.
  for (const [id, workers] of [
    ['loader/voc-jpeg-321', 0],
    ['loader/voc-jpeg-321-workers2', 2],
  ]) {
    await run(1, workers); // warm-up (JIT, sharp init, worker start)
    const times = [];
    for (let r = 0; r < reps; r++) {
      const { ms, images } = await run(2, workers); // 2 epochs per loader: worker start-up amortised
      times.push(ms / images);
    }
    times.sort((a, b) => a - b);
    const ms = Number(times[Math.floor(times.length / 2)].toFixed(3));
    rows.push({
      id,
      impl: backend,
      ms,
      reps,
      threads: Math.max(1, workers),
      note: `${(1000 / ms).toFixed(1)} img/s`,
    });
  }
  // What a training step consumes (the demo step; same backend, one thread).
  if (process.env.WSSS_BENCH_NO_STEP !== '1' && backend !== 'cpu') {
    const step = await demoTrainStep({ warmup: 1, reps: quick ? 1 : 3 });
    for (const r of rows) {
      r.note += `; consumer: demo train step (128x128, batch 8, ${backend}) ${step.imagesPerSec.toFixed(2)} img/s`;
    }
  }
  // The demo's data: 1,000 synthetic 128x128 images (render + JPEG/PNG encode + write), per image.
  const count = quick ? 100 : 1000;
  const gen = await generateSyntheticSet({ root: join(dir, 'synth'), count, size: 128, seed: 1 });
  const gms = Number((gen.ms / count).toFixed(3));
  rows.push({
    id: 'synthetic/generate-128',
    impl: backend,
    ms: gms,
    reps: 1,
    threads: 1,
    note: `${count} images in ${(gen.ms / 1000).toFixed(1)} s`,
  });
  emit(rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
