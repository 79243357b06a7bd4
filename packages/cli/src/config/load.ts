/**
 * Building a run's configuration: preset ← config file (JSON or YAML) ← command-line options, each layer checked
 * against the schema before merging (so an error names the layer it came from) and the result checked in full.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InputError } from '../commands/errors.js';
import { type PartialConfig, PRESET_NAMES, PRESETS, type PresetName } from './presets.js';
import { ConfigError, deepMerge, parseValue, setPath, validate, type WsssConfig } from './schema.js';

/** Reads a JSON or YAML config file (by extension; `.yml`/`.yaml` are YAML, anything else is tried as JSON). */
export async function readConfigFile(file: string): Promise<PartialConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InputError(`config file ${file}: cannot read it (${(e as Error).message})`);
  }
  const ext = extname(file).toLowerCase();
  let parsed: unknown;
  try {
    parsed = ext === '.yml' || ext === '.yaml' ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      `config file ${file}: not valid ${ext === '.yml' || ext === '.yaml' ? 'YAML' : 'JSON'} (${(e as Error).message.split('\n')[0]})`,
    );
  }
  if (parsed === null || parsed === undefined) return {};
  const obj = parsed as Record<string, unknown>;
  // A config file may name its preset; it is applied under the file.
  if (obj !== null && typeof obj === 'object' && 'preset' in obj) {
    const { preset, ...rest } = obj;
    if (typeof preset !== 'string' || !PRESET_NAMES.includes(preset as PresetName))
      throw new ConfigError(
        `config file ${file}: preset = ${JSON.stringify(preset)} is not allowed; expected one of ${PRESET_NAMES.join(', ')}`,
      );
    withContext(file, () => validate(rest, undefined, '', true));
    return Object.assign(rest, { [PRESET_KEY]: preset }) as PartialConfig;
  }
  withContext(file, () => validate(obj, undefined, '', true));
  return obj as PartialConfig;
}

const PRESET_KEY = Symbol('preset');

function withContext<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${where}: ${e.message}`);
    throw e;
  }
}

/** `key=value` pairs (from `--set`) as a partial config. */
export function parseSets(sets: readonly string[]): PartialConfig {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${s}: expected key=value, e.g. --set train.epochs=5`);
    setPath(out, s.slice(0, eq).trim(), parseValue(s.slice(0, eq).trim(), s.slice(eq + 1)));
  }
  return out as PartialConfig;
}

export interface ResolveConfigOptions {
  /** Preset name; default: the config file's `preset`, else `voc`. */
  preset?: string;
  /** A JSON/YAML config file. */
  file?: string;
  /** Options layered over the file, in order (later wins), e.g. from `--set` and named options. */
  overrides?: PartialConfig[];
  /** Require a data location for VOC/COCO (default true; `bench` needs no data). */
  requireData?: boolean;
}

/** The resolved, validated configuration and where it came from. */
export async function resolveConfig(
  opts: ResolveConfigOptions,
): Promise<{ config: WsssConfig; preset: PresetName }> {
  const fromFile = opts.file ? await readConfigFile(opts.file) : {};
  const filePreset = (fromFile as Record<symbol, unknown>)[PRESET_KEY] as string | undefined;
  const preset = opts.preset ?? filePreset ?? 'voc';
  if (!PRESET_NAMES.includes(preset as PresetName)) {
    throw new ConfigError(
      `--preset ${JSON.stringify(preset)} is not allowed; expected one of ${PRESET_NAMES.join(', ')}`,
    );
  }
  const overrides = opts.overrides ?? [];
  for (const o of overrides) withContext('command-line options', () => validate(o, undefined, '', true));
  const config = deepMerge(PRESETS[preset as PresetName], fromFile, ...overrides);
  validate(config);
  checkConsistency(config, opts.requireData ?? true);
  return { config, preset: preset as PresetName };
}

/** Cross-key rules the per-key schema cannot express. */
export function checkConsistency(c: WsssConfig, requireData = true): void {
  const [a, b] = c.data.scale as [number, number];
  if (!(a <= b && b <= 1))
    throw new ConfigError(
      `config: data.scale = ${JSON.stringify(c.data.scale)} is not allowed; expected [from, to] with 0 < from ≤ to ≤ 1`,
    );
  if (c.model.backbone.channels?.some((ch) => ch % 4 !== 0))
    throw new ConfigError(
      `config: model.backbone.channels = ${JSON.stringify(c.model.backbone.channels)} is not allowed; expected multiples of 4`,
    );
  if (c.train.accumulate > c.train.batchSize)
    throw new ConfigError(
      `config: train.accumulate = ${c.train.accumulate} is more than train.batchSize = ${c.train.batchSize}; expected at most one micro-batch per image`,
    );
  if (c.train.recompute.some((s) => s > 7) || new Set(c.train.recompute).size !== c.train.recompute.length)
    throw new ConfigError(
      `config: train.recompute = ${JSON.stringify(c.train.recompute)} is not allowed; expected distinct backbone stages 2…7 (b2…b7), e.g. [5, 6, 7]`,
    );
  if (c.train.accumulate > 1 && c.method === 'ficklenet')
    throw new ConfigError(
      `config: train.accumulate = ${c.train.accumulate} applies to WS-FCN training; FickleNet + DSRG (method ficklenet) trains its batches whole`,
    );
  if (requireData && c.data.dataset !== 'synthetic' && c.data.root === null)
    throw new ConfigError(
      `config: data.root is missing for data.dataset = '${c.data.dataset}'; pass --data <folder> (${c.data.dataset === 'folder' ? 'your image folder' : c.data.dataset === 'voc' ? 'the VOC2012 folder' : 'the COCO folder'})`,
    );
}
