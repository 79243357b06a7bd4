import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { wrn38StateDictRules } from '@wsss/backbone-wrn38';
import { exportStateDict } from '@wsss/core';
import { writeSafetensorsFile } from '@wsss/core/node';
import { useBackend } from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PRESET } from '../config/presets.js';
import { deepMerge } from '../config/schema.js';
import { Output } from '../run/output.js';
import { buildSeededNet, checkpointPath, loadBackboneWeights } from './common.js';
import { InputError } from './errors.js';

const cfg = deepMerge(DEMO_PRESET, { model: { backbone: { channels: [4, 4, 8, 8, 8, 8, 8] } } });
const quiet = new Output({ quiet: true, progress: false });

describe('commands/common', () => {
  beforeAll(() => useBackend('wasm'));

  it('the same seed builds the same initial weights; another seed different ones', () => {
    const a = buildSeededNet(cfg, 3, 0);
    const b = buildSeededNet(cfg, 3, 0);
    const c = buildSeededNet(cfg, 3, 1);
    const w = (n: typeof a) => n.model.weights.map((v) => Array.from(v.read().dataSync()));
    expect(w(b)).toEqual(w(a));
    expect(w(c)).not.toEqual(w(a));
    for (const n of [a, b, c]) n.model.dispose();
  });

  it('loads ImageNet backbone weights with reference names from safetensors; errors name the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsss-w-'));
    const src = buildSeededNet(cfg, 3, 5);
    const file = join(dir, 'resnet38.safetensors');
    await writeSafetensorsFile(file, await exportStateDict(src.backbone, wrn38StateDictRules('backbone')));
    const dst = buildSeededNet(cfg, 3, 6);
    await loadBackboneWeights(dst, file, quiet);
    const vals = (n: typeof src) => n.backbone.weights.map((v) => Array.from(v.read().dataSync()));
    expect(vals(dst)).toEqual(vals(src));
    await expect(loadBackboneWeights(dst, join(dir, 'missing.pth'), quiet)).rejects.toBeInstanceOf(
      InputError,
    );
    src.model.dispose();
    dst.model.dispose();
    expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
  });

  it('checkpointPath accepts a checkpoint file or a run folder and names what is missing', () => {
    expect(checkpointPath('x/last.safetensors')).toBe('x/last.safetensors');
    expect(() => checkpointPath('/nonexistent-run')).toThrow(
      /neither a \.safetensors checkpoint nor a run folder/,
    );
  });
});
