import { promises as fsp, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { seededTensor, seededValues, TEST_BACKENDS, useBackend } from '../testing/index.js';
import { filePathOf, fileSystem, loadLayersModelFromFile, registerFileRouters } from './index.js';

const root = mkdtempSync(path.join(tmpdir(), 'wsss-fileio-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

let n = 0;
function makeModel(seed: number): tfl.Sequential {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        filters: 3,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        inputShape: [5, 5, 2],
      }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 4 }),
    ],
  });
  model.weights.forEach((w, i) => {
    tf.tidy(() => {
      w.write(tf.tensor(seededValues(w.read().size, seed + i), w.shape as number[]));
    });
  });
  return model;
}

function predict(model: tfl.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

describe.each(TEST_BACKENDS)('fileSystem handler on %s', (backend) => {
  it('saves a dense + conv2d model and loads it with identical predictions', async () => {
    await useBackend(backend);
    const dir = path.join(root, `${backend}-${n++}`, 'model');
    const model = makeModel(1);
    const x = seededTensor([2, 5, 5, 2], 9);
    const result = await model.save(fileSystem(dir));
    expect(result.modelArtifactsInfo.weightDataBytes).toBe((3 * 3 * 2 * 3 + 3 + 75 * 4 + 4) * 4);
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.convertedBy).toBeNull();
    expect(json.generatedBy).toMatch(/^TensorFlow\.js tfjs-layers v/);
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(json.weightsManifest[0].weights.map((w: { shape: number[] }) => w.shape)).toEqual([
      [3, 3, 2, 3],
      [3],
      [75, 4],
      [4],
    ]);
    expect(json.modelTopology.class_name).toBe('Sequential');

    const loaded = await loadLayersModelFromFile(dir);
    expect(predict(loaded, x)).toEqual(predict(model, x));
    // The same through a file:// URL of model.json.
    const viaUrl = await loadLayersModelFromFile(pathToFileURL(path.join(dir, 'model.json')).href);
    expect(predict(viaUrl, x)).toEqual(predict(model, x));
    tf.dispose(x);
    model.dispose();
    loaded.dispose();
    viaUrl.dispose();
  });

  it('writes files a browser loads over HTTP (browserHTTPRequest with a file-backed fetch)', async () => {
    await useBackend(backend);
    const dir = path.join(root, `${backend}-${n++}`);
    const model = makeModel(20);
    await model.save(fileSystem(dir));
    const requested: string[] = [];
    const fetchFunc = async (input: string | URL | Request) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      requested.push(url);
      const rel = new URL(url).pathname.replace(/^\/models\//, '');
      return new Response(readFileSync(path.join(dir, rel)), { status: 200 });
    };
    const loaded = await tfl.loadLayersModel(
      tf.io.browserHTTPRequest('https://example.org/models/model.json', { fetchFunc }),
    );
    expect(requested).toEqual([
      'https://example.org/models/model.json',
      'https://example.org/models/weights.bin',
    ]);
    const x = seededTensor([1, 5, 5, 2], 3);
    expect(predict(loaded, x)).toEqual(predict(model, x));
    tf.dispose(x);
    model.dispose();
    loaded.dispose();
  });
});

describe('fileSystem atomic save', () => {
  async function savedPair() {
    await useBackend('cpu');
    const dir = path.join(root, `atomic-${n++}`);
    const old = makeModel(40);
    await old.save(fileSystem(dir));
    const before = {
      json: readFileSync(path.join(dir, 'model.json')),
      bin: readFileSync(path.join(dir, 'weights.bin')),
    };
    // Different architecture, so a mixed pair could not load.
    const next = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
    return { dir, old, next, before };
  }
  function expectUnchanged(dir: string, before: { json: Buffer; bin: Buffer }) {
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']); // no temporaries or backups left
    expect(readFileSync(path.join(dir, 'model.json')).equals(before.json)).toBe(true);
    expect(readFileSync(path.join(dir, 'weights.bin')).equals(before.bin)).toBe(true);
  }

  it('keeps the previous model when writing a file throws', async () => {
    const { dir, old, next, before } = await savedPair();
    const realOpen = fsp.open.bind(fsp);
    let calls = 0;
    vi.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
      if (++calls === 2) throw new Error('disk full (simulated)');
      return realOpen(...args);
    });
    await expect(next.save(fileSystem(dir))).rejects.toThrow(
      /could not save the model to .*model\.json \(previous files kept\): disk full/,
    );
    expectUnchanged(dir, before);
    const x = seededTensor([1, 5, 5, 2], 5);
    const loaded = await loadLayersModelFromFile(dir);
    expect(predict(loaded, x)).toEqual(predict(old, x));
    tf.dispose(x);
    for (const m of [old, next, loaded]) m.dispose();
  });

  it('puts the old weights back when replacing model.json fails after weights.bin was replaced', async () => {
    const { dir, old, next, before } = await savedPair();
    const realRename = fsp.rename.bind(fsp);
    vi.spyOn(fsp, 'rename').mockImplementation(async (from, to) => {
      if (String(to).endsWith('model.json')) throw new Error('EIO (simulated)');
      return realRename(from, to);
    });
    await expect(next.save(fileSystem(dir))).rejects.toThrow(/EIO \(simulated\)/);
    vi.restoreAllMocks();
    expectUnchanged(dir, before);
    const loaded = await loadLayersModelFromFile(path.join(dir, 'model.json'));
    const x = seededTensor([1, 5, 5, 2], 6);
    expect(predict(loaded, x)).toEqual(predict(old, x));
    tf.dispose(x);
    for (const m of [old, next, loaded]) m.dispose();
  });
});

