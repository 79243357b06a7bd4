/**
 * `wsss export`: a checkpoint's model as a tfjs LayersModel (`<out>/tfjs/model.json` + `weights.bin`, loadable
 * in a browser with `tf.loadLayersModel(url)` after importing @wsss/cli's layers, e.g. `import '@wsss/cli'`)
 * and as safetensors with the reference PyTorch names (`<out>/model.safetensors`, spec §1.1), plus
 * `<out>/wsss-model.json` (config and class names).
 */
import { join } from 'node:path';
import { exportStateDict } from '@wsss/core';
import { fileSystem, writeFileAtomic, writeSafetensorsFile } from '@wsss/core/node';
import type { PartialConfig } from '../config/presets.js';
import type { Output } from '../run/output.js';
import { openCheckpoint } from './common.js';

export type ExportFormat = 'tfjs' | 'safetensors';

export interface ExportOptions {
  checkpoint: string;
  output: string;
  out: Output;
  formats?: ExportFormat[];
  /** backend/threads overrides. */
  overrides?: PartialConfig[];
}

export async function runExport(o: ExportOptions): Promise<{ files: string[] }> {
  const { file, net, config, classNames } = await openCheckpoint(o.checkpoint, o.overrides ?? [], o.out);
  const formats = o.formats ?? ['tfjs', 'safetensors'];
  const files: string[] = [];
  if (formats.includes('tfjs')) {
    await net.model.save(fileSystem(join(o.output, 'tfjs')));
    files.push(join(o.output, 'tfjs', 'model.json'), join(o.output, 'tfjs', 'weights.bin'));
  }
  if (formats.includes('safetensors')) {
    const sd = await exportStateDict(net.model, net.stateDictRules());
    await writeSafetensorsFile(join(o.output, 'model.safetensors'), sd, {
      format: 'pt',
      source: 'wsss export',
      variant: config.model.variant,
      numClasses: String(classNames.length - 1),
    });
    files.push(join(o.output, 'model.safetensors'));
  }
  const meta = join(o.output, 'wsss-model.json');
  await writeFileAtomic(
    meta,
    `${JSON.stringify({ classNames, config: { model: config.model, eval: config.eval }, checkpoint: file, input: 'ImageNet-normalised NHWC float32 image; output foreground logits at stride 4 (spec §4.6)' }, null, 2)}\n`,
  );
  files.push(meta);
  net.model.dispose();
  return { files };
}
