/**
 * `wsss export`: a checkpoint's model as a tfjs LayersModel (`<out>/tfjs/model.json` + `weights.bin`, loadable
 * in a browser with `tf.loadLayersModel(url)` after importing @wsss/cli's layers, e.g. `import '@wsss/cli'`)
 * and as safetensors with the reference PyTorch names (`<out>/model.safetensors`, spec §1.1), plus
 * `<out>/wsss-model.json` (config and class names). The tfjs weights can be stored smaller (quantizedWeights.ts):
 * float16 (half the download) or uint8 kernels (a quarter), turned back into float32 when tfjs loads them.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { exportStateDict } from '@wsss/core';
import { fileSystem, writeFileAtomic, writeSafetensorsFile } from '@wsss/core/node';
import type { PartialConfig } from '../config/presets.js';
import type { Output } from '../run/output.js';
import { openCheckpoint } from './common.js';
import { quantizedArtifacts, type WeightStorage } from './quantizedWeights.js';

export type ExportFormat = 'tfjs' | 'safetensors';

export interface ExportOptions {
  checkpoint: string;
  output: string;
  out: Output;
  formats?: ExportFormat[];
  /**
   * How to store the tfjs weights (see quantizedWeights.ts): float32 (default), float16, or per-tensor affine
   * uint8/uint16 kernels. The safetensors file stays float32.
   */
  weights?: WeightStorage;
  /** Shorthand for `weights: 'float16'`. */
  float16?: boolean;
  /** backend/threads overrides. */
  overrides?: PartialConfig[];
}

export async function runExport(o: ExportOptions): Promise<{ files: string[] }> {
  const { file, net, config, classNames } = await openCheckpoint(o.checkpoint, o.overrides ?? [], o.out);
  const formats = o.formats ?? ['tfjs', 'safetensors'];
  const storage: WeightStorage = o.weights ?? (o.float16 ? 'float16' : 'float32');
  const written: string[] = [];
  if (formats.includes('tfjs')) {
    const handler = fileSystem(join(o.output, 'tfjs'));
    await net.model.save(
      storage === 'float32'
        ? handler
        : tf.io.withSaveHandler(async (artifacts) => handler.save!(quantizedArtifacts(artifacts, storage))),
    );
    written.push(join(o.output, 'tfjs', 'model.json'), join(o.output, 'tfjs', 'weights.bin'));
  }
  if (formats.includes('safetensors')) {
    const sd = await exportStateDict(net.model, net.stateDictRules());
    await writeSafetensorsFile(join(o.output, 'model.safetensors'), sd, {
      format: 'pt',
      source: 'wsss export',
      variant: config.model.variant,
      numClasses: String(classNames.length - 1),
    });
    written.push(join(o.output, 'model.safetensors'));
  }
  const meta = join(o.output, 'wsss-model.json');
  await writeFileAtomic(
    meta,
    `${JSON.stringify({ classNames, config: { model: config.model, eval: config.eval }, checkpoint: file, ...(formats.includes('tfjs') ? { tfjsWeights: storage } : {}), input: 'ImageNet-normalised NHWC float32 image; output foreground logits at stride 4 (spec §4.6)' }, null, 2)}\n`,
  );
  written.push(meta);
  net.model.dispose();
  return { files: written };
}
