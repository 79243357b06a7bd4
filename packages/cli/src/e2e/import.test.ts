/**
 * `wsss import` of released PyTorch checkpoints, spawned as users run it, with fixtures written by the project's
 * PyTorch twin (scripts/make-import-fixture.py): the official key layout, zip and legacy `.pth`, a `module.`
 * prefix, PAMR's fixed kernels; the imported model's test-mode outputs against the twin's; every key of the
 * full-size official state dict mapped with its shape; the errors for anything that does not fit; and a training
 * step of the imported run against the twin's (scripts/make-trainstep-fixture.py): losses and every gradient.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  exportStateDict,
  loadStateDict,
  parseSafetensors,
  type StateDictEntry,
  setBackend,
  setUniformSource,
  withoutInitialization,
} from '@wsss/core';
import { readPth, writeSafetensorsFile } from '@wsss/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNet, openCheckpoint } from '../commands/common.js';
import { PAMR_BUFFERS } from '../commands/import.js';
import { VOC_PRESET } from '../config/presets.js';
import { deepMerge, type WsssConfig } from '../config/schema.js';
import { referenceTestOutputs } from '../infer/predict.js';
import { createWsFcn } from '../model/wsfcn.js';
import { lossConfigOf } from '../run/evaluate.js';
import { Output } from '../run/output.js';
import { wsFcnLosses } from '../train/step.js';
import { differingTensors, runCli, spawnSuite } from './cli.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const TWIN = fixture('twin-wsfcn.pth');

describe('wsss import, spawned, against the PyTorch twin', () => {
  let dir: string;
  beforeAll(async () => {
    ({ dir } = await spawnSuite('wsss-import-'));
  }, 60_000);
  afterAll(async () => {
    if (dir) await import('node:fs/promises').then((f) => f.rm(dir, { recursive: true, force: true }));
  });

  it("imports the official key layout: prints the architecture and parameters; the test-mode outputs equal the twin's to 1e-4 relative", async () => {
    const run = join(dir, 'twin');
    const r = await runCli(['import', TWIN, '--out', run, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'WS-FCN (FCA + SF2) on ResNet-38d (full depth, channels 8/8/16/16/32/32/32), 20 classes',
    );
    expect(r.stderr).toContain("PAMR's 3 fixed kernels checked and dropped (355 keys in all)");
    const res = r.events.find((e) => e['type'] === 'result')!;
    expect(res).toMatchObject({
      command: 'import',
      from: 'ws-fcn',
      variant: 'wsfcn',
      numClasses: 20,
      loaded: 299, // of 355 keys: 299 weights, 53 BatchNorm counters (num_batches_tracked), 3 PAMR kernels
    });
    // the parameter count as PyTorch counts it (BN running statistics excluded)
    const twin = await readPth(TWIN);
    const torchParams = [...twin.tensors]
      .filter(([k]) => !/running_|num_batches|_aff\./.test(k))
      .reduce((s, [, t]) => s + t.data.length, 0);
    expect(res['parameters']).toBe(torchParams);
    // the imported model's reference test-mode outputs against the twin's (eval mode, a 33×45 image)
    await setBackend('wasm');
    const { net } = await openCheckpoint(run, [], new Output({ quiet: true, progress: false }));
    const want = parseSafetensors(new Uint8Array(readFileSync(fixture('twin-wsfcn-out.safetensors'))));
    const image = tf.tensor4d(
      Float32Array.from({ length: 33 * 45 * 3 }, (_, i) => (((i * 7) % 23) - 11) / 10),
      [1, 33, 45, 3],
    );
    const out = referenceTestOutputs(net, image);
    const rel = (t: tf.Tensor, name: string) => {
      const w = want.tensors.get(name)!.data as Float32Array;
      const d = t.dataSync();
      let err = 0;
      let scale = 0;
      for (let i = 0; i < w.length; i++) {
        err = Math.max(err, Math.abs(d[i]! - w[i]!));
        scale = Math.max(scale, Math.abs(w[i]!));
      }
      return err / scale;
    };
    expect(out.classScores.shape).toEqual([1, 20]);
    expect(out.masks.shape).toEqual([1, 33, 45, 21]);
    if (process.env['WSSS_PARITY_TABLE'])
      console.log({ cls: rel(out.classScores, 'cls'), masks: rel(out.masks, 'masks') });
    expect(rel(out.classScores, 'cls')).toBeLessThan(1e-4);
    expect(rel(out.masks, 'masks')).toBeLessThan(1e-4);
    tf.dispose([image, out.classScores, out.masks]);
    net.model.dispose();
    // the run works like a trained one
    const ex = await runCli([
      'export',
      '--checkpoint',
      run,
      '--output',
      join(dir, 'twin-export'),
      '--format',
      'safetensors',
    ]);
    expect(ex.code, ex.stderr).toBe(0);
    const back = parseSafetensors(
      new Uint8Array(readFileSync(join(dir, 'twin-export', 'model.safetensors'))),
    );
    // export → PyTorch names again: the same tensors the twin saved (BN counters and PAMR kernels aside)
    for (const [k, t] of twin.tensors) {
      if (/num_batches|_aff\./.test(k)) continue;
      expect(back.tensors.get(k)?.data, k).toEqual(t.data);
    }
  });

  it("a legacy .pth with DataParallel's module. prefix gives the same run", async () => {
    const a = join(dir, 'twin-a');
    const b = join(dir, 'twin-legacy');
    expect((await runCli(['import', TWIN, '--out', a])).code).toBe(0);
    const r = await runCli(['import', fixture('twin-wsfcn-legacy.pth'), '-o', b]);
    expect(r.code, r.stderr).toBe(0);
    expect(
      await differingTensors(
        join(a, 'checkpoints/last.safetensors'),
        join(b, 'checkpoints/last.safetensors'),
      ),
    ).toEqual([]);
  });

  it('refuses what does not fit, naming it: an altered PAMR kernel, a missing or unexpected key, the wrong source or variant', async () => {
    const twin = await readPth(TWIN);
    const write = async (name: string, edit: (m: Map<string, StateDictEntry>) => void) => {
      const m = new Map<string, StateDictEntry>(
        [...twin.tensors].map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }]),
      );
      edit(m);
      const file = join(dir, name);
      await writeSafetensorsFile(
        file,
        new Map([...m].map(([k, e]) => [k, { dtype: 'F32' as const, shape: e.shape, data: e.data }])),
      );
      return file;
    };
    const cases: [string, (m: Map<string, StateDictEntry>) => void, string][] = [
      [
        'aff.safetensors',
        (m) => ((m.get('_aff.aff_x.kernel')!.data as Float32Array)[4] = 2),
        '_aff.aff_x.kernel (shape [8,1,3,3]) is not the fixed PAMR kernel',
      ],
      [
        'missing.safetensors',
        (m) => m.delete('last_conv.4.weight'),
        "missing: 'last_conv/4/kernel' (shape [3, 3, 16, 16])",
      ],
      [
        'extra.safetensors',
        (m) => m.set('decoder.extra.weight', { shape: [2], data: [1, 2] }),
        "unexpected: 'decoder.extra.weight' (no rule matches)",
      ],
    ];
    for (const [name, edit, msg] of cases) {
      const r = await runCli(['import', await write(name, edit), '--out', join(dir, `bad-${name}`)]);
      expect(r.code, `${name}\n${r.stderr}`).toBe(3);
      expect(r.stderr, name).toContain(msg);
    }
    const src = await runCli(['import', TWIN, '--from', '1-stage-wseg', '--out', join(dir, 'bad-src')]);
    expect(src.code).toBe(3);
    expect(src.stderr).toContain("not 1-stage-wseg's model (ASPP + GCI)");
    const v = await runCli(['import', TWIN, '--variant', 'ssss', '--out', join(dir, 'bad-v')]);
    expect(v.code).toBe(3);
    expect(v.stderr).toContain('holds WS-FCN (FCA + SF2) (variant wsfcn), not --variant ssss');
    const usage = await runCli(['import', '--out', join(dir, 'x')]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('give exactly one checkpoint file');
    const classes = await runCli([
      'import',
      TWIN,
      '--classes',
      fixture('official-keys.json'),
      '--out',
      join(dir, 'bad-c'),
    ]);
    expect(classes.code).not.toBe(0);
  });

  it("the imported run's first training step is the twin's: both losses and all 103 gradients to 1e-4 relative, on the same dropout and gate draws", async () => {
    // scripts/make-trainstep-fixture.py: reference training mode, PAMR 10 iterations, the mask loss counting
    const run = join(dir, 'twin-step');
    expect((await runCli(['import', TWIN, '--out', run])).code).toBe(0);
    await setBackend('wasm');
    const { net, ckpt } = await openCheckpoint(run, [], new Output({ quiet: true, progress: false }));
    const want = parseSafetensors(new Uint8Array(readFileSync(fixture('twin-trainstep.safetensors'))));
    const sd = new Map(
      [...want.tensors].filter(([k]) => k.startsWith('init/')).map(([k, t]) => [k.slice(5), t]),
    );
    const init = loadStateDict(net.model, sd, net.stateDictRules(), { strict: false });
    expect(init.loaded).toEqual(['last_conv/8/kernel', 'last_conv/8/bias']);
    const N = 2;
    const H = 33;
    const W = 45;
    const raw = tf.tensor4d(
      Float32Array.from({ length: N * H * W * 3 }, (_, i) => ((i * 11) % 97) / 96),
      [N, H, W, 3],
    );
    const images = tf.tidy(() =>
      tf.div(tf.sub(raw, [0.485, 0.456, 0.406]), [0.229, 0.224, 0.225]),
    ) as tf.Tensor4D;
    // image 0 shows class 1, image 1 class 3 (1-based foreground classes, as the fixture)
    const labels = tf.tensor2d(
      [0, 2].flatMap((c) => Array.from({ length: 20 }, (_, j) => (j === c ? 1 : 0))),
      [N, 20],
    );
    // the fixture's draws: the k-th random op gets u_i = ((7919 i + 104729 k) mod 10007) / 10007 over NHWC
    let k = 0;
    setUniformSource((shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const u = Float32Array.from({ length: n }, (_, i) => ((7919 * i + 104729 * k) % 10007) / 10007);
      k++;
      return tf.tensor(u, shape);
    });
    const vars = net.paramGroups().flatMap((g) => g.variables);
    const parts: Record<string, number> = {};
    let grads: tf.NamedTensorMap;
    try {
      ({ grads } = tf.variableGrads(() => {
        const t = wsFcnLosses(net, { images, raw, labels }, 0, {
          ...lossConfigOf(ckpt.state.config),
          pretrainEpochs: 0,
        });
        parts['clsLoss'] = t.clsLoss.dataSync()[0]!;
        parts['maskLoss'] = t.maskLoss!.dataSync()[0]!;
        parts['loss'] = t.loss.dataSync()[0]!;
        return t.loss;
      }, vars));
    } finally {
      setUniformSource(null);
    }
    expect(k).toBe(8); // b6 ×2, b7 ×2, FCA's output dropout, the gate, the head ×2 — the twin's order
    for (const name of ['loss', 'clsLoss', 'maskLoss']) {
      const w = want.tensors.get(name)!.data[0]!;
      expect(Math.abs(parts[name]! - w) / Math.abs(w), name).toBeLessThan(1e-4);
    }
    // the gradients under PyTorch names: write them into the variables, export, put the weights back
    const saved = vars.map((v) => v.clone());
    tf.tidy(() => {
      for (const v of vars) v.assign(grads[v.name] ?? tf.zerosLike(v));
    });
    const exported = await exportStateDict(net.model, net.stateDictRules());
    for (const [i, v] of vars.entries()) v.assign(saved[i]!);
    tf.dispose([...saved, ...Object.values(grads), raw, images, labels]);
    net.model.dispose();
    const wanted = [...want.tensors.keys()].filter((name) => name.startsWith('grad/'));
    expect(wanted.length).toBe(103);
    const maxAbs = (d: ArrayLike<number>) => Array.from(d).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const worst: [string, number][] = [];
    for (const name of wanted) {
      const key = name.slice(5);
      const w = want.tensors.get(name)!;
      const got = exported.get(key)!;
      expect(got?.shape, key).toEqual(w.shape);
      if (/^sf2\.conv\w+\.bias$/.test(key)) {
        // a bias right before batch-statistics BatchNorm cancels: its gradient is 0, both sides give rounding
        // noise — below a millionth of the same convolution's weight gradient
        const weight = maxAbs(want.tensors.get(name.replace(/bias$/, 'weight'))!.data);
        expect(maxAbs(w.data), key).toBeLessThan(1e-5 * weight);
        expect(maxAbs(got.data), key).toBeLessThan(1e-5 * weight);
        continue;
      }
      let err = 0;
      for (let i = 0; i < w.data.length; i++) err = Math.max(err, Math.abs(got.data[i]! - w.data[i]!));
      worst.push([key, err / maxAbs(w.data)]);
    }
    worst.sort((a, b) => b[1] - a[1]);
    expect(worst.length).toBe(95);
    if (process.env['WSSS_PARITY_TABLE']) console.log(worst.slice(0, 5), parts);
    expect(worst[0]![1], worst[0]![0]).toBeLessThan(1e-4);
  }, 120_000);

  it("1-stage-wseg's model (SSSS: ASPP + GCI) imports by its keys", async () => {
    await setBackend('wasm');
    const config: WsssConfig = deepMerge(VOC_PRESET, {
      model: { variant: 'ssss', backbone: { channels: [8, 8, 16, 16, 32, 32, 32], depth: 'light' } },
    });
    const net = buildNet(config, 20);
    const sd = await exportStateDict(net.model, net.stateDictRules());
    // 1-stage-wseg's names (models/stage_net.py SoftMaxAE, mods/gci.py, mods/aspp.py)
    for (const k of [
      'fc8_skip.0.weight',
      'fc8_x.1.running_var',
      'shallow_mask.fc_cls.0.weight',
      'shallow_mask.fc_skip.1.running_mean',
      'aspp.aspp2.atrous_conv.weight',
      'aspp.global_avg_pool.1.weight',
    ])
      expect(sd.has(k), k).toBe(true);
    expect(sd.has('shallow_mask.fc_skip.1.weight')).toBe(false); // the affine-free BN
    const file = join(dir, 'ssss.safetensors');
    const entries = new Map(
      [
        ...sd,
        ...Object.entries(PAMR_BUFFERS).map(([k, v]) => [k, { dtype: 'F32' as const, ...v }] as const),
      ].map(([k, t]) => [`module.${k}`, t]),
    );
    await writeSafetensorsFile(file, entries);
    const run = join(dir, 'ssss');
    const r = await runCli(['import', file, '--out', run, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.find((e) => e['type'] === 'result')).toMatchObject({
      from: '1-stage-wseg',
      variant: 'ssss',
    });
    const back = parseSafetensors(new Uint8Array(readFileSync(join(run, 'checkpoints/last.safetensors'))));
    for (const w of net.model.weights)
      expect(back.tensors.get(`model/${w.originalName}`)!.data, w.originalName).toEqual(w.read().dataSync());
    net.model.dispose();
  });

  it('maps all 355 keys of the full-size official state dict, shapes checked (no weights shipped)', async () => {
    const { keys } = JSON.parse(readFileSync(fixture('official-keys.json'), 'utf8')) as {
      keys: [string, number[]][];
    };
    expect(keys).toHaveLength(355);
    await setBackend('cpu');
    // the full model (148 M parameters) without initialisation: zero pages the checks never touch
    const t0 = performance.now();
    const net = withoutInitialization(() => createWsFcn({ numClasses: 20 }));
    const built = performance.now() - t0;
    const shapes = new Map(
      keys
        .filter(([k]) => !k.startsWith('_aff.'))
        .map(([k, s]) => [k, { shape: s, data: undefined as unknown as number[] }]),
    );
    const report = loadStateDict(net.model, shapes, net.stateDictRules(), { dryRun: true });
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.loaded).toHaveLength(net.model.weights.length);
    expect(report.ignored.every((k) => k.endsWith('num_batches_tracked'))).toBe(true);
    // the three PAMR buffers are the ones import checks
    for (const [k, s] of keys.filter(([k]) => k.startsWith('_aff.')))
      expect(PAMR_BUFFERS[k]?.shape, k).toEqual(s);
    expect(net.countParameters()).toBe(148_213_606);
    expect(built).toBeLessThan(5000); // randomly initialised it takes ~15 s
    net.model.dispose();
  });
});
