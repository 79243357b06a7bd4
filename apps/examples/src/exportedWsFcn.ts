/**
 * Example: loading an exported WS-FCN (tfjs format) in plain TensorFlow.js and predicting.
 *
 * `wsss export --format tfjs` writes `<out>/tfjs/model.json` + `weights.bin` with `net.model.save(fileSystem(…))`
 * (packages/cli/src/commands/export.ts); this example does the same with a tiny untrained WS-FCN. The model uses
 * wsss's custom layers (`WsssWideResNet38`, `WsssFca`, `WsssAlign`, `WsssSf2`, `WsssStochasticGate`,
 * `WsssSegHead`): they must be registered before `tf.loadLayersModel`, which importing `@wsss/cli` does (it
 * imports every package whose layers WS-FCN uses). In Node, `@wsss/core/node` registers the `file://` loader; in a
 * browser, load over http.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
// Before tf.loadLayersModel of an exported WS-FCN: '@wsss/cli' registers every layer class the model uses (it
// imports @wsss/backbone-wrn38, @wsss/core, @wsss/fca and @wsss/sf2); '@wsss/core/node' registers file:// in Node.
import { createWsFcn, predictWsFcn } from '@wsss/cli';
import { applyModel, setBackend } from '@wsss/core';
import { fileSystem } from '@wsss/core/node';

export interface ExportedWsFcnOptions {
  /** Input side. Default 32. */
  size?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface ExportedWsFcnResult {
  /** The custom layer classes model.json refers to (what must be registered before loading). */
  customLayers: string[];
  /** Shape of the foreground logits (N,⌈H/4⌉,⌈W/4⌉,K). */
  outputShape: number[];
  /** max |original − loaded| of the logits. */
  maxAbsDiff: number;
  /** Whether `predictWsFcn` gives the same class map with the loaded model as with the original. */
  sameClasses: boolean;
}

/** Every `class_name` in a model topology. */
function classNames(topology: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(topology)) for (const v of topology) classNames(v, out);
  else if (topology && typeof topology === 'object') {
    for (const [k, v] of Object.entries(topology)) {
      if (k === 'class_name' && typeof v === 'string') out.add(v);
      else classNames(v, out);
    }
  }
  return out;
}

/**
 * Creates a tiny WS-FCN, saves it as `wsss export` does into a temporary folder, loads it back with
 * `tf.loadLayersModel('file://…/model.json')` and compares predictions. Removes the folder afterwards.
 */
export async function run(opts: ExportedWsFcnOptions = {}): Promise<ExportedWsFcnResult> {
  const size = opts.size ?? 32;
  const seed = opts.seed ?? 6;
  const log = opts.log ?? console.log;
  const dir = await mkdtemp(join(tmpdir(), 'wsss-export-'));
  const net = createWsFcn({
    numClasses: 3,
    backbone: { channels: [4, 4, 8, 8, 8, 8, 8], depth: 'light' },
  });
  let loaded: tf.LayersModel | null = null;
  const image: tf.Tensor4D = tf.randomNormal([1, size, size, 3], 0, 1, 'float32', seed); // ImageNet-normalised in practice
  try {
    // What `wsss export --format tfjs --output <dir>` writes (export.ts: net.model.save(fileSystem(<out>/tfjs))).
    await net.model.save(fileSystem(join(dir, 'tfjs')));
    const modelJson = join(dir, 'tfjs', 'model.json');
    const topology = JSON.parse(await readFile(modelJson, 'utf8')).modelTopology;
    const customLayers = [...classNames(topology)].filter((c) => c.startsWith('Wsss')).sort();

    // --- user code: plain tfjs, after `import '@wsss/cli'` (layers) and `import '@wsss/core/node'` (file://) ---
    loaded = await tf.loadLayersModel(pathToFileURL(modelJson).href);
    // applyModel (@wsss/core) rather than loaded.predict: tfjs-layers' executor runs a layer once per output, and
    // WS-FCN's backbone (two taps) and SF2 (two outputs) have two; predict() gives the same values in ~1.7× the time.
    const [maxAbsDiff, outputShape] = tf.tidy(() => {
      const a = applyModel(net.model, image) as tf.Tensor;
      const b = applyModel(loaded!, image) as tf.Tensor;
      return [tf.max(tf.abs(tf.sub(a, b))), a.shape.slice()] as const;
    });
    const diff = (await maxAbsDiff.data())[0]!;
    maxAbsDiff.dispose();
    // The reference post-processing (background score, image labels, upsampling) works on the loaded model too.
    const p1 = predictWsFcn(net, image);
    const p2 = predictWsFcn({ ...net, model: loaded }, image);
    const same = tf.tidy(() => tf.all(tf.equal(p1.classes, p2.classes)));
    const sameClasses = (await same.data())[0] === 1;
    tf.dispose([
      same,
      p1.scores,
      p1.labels,
      p1.masks,
      p1.classes,
      p2.scores,
      p2.labels,
      p2.masks,
      p2.classes,
    ]);
    log(
      `Exported WS-FCN: custom layers ${customLayers.join(', ')}; logits [${outputShape}]; ` +
        `max |original − loaded| = ${diff}; same predicted classes: ${sameClasses}`,
    );
    return { customLayers, outputShape, maxAbsDiff: diff, sameClasses };
  } finally {
    image.dispose();
    loaded?.dispose();
    net.model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await setBackend('wasm');
  await run();
}
