/**
 * `wsss import`: a released PyTorch checkpoint of WS-FCN (or of 1-stage-wseg, whose model is the SSSS variant)
 * → a wsss run folder that `eval`, `infer`, `pseudo-labels`, `export` and the browser page use like a trained run.
 *
 * The file is read by core's restricted reader (zip `.pth` and legacy pickles; `.safetensors` too; a `module.`
 * prefix from DataParallel is dropped). Its keys say the architecture: FCA or ASPP context, SF2 (with `align1`) or
 * GCI fusion; the tensor shapes say the backbone (channels per stage, full or light depth), the number of classes
 * and the align projection. Every tensor is accounted for: PAMR's three fixed kernels (`_aff.*` buffers) are
 * checked against the values the reference builds and dropped; any other key that maps to nothing, or a weight
 * no key provides, is an error naming it.
 *
 * Memory: the model is built without initialisation on the `cpu` backend, whose zero weights are lazily committed
 * pages, and each state-dict tensor is handed over as it loads (its source released), so importing needs about
 * twice the file's size at most.
 */
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { WRN38_CHANNELS } from '@wsss/backbone-wrn38';
import { loadStateDict, type StateDictEntry, setBackend, withoutInitialization } from '@wsss/core';
import { readPth, readSafetensorsFile } from '@wsss/core/node';
import { readClassNames, VOC_CLASSES } from '@wsss/datasets';
import { VOC_PRESET } from '../config/presets.js';
import {
  ConfigError,
  deepMerge,
  VARIANTS,
  type Variant,
  validate,
  type WsssConfig,
} from '../config/schema.js';
import { saveCheckpoint } from '../run/checkpoint.js';
import type { Output } from '../run/output.js';
import { writeRunConfig } from '../run/runDir.js';
import { withRunFolder } from '../run/runFolder.js';
import { buildNet } from './common.js';
import { InputError } from './errors.js';

/** The codes a checkpoint can come from: WS-FCN's (any Table I variant) or 1-stage-wseg's (SSSS). */
export const IMPORT_SOURCES = ['auto', 'ws-fcn', '1-stage-wseg'] as const;
export type ImportSource = (typeof IMPORT_SOURCES)[number];

export interface ImportOptions {
  /** The PyTorch checkpoint (`.pth`/`.pt`, zip or legacy) or a `.safetensors` file. */
  file: string;
  from?: ImportSource;
  /** Expected variant: an error when the checkpoint holds another. */
  variant?: Variant;
  /** `voc` (the 20 PASCAL VOC classes) or a class-names file (one per line, background first). */
  classes?: string;
  /** The run folder to write. */
  runDir: string;
  overwrite?: boolean;
  out: Output;
  argv?: string[];
}

export interface ImportResult {
  runDir: string;
  checkpoint: string;
  from: Exclude<ImportSource, 'auto'>;
  variant: Variant;
  architecture: string;
  numClasses: number;
  classNames: string[];
  parameters: number;
  /** Tensors loaded into the model, and the fixed PAMR kernels checked and dropped. */
  loaded: number;
  dropped: string[];
  seconds: number;
}

type Tensors = Map<string, StateDictEntry>;

/** LocalAffinity's kernel (`aff_x`): 1 at the centre, −1 at each of the 8 neighbours in turn (8,1,3,3). */
function affinityKernel(centre: number, neighbour: number): Float32Array {
  const k = new Float32Array(8 * 9);
  const around = [0, 1, 2, 3, 5, 6, 7, 8];
  around.forEach((p, i) => {
    k[i * 9 + 4] = centre;
    k[i * 9 + p] = neighbour;
  });
  return k;
}

/** PAMR's fixed buffers in the reference (`_aff.aff_x/aff_m/aff_std.kernel`): not weights, but must be these. */
export const PAMR_BUFFERS: Readonly<Record<string, { shape: number[]; data: Float32Array }>> = {
  '_aff.aff_x.kernel': { shape: [8, 1, 3, 3], data: affinityKernel(1, -1) },
  '_aff.aff_m.kernel': { shape: [8, 1, 3, 3], data: affinityKernel(0, 1) },
  '_aff.aff_std.kernel': {
    shape: [9, 1, 3, 3],
    data: Float32Array.from({ length: 81 }, (_, i) => (i % 9 === Math.floor(i / 9) ? 1 : 0)),
  },
};

