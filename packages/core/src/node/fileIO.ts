/**
 * Saving and loading tfjs LayersModels as files in Node without @tensorflow/tfjs-node (DESIGN §3: nothing may
 * require it). The files are the standard tfjs "layers-model" pair — `model.json` (topology + weights
 * manifest) and `weights.bin` — so a browser loads them with `tf.loadLayersModel(url)` over HTTP unchanged.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import { tempPathFor, writeTemp } from './atomicWrite.js';

const MODEL_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';
const FILE_SCHEME = 'file://';

/**
 * A plain path from a path or a `file://` URL. `file:///abs/dir` and `file://localhost/…` are real file URLs;
 * `file://relative/dir` is taken as the relative path `relative/dir`, as tfjs-node does.
 */
export function filePathOf(pathOrUrl: string): string {
  if (typeof pathOrUrl !== 'string' || pathOrUrl === '') {
    throw new Error(`fileSystem: expected a path or file:// URL, got ${JSON.stringify(pathOrUrl)}`);
  }
  if (!pathOrUrl.startsWith(FILE_SCHEME)) return pathOrUrl;
  if (pathOrUrl.startsWith('file:///') || pathOrUrl.startsWith('file://localhost/'))
    return fileURLToPath(pathOrUrl);
  return pathOrUrl.slice(FILE_SCHEME.length);
}

/** `model.json` inside a folder, or the path itself when it names a `.json` file. */
function modelJsonPath(p: string): string {
  return p.toLowerCase().endsWith('.json') ? p : path.join(p, MODEL_FILE);
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Replaces `model.json` and `weights.bin` so that, whatever throws, either both new files or both old ones are
 * in place: the new files are written to temporaries first; the old weights are kept under a backup name
 * (a hard link, or a copy where links are unsupported) until the new `model.json` is in place, and put back if
 * that rename fails. A process killed between the two renames can still leave new weights beside the old
 * `model.json`; loading then fails with a size mismatch rather than giving wrong weights silently (unless both
 * weight sets have the same size).
 */
async function writeModelFiles(jsonPath: string, json: string, weights: Uint8Array): Promise<void> {
  const dir = path.dirname(jsonPath);
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  await fsp.mkdir(dir, { recursive: true });
  const temps: string[] = [];
  let backup: string | undefined;
  let weightsReplaced = false;
  try {
    temps.push(await writeTemp(weightsPath, weights));
    temps.push(await writeTemp(jsonPath, json));
    if (await exists(weightsPath)) {
      backup = tempPathFor(weightsPath, 'bak');
      try {
        await fsp.link(weightsPath, backup);
      } catch {
        await fsp.copyFile(weightsPath, backup);
      }
    }
    await fsp.rename(temps[0]!, weightsPath);
    weightsReplaced = true;
    await fsp.rename(temps[1]!, jsonPath);
  } catch (e) {
    if (weightsReplaced) {
      if (backup) await fsp.rename(backup, weightsPath).catch(() => {});
      else await fsp.rm(weightsPath, { force: true }).catch(() => {});
      backup = undefined;
    }
    for (const t of temps) await fsp.rm(t, { force: true }).catch(() => {});
    throw new Error(
      `fileSystem: could not save the model to ${jsonPath} (previous files kept): ${(e as Error).message}`,
    );
  } finally {
    if (backup) await fsp.rm(backup, { force: true }).catch(() => {});
  }
}

/** Bytes a weight entry occupies in the weight files, or undefined for strings (variable size). */
function weightBytes(spec: tf.io.WeightsManifestEntry): number | undefined {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization?.dtype;
  if (q) return n * (q === 'uint8' ? 1 : 2);
  const sizes: Partial<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8 };
  const size = sizes[spec.dtype];
  return size === undefined ? undefined : n * size;
}

