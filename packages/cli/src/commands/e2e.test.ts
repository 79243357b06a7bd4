/**
 * The CLI end to end on tiny data, in-process on wasm: train → checkpoint → resume (same weights as an
 * uninterrupted run) → eval → infer → pseudo-labels → export → load the export with tfjs and get the same output.
 */
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModelFromFile, readSafetensorsFile } from '@wsss/core/node';
import { useBackend } from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PRESET } from '../config/presets.js';
import { deepMerge, type WsssConfig } from '../config/schema.js';
import { main } from '../main.js';
import { loadCheckpoint } from '../run/checkpoint.js';
import { Output } from '../run/output.js';
import { readMetrics } from '../run/runDir.js';
import { DivergedError, InterruptedError } from './errors.js';
import { runEval } from './eval.js';
import { runExport } from './export.js';
import { runInfer } from './infer.js';
import { runPseudoLabels } from './pseudoLabels.js';
import { runTrain } from './train.js';
import '../index.js';

const quiet = () => new Output({ quiet: true, progress: false });

function tinyConfig(dataRoot: string, over: object = {}): WsssConfig {
  return deepMerge(
    DEMO_PRESET,
    {
      model: { backbone: { channels: [4, 4, 8, 8, 8, 8, 8] } },
      data: { root: dataRoot, synthetic: { train: 8, val: 4, size: 32, numClasses: 3, seed: 1 }, crop: 32 },
      train: { epochs: 2, batchSize: 4, pretrainEpochs: 1, pamrIterations: 2, valEvery: 1 },
      eval: { scales: [1], flip: true },
      backend: 'wasm',
    },
    over,
  );
}

async function weightsOf(file: string): Promise<Map<string, Float32Array>> {
  const c = await loadCheckpoint(file);
  return new Map([...c.weights].map(([k, v]) => [k, v.data]));
}

