/**
 * `wsss export`: a checkpoint's model (WS-FCN, or the DSRG network of a FickleNet + DSRG run) as a tfjs LayersModel (`<out>/tfjs/model.json` + `weights.bin`, loadable
 * in a browser with `tf.loadLayersModel(url)` after importing @wsss/cli's layers, e.g. `import '@wsss/cli'`)
 * and as safetensors with the reference PyTorch names (`<out>/model.safetensors`, spec §1.1), plus
 * `<out>/wsss-model.json` (config and class names). The tfjs weights can be stored smaller (quantizedWeights.ts):
 * float16 (half the download) or uint8 kernels (a quarter), turned back into float32 when tfjs loads them.
 * `--format onnx` adds `<out>/model.onnx` (@wsss/onnx): the inference graph for ONNX Runtime and other ONNX tools,
 * with WS-FCN's test-mode outputs (class scores, masks) after its logits.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { exportStateDict, type StateDictRule } from '@wsss/core';
import { fileSystem, writeFileAtomic, writeSafetensorsFile } from '@wsss/core/node';
import { IMAGENET_MEAN, IMAGENET_STD } from '@wsss/datasets';
import { describeOnnx, exportOnnx } from '@wsss/onnx';
import type { PartialConfig } from '../config/presets.js';
import type { WsssConfig } from '../config/schema.js';
import type { Output } from '../run/output.js';
import { openAnyCheckpoint } from './common.js';
import { InputError } from './errors.js';
import { quantizedArtifacts, type WeightStorage } from './quantizedWeights.js';

export type ExportFormat = 'tfjs' | 'safetensors' | 'onnx';

/** The formats `--format` accepts. */
export const EXPORT_FORMATS: readonly ExportFormat[] = ['tfjs', 'safetensors', 'onnx'];

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
  const opened = await openAnyCheckpoint(o.checkpoint, o.overrides ?? [], o.out);
  const { file, config, classNames } = opened;
  const net = (opened.dsrg ?? opened.net)!;
  try {
    return await exportNet(o, { file, config, classNames, net, dsrg: !!opened.dsrg });
  } finally {
    net.model.dispose();
  }
}

async function exportNet(
  o: ExportOptions,
  c: {
    file: string;
    config: WsssConfig;
    classNames: string[];
    net: { model: LayersModel; stateDictRules(): StateDictRule[] };
    dsrg: boolean;
  },
): Promise<{ files: string[] }> {
  const { file, config, classNames, net } = c;
  const formats = o.formats ?? (c.dsrg ? ['tfjs'] : ['tfjs', 'safetensors']);
  if (c.dsrg && formats.includes('safetensors'))
    throw new InputError(
      `${file} holds the DSRG network of a FickleNet + DSRG run, which exports as tfjs or onnx (--format tfjs,onnx); safetensors with the reference PyTorch names is for WS-FCN`,
    );
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
  let onnx: Record<string, unknown> | undefined;
  if (formats.includes('onnx')) {
    const started = Date.now();
    const bytes = exportOnnx(net.model, {
      // WS-FCN: the reference's test-mode outputs after the logits; DSRG: its logits (background first)
      head: c.dsrg ? 'none' : 'wsfcn-reference',
      focalP: config.train.focalP,
      focalLambda: config.train.focalLambda,
      docString: `wsss ${c.dsrg ? 'DSRG network (FickleNet + DSRG run)' : `WS-FCN (${config.model.variant})`} exported from ${file}`,
      metadata: {
        'wsss.classes': JSON.stringify(classNames),
        'wsss.normalisation': JSON.stringify({ scale: 1 / 255, mean: IMAGENET_MEAN, std: IMAGENET_STD }),
        ...(c.dsrg ? {} : { 'wsss.eval': JSON.stringify(config.eval) }),
      },
    });
    const path = join(o.output, 'model.onnx');
    await writeFileAtomic(path, bytes);
    const d = describeOnnx(bytes);
    onnx = {
      file: 'model.onnx',
      opset: d.opset,
      inputs: d.inputs.map((t) => ({ name: t.name, shape: t.shape })),
      outputs: d.outputs.map((t) => ({ name: t.name, shape: t.shape })),
    };
    o.out.info(
      `model.onnx: opset ${d.opset}, ${d.nodeCount} nodes, ${(bytes.length / 2 ** 20).toFixed(1)} MiB, outputs ${d.outputs.map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    written.push(path);
  }
  const meta = join(o.output, 'wsss-model.json');
  await writeFileAtomic(
    meta,
    `${JSON.stringify({ classNames, config: { model: config.model, eval: config.eval }, checkpoint: file, ...(formats.includes('tfjs') ? { tfjsWeights: storage } : {}), input: 'ImageNet-normalised NHWC float32 image', output: c.dsrg ? 'DSRG logits (background first) at stride 8 (spec §6.3)' : 'foreground logits at stride 4 (spec §4.6)', ...(onnx ? { onnx } : {}) }, null, 2)}\n`,
  );
  written.push(meta);
  return { files: written };
}