function checkModelJson(json: unknown, where: string): tf.io.ModelJSON {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${where}: expected a JSON object with modelTopology and weightsManifest`);
  }
  const m = json as Record<string, unknown>;
  if (m['modelTopology'] === null || typeof m['modelTopology'] !== 'object') {
    throw new Error(`${where}: modelTopology is missing or not an object`);
  }
  const manifest = m['weightsManifest'];
  if (manifest !== undefined) {
    if (!Array.isArray(manifest)) throw new Error(`${where}: weightsManifest must be an array`);
    manifest.forEach((g, i) => {
      if (
        g === null ||
        typeof g !== 'object' ||
        !Array.isArray(g.paths) ||
        !g.paths.every((p: unknown) => typeof p === 'string') ||
        !Array.isArray(g.weights)
      ) {
        throw new Error(`${where}: weightsManifest[${i}] must be {paths: string[], weights: [...]}`);
      }
    });
  }
  return json as tf.io.ModelJSON;
}

/**
 * An `IOHandler` that saves a LayersModel as `model.json` + `weights.bin` in a folder and loads it back.
 *
 * `pathOrUrl` is a folder (save writes `<folder>/model.json`, load reads it) or a path ending in `.json` (that
 * file, with `weights.bin` beside it), as a plain path or a `file://` URL. Saving is atomic: a failure leaves
 * the previous files as they were.
 *
 * @example model.save(fileSystem('runs/x/model'))
 */
export function fileSystem(pathOrUrl: string): tf.io.IOHandler {
  const jsonPath = modelJsonPath(filePathOf(pathOrUrl));
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error(`fileSystem(${jsonPath}): binary model topologies (graph models) are not supported`);
      }
      const weightData = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? []));
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-core v${tf.version_core}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig != null) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.signature != null) modelJson.signature = artifacts.signature;
      if (artifacts.userDefinedMetadata != null)
        modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      if (artifacts.modelInitializer != null) modelJson.modelInitializer = artifacts.modelInitializer;
      if (artifacts.initializerSignature != null)
        modelJson.initializerSignature = artifacts.initializerSignature;
      await writeModelFiles(jsonPath, JSON.stringify(modelJson), weightData);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      let text: string;
      try {
        text = await fsp.readFile(jsonPath, 'utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new Error(
          code === 'ENOENT'
            ? `fileSystem: no model file at ${jsonPath}`
            : `fileSystem: cannot read ${jsonPath}: ${(e as Error).message}`,
        );
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new Error(`fileSystem: ${jsonPath} is not valid JSON (${(e as Error).message})`);
      }
      const modelJson = checkModelJson(parsed, `fileSystem: ${jsonPath}`);
      const dir = path.dirname(jsonPath);
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        let bytes = 0;
        const files: string[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const file = path.resolve(dir, p);
            files.push(file);
            let buf: Buffer;
            try {
              buf = await fsp.readFile(file);
            } catch (e) {
              throw new Error(
                `fileSystem: cannot read weight file ${file} listed in ${jsonPath}: ${(e as Error).message}`,
              );
            }
            buffers.push(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
            bytes += buf.byteLength;
          }
        }
        const sizes = specs.map(weightBytes);
        if (sizes.every((s) => s !== undefined)) {
          const expected = (sizes as number[]).reduce((a, b) => a + b, 0);
          if (expected !== bytes) {
            throw new Error(
              `fileSystem: ${jsonPath} describes ${expected} bytes of weights, but ${files.join(', ')} hold ${bytes}`,
            );
          }
        }
        return [specs, buffers.length === 1 ? buffers[0]! : buffers];
      });
    },
  };
}

/** Loads a LayersModel saved by `fileSystem` (or tfjs-node) from a folder, a `model.json` path or a `file://` URL. */
export function loadLayersModelFromFile(pathOrUrl: string, opts?: tf.io.LoadOptions): Promise<LayersModel> {
  return loadLayersModel(fileSystem(pathOrUrl), opts);
}

/**
 * Our routers step aside when tfjs-node is loaded (it registers the `tensorflow` backend and its own `file://`
 * routers), so that `tf.loadLayersModel('file://…')` never finds two handlers, whichever was imported first.
 */
function tfjsNodePresent(): boolean {
  return tf.findBackendFactory('tensorflow') != null;
}

function fileRouter(url: string | string[]): tf.io.IOHandler | null {
  if (typeof url !== 'string' || !url.startsWith(FILE_SCHEME) || tfjsNodePresent()) return null;
  return fileSystem(url);
}

/**
 * Registers `file://` save and load routers, so `model.save('file://dir')` and
 * `tf.loadLayersModel('file://dir/model.json')` work in Node. Does nothing when a `file://` router already
 * exists (ours, or tfjs-node's). Importing `@wsss/core/node` calls it.
 * @returns whether the routers were registered by this call.
 */
export function registerFileRouters(): boolean {
  const probe = 'file://probe/model.json';
  if (tf.io.getSaveHandlers(probe).length > 0 || tf.io.getLoadHandlers(probe).length > 0) return false;
  // tfjs's IORouter type says a router returns a handler, but its registry skips routers that return null.
  const router = fileRouter as (url: string | string[]) => tf.io.IOHandler;
  tf.io.registerSaveRouter(router);
  tf.io.registerLoadRouter(router);
  return true;
}