describe('wsss CLI end to end (wasm, tiny data)', () => {
  let dir: string;
  let data: string;
  beforeAll(async () => {
    await useBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'wsss-e2e-'));
    data = join(dir, 'data');
  });

  it('train 2 epochs; an interrupted run resumed from its checkpoint ends with the same weights; no tensor growth', async () => {
    const before = tf.memory().numTensors;
    const a = await runTrain({
      config: tinyConfig(data),
      preset: 'demo',
      out: quiet(),
      runDir: join(dir, 'a'),
      report: true,
    });
    expect(a.status).toBe('done');
    expect(a.steps).toBe(4);
    a.net.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(existsSync(join(dir, 'a', 'checkpoints', 'last.safetensors'))).toBe(true);
    expect(existsSync(join(dir, 'a', 'report.html'))).toBe(true);
    const html = await readFile(join(dir, 'a', 'report.html'), 'utf8');
    expect(html).toContain('data:image/png;base64,');
    expect(html).toContain('<svg');
    expect(html).toContain('What each stage adds');

    // interrupted after 3 steps (mid-epoch 2), then resumed
    const b1 = await runTrain({
      config: tinyConfig(data),
      preset: 'demo',
      out: quiet(),
      runDir: join(dir, 'b'),
      stopAfterSteps: 3,
      report: false,
    });
    expect(b1.status).toBe('stopped');
    b1.net.model.dispose();
    const mid = await loadCheckpoint(join(dir, 'b', 'checkpoints', 'last.safetensors'));
    expect(mid.state.step).toBe(3);
    expect(mid.state.position).toEqual({ epoch: 1, index: 4 });
    expect(mid.state.random).not.toBeNull();
    const b2 = await runTrain({
      config: tinyConfig(data),
      preset: 'resume',
      out: quiet(),
      resume: join(dir, 'b'),
      report: false,
    });
    expect(b2.steps).toBe(4);
    b2.net.model.dispose();
    const wa = await weightsOf(join(dir, 'a', 'checkpoints', 'last.safetensors'));
    const wb = await weightsOf(join(dir, 'b', 'checkpoints', 'last.safetensors'));
    expect([...wb.keys()].sort()).toEqual([...wa.keys()].sort());
    let maxDiff = 0;
    for (const [k, v] of wa) {
      const u = wb.get(k)!;
      for (let i = 0; i < v.length; i++) maxDiff = Math.max(maxDiff, Math.abs(v[i]! - u[i]!));
    }
    expect(maxDiff).toBe(0);
    // the resumed metrics log has each step once
    const steps = (await readMetrics(join(dir, 'b', 'metrics.jsonl')))
      .filter((r) => r['type'] === 'step')
      .map((r) => r['step']);
    expect(steps).toEqual([1, 2, 3, 4]);
  }, 300_000);

  it('eval, infer, pseudo-labels and export work from the run folder; the tfjs export gives the same output', async () => {
    const run = join(dir, 'a');
    const ev = await runEval({ checkpoint: run, out: quiet() });
    expect(ev.images).toBe(4);
    expect(ev.iou).toHaveLength(4);
    expect(ev.miou).toBeGreaterThanOrEqual(0);
    expect(ev.labels).toBe('predicted');
    const gt = await runEval({ checkpoint: run, out: quiet(), overrides: [{ eval: { useGtLabels: true } }] });
    expect(gt.labels).toBe('ground truth');
    const crf = await runEval({ checkpoint: run, out: quiet(), crf: true, limit: 2 });
    expect(crf.crf).toBe(true);
    expect(crf.images).toBe(2);

    const images = join(data, 'JPEGImages');
    const inf = await runInfer({
      checkpoint: run,
      inputs: [images],
      output: join(dir, 'masks'),
      out: quiet(),
    });
    expect(inf.images).toBe(12);
    expect(readdirSync(join(dir, 'masks')).filter((f) => f.endsWith('.png'))).toHaveLength(12);
    expect(readdirSync(join(dir, 'masks', 'overlay'))).toHaveLength(12);

    const ps = await runPseudoLabels({
      checkpoint: run,
      output: join(dir, 'pseudo'),
      out: quiet(),
      limit: 3,
    });
    expect(ps.images).toBe(3);
    expect(ps.labelled).toBeDefined();
    expect(readdirSync(join(dir, 'pseudo'))).toHaveLength(3);

    const ex = await runExport({ checkpoint: run, output: join(dir, 'export'), out: quiet() });
    expect(ex.files.some((f) => f.endsWith('model.json'))).toBe(true);
    const st = await readSafetensorsFile(join(dir, 'export', 'model.safetensors'));
    expect([...st.tensors.keys()].some((k) => k.startsWith('fca.'))).toBe(true);
    expect([...st.tensors.keys()].some((k) => k.startsWith('last_conv.'))).toBe(true);
    const loaded = await loadLayersModelFromFile(join(dir, 'export', 'tfjs'));
    const { openCheckpoint } = await import('./common.js');
    const { net } = await openCheckpoint(run, [], quiet());
    const x = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const y1 = net.model.predict(x) as tf.Tensor;
    const y2 = loaded.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(y1, y2))).dataSync()[0]).toBeLessThan(1e-5);
    // --float16: half the weight bytes, float16 entries in the manifest, nearly the same output
    const half = await runExport({
      checkpoint: run,
      output: join(dir, 'export16'),
      out: quiet(),
      formats: ['tfjs'],
      float16: true,
    });
    expect(half.files.some((f) => f.endsWith('model.safetensors'))).toBe(false);
    const [full, small] = await Promise.all(
      ['export', 'export16'].map((d) => readFile(join(dir, d, 'tfjs', 'weights.bin'))),
    );
    expect(small!.byteLength).toBe(full!.byteLength / 2);
    const manifest = JSON.parse(await readFile(join(dir, 'export16', 'tfjs', 'model.json'), 'utf8'))
      .weightsManifest[0].weights as tf.io.WeightsManifestEntry[];
    expect(manifest.every((w) => w.quantization?.dtype === 'float16')).toBe(true);
    const meta = JSON.parse(await readFile(join(dir, 'export16', 'wsss-model.json'), 'utf8'));
    expect(meta.tfjsWeights).toBe('float16');
    const loaded16 = await loadLayersModelFromFile(join(dir, 'export16', 'tfjs'));
    const y3 = loaded16.predict(x) as tf.Tensor;
    const scale = tf.max(tf.abs(y1)).dataSync()[0]!;
    expect(tf.max(tf.abs(tf.sub(y1, y3))).dataSync()[0]).toBeLessThan(0.02 * scale + 1e-3);
    tf.dispose([x, y1, y2, y3]);
    net.model.dispose();
    loaded.dispose();
    loaded16.dispose();
  }, 300_000);

  it('Ctrl-C writes a checkpoint and stops; a NaN loss stops naming the step and keeps the last good checkpoint', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      runTrain({
        config: tinyConfig(data),
        preset: 'demo',
        out: quiet(),
        runDir: join(dir, 'c'),
        signal: ac.signal,
      }),
    ).rejects.toBeInstanceOf(InterruptedError);
    const c = await loadCheckpoint(join(dir, 'c', 'checkpoints', 'last.safetensors'));
    expect(c.state.reason).toBe('interrupt');
    expect(c.state.step).toBe(1);

    const cfg = tinyConfig(data, { optim: { kind: 'sgd', lr: 1e30, momentum: 0.9 }, train: { epochs: 3 } });
    const err = await runTrain({ config: cfg, preset: 'demo', out: quiet(), runDir: join(dir, 'd') }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(DivergedError);
    expect((err as Error).message).toMatch(/at step \d+/);

    // diverging after good epochs: the error names the step, last.safetensors stays the good one
    await cp(join(dir, 'a'), join(dir, 'e'), { recursive: true });
    const err2 = await runTrain({
      config: cfg,
      preset: 'demo',
      out: quiet(),
      resume: join(dir, 'e'),
      overrides: [{ optim: { kind: 'sgd', lr: 1e30, momentum: 0.9 }, train: { epochs: 4 } }],
      report: false,
    }).catch((e) => e);
    expect(err2).toBeInstanceOf(DivergedError);
    expect((err2 as Error).message).toMatch(/at step [56] /);
    const kept = await loadCheckpoint(join(dir, 'e', 'checkpoints', 'last.safetensors'));
    expect(kept.state.step).toBe(4);
    for (const [, w] of kept.weights) expect(w.data.every(Number.isFinite)).toBe(true);
    const log = await readMetrics(join(dir, 'e', 'metrics.jsonl'));
    expect(log.some((r) => r['type'] === 'diverged')).toBe(true);
  }, 300_000);

  it('main: help, usage errors and config errors map to the documented exit codes', async () => {
    let text = '';
    const io = {
      stdout: { write: (s: string) => (text += s) },
      stderr: { write: (s: string) => (text += s) },
      signals: false,
    };
    expect(await main(['--help'], io)).toBe(0);
    expect(text).toContain('Exit codes');
    for (const c of ['train', 'eval', 'infer', 'pseudo-labels', 'demo', 'bench', 'export']) {
      text = '';
      expect(await main([c, '--help'], io)).toBe(0);
      expect(text).toContain('Example');
    }
    text = '';
    expect(await main(['nope'], io)).toBe(2);
    expect(await main(['train', '--bogus'], io)).toBe(2);
    text = '';
    expect(await main(['train', '--preset', 'demo', '--set', 'train.batchSize=-1'], io)).toBe(2);
    expect(text).toContain('train.batchSize = -1 is not allowed');
    expect(await main(['eval', '--checkpoint', join(dir, 'missing')], io)).toBe(3);
    text = '';
    expect(
      await main(['eval', '--json', '--checkpoint', join(dir, 'a'), '--limit', '2', '--backend', 'wasm'], io),
    ).toBe(0);
    const last = JSON.parse(text.trim().split('\n').pop()!);
    expect(last).toMatchObject({ type: 'result', command: 'eval', images: 2 });
  }, 300_000);
});