describe('fileSystem load errors', () => {
  it('names the path of a missing or malformed model.json and mismatched weights', async () => {
    await useBackend('cpu');
    const dir = path.join(root, `bad-${n++}`);
    await expect(loadLayersModelFromFile(dir)).rejects.toThrow(
      `fileSystem: no model file at ${path.join(dir, 'model.json')}`,
    );
    await fsp.mkdir(dir, { recursive: true });
    const json = path.join(dir, 'model.json');
    writeFileSync(json, '{"modelTopology": ');
    await expect(loadLayersModelFromFile(dir)).rejects.toThrow(`fileSystem: ${json} is not valid JSON`);
    writeFileSync(json, '{"weightsManifest": []}');
    await expect(loadLayersModelFromFile(dir)).rejects.toThrow(
      `fileSystem: ${json}: modelTopology is missing or not an object`,
    );
    writeFileSync(
      json,
      '{"modelTopology": {}, "weightsManifest": [{"paths": "weights.bin", "weights": []}]}',
    );
    await expect(loadLayersModelFromFile(dir)).rejects.toThrow(
      /weightsManifest\[0\] must be \{paths: string\[\], weights/,
    );

    const model = makeModel(60);
    await model.save(fileSystem(dir));
    writeFileSync(path.join(dir, 'weights.bin'), new Uint8Array(10));
    await expect(loadLayersModelFromFile(dir)).rejects.toThrow(
      /describes 1444 bytes of weights, but .*weights\.bin hold 10/,
    );
    rmSync(path.join(dir, 'weights.bin'));
    await expect(loadLayersModelFromFile(dir)).rejects.toThrow(
      /cannot read weight file .*weights\.bin listed in .*model\.json/,
    );
    model.dispose();
  });
});

describe('file:// routers', () => {
  it('make model.save and tf.loadLayersModel accept file:// URLs, registered once', async () => {
    await useBackend('cpu');
    // Importing ./index.js registered them; a second registration is refused because a router exists.
    expect(registerFileRouters()).toBe(false);
    expect(tf.io.getSaveHandlers('file:///x/y')).toHaveLength(1);
    expect(tf.io.getLoadHandlers('file:///x/y/model.json')).toHaveLength(1);
    const dir = path.join(root, `router-${n++}`);
    const model = makeModel(80);
    await model.save(pathToFileURL(dir).href);
    const loaded = await tfl.loadLayersModel(`${pathToFileURL(dir).href}/model.json`);
    const x = seededTensor([1, 5, 5, 2], 8);
    expect(predict(loaded, x)).toEqual(predict(model, x));
    tf.dispose(x);
    model.dispose();
    loaded.dispose();
  });

  it('step aside when tfjs-node (the tensorflow backend) is loaded', async () => {
    tf.registerBackend('tensorflow', () => null as unknown as tf.KernelBackend);
    try {
      expect(tf.io.getSaveHandlers('file:///x/y')).toHaveLength(0);
      expect(tf.io.getLoadHandlers('file:///x/y/model.json')).toHaveLength(0);
    } finally {
      tf.removeBackend('tensorflow');
    }
    expect(tf.io.getSaveHandlers('file:///x/y')).toHaveLength(1);
  });

  it('read file URLs and tfjs-node style relative file:// paths', () => {
    expect(filePathOf('file:///tmp/a%20b/m')).toBe('/tmp/a b/m');
    expect(filePathOf('file://runs/x/model')).toBe('runs/x/model');
    expect(filePathOf('plain/dir')).toBe('plain/dir');
    expect(() => filePathOf('')).toThrow(/expected a path or file:\/\/ URL, got ""/);
  });
});