async function readTensors(file: string): Promise<Tensors> {
  if (!existsSync(file)) throw new InputError(`no file ${file}`);
  try {
    if (extname(file).toLowerCase() === '.safetensors') return (await readSafetensorsFile(file)).tensors;
    return (await readPth(file)).tensors as unknown as Tensors;
  } catch (e) {
    throw new InputError(`${file} cannot be read as a PyTorch checkpoint: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Drops a prefix every key has (`module.` from DataParallel). */
function stripPrefix(t: Tensors): Tensors {
  const keys = [...t.keys()];
  if (!keys.length || !keys.every((k) => k.startsWith('module.'))) return t;
  return new Map(keys.map((k) => [k.slice('module.'.length), t.get(k)!]));
}

const shapeOf = (t: Tensors, key: string) => t.get(key)?.shape;

/** What the keys and shapes of a reference state dict say about the network. */
export interface DetectedArchitecture {
  variant: Variant;
  numClasses: number;
  /** Channels [conv1a, b2, …, b7], or null for the reference's. */
  channels: number[] | null;
  depth: 'full' | 'light';
}

/** Reads the architecture off a reference state dict (see the module comment); errors name what is missing. */
export function detectArchitecture(t: Tensors, file: string): DetectedArchitecture {
  const has = (prefix: string) => [...t.keys()].some((k) => k.startsWith(prefix));
  const context = has('fca.') ? 'fca' : has('aspp.') ? 'aspp' : null;
  const fusion = has('sf2.') ? 'sf2' : has('shallow_mask.') ? 'gci' : null;
  if (!context || !fusion || !has('conv1a.') || !has('last_conv.'))
    throw new InputError(
      `${file} is not a WS-FCN or 1-stage-wseg state dict: expected keys conv1a.*, fca.* or aspp.*, sf2.* or shallow_mask.*, last_conv.*; found ${[...new Set([...t.keys()].map((k) => k.split('.')[0]))].slice(0, 12).join(', ')}`,
    );
  const variant = (
    { 'fca+sf2': 'wsfcn', 'aspp+gci': 'ssss', 'fca+gci': 'fca-gci', 'aspp+sf2': 'aspp-sf2' } as const
  )[`${context}+${fusion}` as 'fca+sf2'];
  const head = [...t.keys()]
    .filter((k) => /^last_conv\.\d+\.weight$/.test(k) && shapeOf(t, k)!.length === 4)
    .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))
    .pop();
  if (!head) throw new InputError(`${file} has no last_conv.<n>.weight (the head's classifier)`);
  const numClasses = shapeOf(t, head)![0]!;
  // the output channels of each stage: its first unit's projection (every ResNet-38d stage starts with one)
  const stage = (s: number) => {
    const proj = shapeOf(t, `b${s}.conv_branch1.weight`);
    if (!proj) throw new InputError(`${file} lacks b${s}.conv_branch1.weight (a ResNet-38d backbone)`);
    return proj[0]!;
  };
  const conv1a = shapeOf(t, 'conv1a.weight')![0]!;
  const channels = [conv1a, ...[2, 3, 4, 5, 6, 7].map(stage)];
  const full = has('b2_1.');
  return {
    variant,
    numClasses,
    channels: channels.every((c, i) => c === WRN38_CHANNELS[i]) ? null : channels,
    depth: full ? 'full' : 'light',
  };
}

const ARCHITECTURE: Record<Variant, string> = {
  wsfcn: 'WS-FCN (FCA + SF2)',
  ssss: 'SSSS (ASPP + GCI, the 1-stage-wseg model)',
  'fca-gci': 'FCA + GCI',
  'aspp-sf2': 'ASPP + SF2',
};

/** Imports a released checkpoint into a new run folder (see the module comment). */
export async function runImport(o: ImportOptions): Promise<ImportResult> {
  const t0 = performance.now();
  const out = o.out;
  const from0 = o.from ?? 'auto';
  if (!(IMPORT_SOURCES as readonly string[]).includes(from0))
    throw new ConfigError(
      `--from ${JSON.stringify(from0)} is not allowed; expected one of ${IMPORT_SOURCES.join(', ')}`,
    );
  if (o.variant && !VARIANTS.includes(o.variant))
    throw new ConfigError(
      `--variant ${JSON.stringify(o.variant)} is not allowed; expected one of ${VARIANTS.join(', ')}`,
    );
  let tensors = stripPrefix(await readTensors(o.file));
  const keys = tensors.size;
  // PAMR's fixed kernels: checked, then dropped
  const dropped: string[] = [];
  for (const [key, want] of Object.entries(PAMR_BUFFERS)) {
    const got = tensors.get(key);
    if (!got) continue;
    const same =
      got.shape.length === want.shape.length &&
      got.shape.every((d, i) => d === want.shape[i]) &&
      Array.from(got.data).every((v, i) => v === want.data[i]);
    if (!same)
      throw new InputError(
        `${o.file}: ${key} (shape [${got.shape}]) is not the fixed PAMR kernel the reference builds (shape [${want.shape}]); the checkpoint is not a WS-FCN/1-stage-wseg model, or it was altered`,
      );
    tensors.delete(key);
    dropped.push(key);
  }
  const arch = detectArchitecture(tensors, o.file);
  const from = from0 === 'auto' ? (arch.variant === 'ssss' ? '1-stage-wseg' : 'ws-fcn') : from0;
  if (from === '1-stage-wseg' && arch.variant !== 'ssss')
    throw new InputError(
      `${o.file} holds ${ARCHITECTURE[arch.variant]}, not 1-stage-wseg's model (ASPP + GCI); leave --from away or use --from ws-fcn`,
    );
  if (o.variant && o.variant !== arch.variant)
    throw new InputError(
      `${o.file} holds ${ARCHITECTURE[arch.variant]} (variant ${arch.variant}), not --variant ${o.variant}`,
    );
  const classNames = await importClassNames(o.classes, arch.numClasses);
  const config: WsssConfig = deepMerge(VOC_PRESET, {
    model: {
      variant: arch.variant,
      backbone: { channels: arch.channels, depth: arch.depth },
    },
    ...(from === '1-stage-wseg' ? { optim: { lrMults: [1, 2, 10, 20] } } : {}),
  });
  validate(config);

  return withRunFolder(
    { dir: resolve(o.runDir), mode: o.overwrite ? 'overwrite' : 'new', command: o.argv ?? [], out },
    async (folder) => {
      // no compute here: the cpu backend keeps the zero-initialised weights as untouched pages until loaded
      await setBackend('cpu');
      const net = withoutInitialization(() => buildNet(config, arch.numClasses));
      try {
        let report: ReturnType<typeof loadStateDict>;
        try {
          report = loadStateDict(net.model, tensors, net.stateDictRules(), { release: true });
        } catch (e) {
          throw new InputError(
            `${o.file} does not match ${ARCHITECTURE[arch.variant]}: ${(e as Error).message}`,
          );
        }
        tensors = new Map(); // what is left are ignored keys (num_batches_tracked)
        const parameters = net.countParameters();
        const architecture = `${ARCHITECTURE[arch.variant]} on ResNet-38d (${arch.depth === 'full' ? 'full depth' : 'one unit per stage'}${arch.channels ? `, channels ${arch.channels.join('/')}` : ''})`;
        out.info(
          `${o.file}: ${architecture}, ${arch.numClasses} classes, ${parameters.toLocaleString('en')} parameters (${from}); ` +
            `${report.loaded.length} tensors loaded, ${report.ignored.length} counters ignored${dropped.length ? `, PAMR's ${dropped.length} fixed kernels checked and dropped` : ''} (${keys} keys in all)`,
        );
        const epochs = config.train.epochs;
        const checkpoint = resolve(folder.dir, 'checkpoints', 'last.safetensors');
        await writeRunConfig(folder.dir, config, {
          preset: 'import',
          command: o.argv ?? [],
          createdAt: new Date().toISOString(),
          classNames,
          imported: { file: resolve(o.file), from, architecture, keys, parameters, dropped },
        });
        await saveCheckpoint(checkpoint, net, null, {
          epoch: epochs,
          step: 0,
          position: { epoch: epochs, index: 0 },
          random: null,
          optimizerStep: 0,
          best: null,
          reason: 'import',
          config,
          classNames,
          savedAt: new Date().toISOString(),
        });
        await folder.checkpointWritten();
        return {
          runDir: folder.dir,
          checkpoint,
          from,
          variant: arch.variant,
          architecture,
          numClasses: arch.numClasses,
          classNames,
          parameters,
          loaded: report.loaded.length,
          dropped,
          seconds: (performance.now() - t0) / 1000,
        };
      } finally {
        net.model.dispose();
      }
    },
  );
}

/** The class names of an import: `voc`, a file, or (K = 20) VOC's by default. */
async function importClassNames(spec: string | undefined, K: number): Promise<string[]> {
  const names =
    spec === undefined || spec === 'voc'
      ? K === 20 || spec === 'voc'
        ? [...VOC_CLASSES]
        : null
      : await readClassNames(spec).catch((e) => {
          throw new InputError(`--classes ${spec}: ${(e as Error).message}`);
        });
  if (!names)
    throw new ConfigError(
      `the checkpoint has ${K} foreground classes: name them with --classes <file> (one per line, background first)`,
    );
  if (names.length !== K + 1)
    throw new ConfigError(
      `--classes ${spec}: ${names.length - 1} foreground classes, the checkpoint has ${K}`,
    );
  return names;
}
