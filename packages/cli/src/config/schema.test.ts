import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSets, resolveConfig } from './load.js';
import { DEMO_PRESET, savedConfig, VOC_PRESET } from './presets.js';
import { ConfigError, validate } from './schema.js';

describe('config schema', () => {
  it('presets are valid; voc is the reference configuration (spec §4.8)', () => {
    validate(VOC_PRESET);
    validate(DEMO_PRESET);
    expect(VOC_PRESET.optim).toEqual({
      kind: 'sgd',
      lr: 1e-3,
      momentum: 0.9,
      weightDecay: 5e-4,
      lrMults: [1, 2, 20, 40],
    });
    expect(VOC_PRESET.train.epochs).toBe(31);
    expect(VOC_PRESET.train.pretrainEpochs).toBe(7);
    expect(VOC_PRESET.data.crop).toBe(321);
    expect(VOC_PRESET.eval).toMatchObject({ scales: [1, 0.5, 1.5, 2], bgScore: 0.25, fpCut: 0.1 });
  });

  it('a saved config keeps the behaviour it ran with: keys whose default changed since are filled with the old one', () => {
    const { fgMinSaliency, ...before } = DEMO_PRESET.ficklenet;
    expect(fgMinSaliency).toBe(0.3);
    // written before ficklenet.fgMinSaliency existed: its seeds were never gated, and a resume must not start now
    const old = savedConfig({ ...DEMO_PRESET, ficklenet: before });
    expect(old.ficklenet.fgMinSaliency).toBe(0);
    expect(old.ficklenet.kernelSize).toBe(3);
    // saved with the key: kept; an override wins either way; other keys added since take the preset's defaults
    expect(savedConfig(DEMO_PRESET).ficklenet.fgMinSaliency).toBe(0.3);
    expect(
      savedConfig({ ...DEMO_PRESET, ficklenet: before }, { ficklenet: { fgMinSaliency: 0.5 } }).ficklenet
        .fgMinSaliency,
    ).toBe(0.5);
    // a demo run written before ficklenet.classifierMinEpochs (2026-12-04) trained exactly its 80 epochs, target off:
    // the key's VOC default (0) keeps that, where the demo preset's floor of 80 under a cap of 160 would not
    const { classifierMinEpochs, ...noFloor } = DEMO_PRESET.ficklenet;
    expect([classifierMinEpochs, DEMO_PRESET.ficklenet.classifierEpochs]).toEqual([80, 160]);
    const older = savedConfig({
      ...DEMO_PRESET,
      ficklenet: { ...noFloor, classifierEpochs: 80, classifierTargetLoss: 0 },
    }).ficklenet;
    expect(older).toMatchObject({ classifierMinEpochs: 0, classifierEpochs: 80, classifierTargetLoss: 0 });
    const { eval: _e, ...noEval } = DEMO_PRESET;
    expect(savedConfig(noEval).eval).toEqual(VOC_PRESET.eval);
  });

  it('a bad value is reported with the key, the value and what is allowed', () => {
    expect(() => validate({ ...VOC_PRESET, train: { ...VOC_PRESET.train, epochs: 0 } })).toThrow(
      /train\.epochs = 0 is not allowed; expected an integer ≥ 1/,
    );
    expect(() => validate({ ...VOC_PRESET, backend: 'gpu' })).toThrow(
      /backend = "gpu" is not allowed; expected one of 'auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'/,
    );
    expect(() => validate({ ...VOC_PRESET, optim: { ...VOC_PRESET.optim, lrMults: [1, 2] } })).toThrow(
      /optim\.lrMults = \[1,2\].*4 numbers/,
    );
    expect(() => validate({ ...VOC_PRESET, train: { ...VOC_PRESET.train, bogus: 1 } })).toThrow(
      /unknown key 'train\.bogus'; allowed keys here are epochs/,
    );
  });

  it('--set parses values by the key type and rejects unknown keys', () => {
    expect(
      parseSets(['train.epochs=5', 'eval.flip=false', 'eval.scales=1,0.5', 'model.weights=null']),
    ).toEqual({
      train: { epochs: 5 },
      eval: { flip: false, scales: [1, 0.5] },
      model: { weights: null },
    });
    expect(() => parseSets(['train.nope=1'])).toThrow(ConfigError);
    expect(() => parseSets(['epochs'])).toThrow(/expected key=value/);
  });

  it('preset ← YAML/JSON file ← options; errors name the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsss-cfg-'));
    const yml = join(dir, 'c.yaml');
    await writeFile(yml, 'preset: demo\ntrain:\n  epochs: 3\noptim:\n  lr: 0.01\n');
    const { config, preset } = await resolveConfig({ file: yml, overrides: [parseSets(['train.epochs=4'])] });
    expect(preset).toBe('demo');
    expect(config.train.epochs).toBe(4);
    expect(config.optim.lr).toBe(0.01);
    expect(config.model.backbone.depth).toBe('light');
    const bad = join(dir, 'b.json');
    await writeFile(bad, JSON.stringify({ optim: { momentum: 2 } }));
    await expect(resolveConfig({ file: bad })).rejects.toThrow(
      /b\.json: config: optim\.momentum = 2 is not allowed; expected a number ≥ 0 ≤ 1/,
    );
    await expect(resolveConfig({ preset: 'nope' })).rejects.toThrow(
      /--preset "nope" is not allowed; expected one of voc, coco, demo/,
    );
    await expect(resolveConfig({ preset: 'voc' })).rejects.toThrow(/data\.root is missing/);
    expect(await readFile(yml, 'utf8')).toContain('preset');
  });
});

describe('config errors through main', () => {
  it('a YAML syntax error exits 2 naming the file; a missing file exits 3', async () => {
    const { main } = await import('../main.js');
    const dir = await mkdtemp(join(tmpdir(), 'wsss-cfg-'));
    const bad = join(dir, 'bad.yml');
    await writeFile(bad, 'train: [1, 2\n');
    let text = '';
    const io = {
      stdout: { write: (s: string) => (text += s) },
      stderr: { write: (s: string) => (text += s) },
      signals: false,
    };
    expect(await main(['train', '--config', bad], io)).toBe(2);
    expect(text).toContain('bad.yml: not valid YAML');
    expect(await main(['train', '--config', join(dir, 'none.json')], io)).toBe(3);
    expect(await main(['train', '--preset', 'demo', '--epochs', 'many'], io)).toBe(2);
    expect(text).toContain('--epochs "many" is not a number');
  });
});
