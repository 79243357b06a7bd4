/**
 * `wsss infer`: images of any size → palette PNG masks (`<out>/<id>.png`) and colour overlays
 * (`<out>/overlay/<id>.jpg`). Batch: folders (recursively), image files and glob patterns, in any mix. Streaming:
 * `--input -` reads image paths from stdin, one per line, and writes each result as soon as it is done.
 */

import { existsSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  DatasetError,
  IMAGE_EXTENSIONS,
  type ImageFolderDataset,
  type RgbImage,
  readImage,
  writeOverlay,
  writePredictionPng,
} from '@wsss/datasets';
import { glob, isDynamicPattern } from 'tinyglobby';
import type { PartialConfig } from '../config/presets.js';
import type { WsssConfig } from '../config/schema.js';
import type { NetForward } from '../infer/engine.js';
import { type EngineRequest, startEngine } from '../infer/engine.js';
import type { WsFcn } from '../model/wsfcn.js';
import type { Output } from '../run/output.js';
import { openCheckpoint, openFolder } from './common.js';
import { InputError } from './errors.js';
import { predictImage } from './predictImage.js';

export interface InferOptions {
  checkpoint: string;
  /**
   * What to segment: folders of images (recursively), image files and glob patterns (`'photos/**\/*.jpg'`), or
   * `['-']` for paths on `stdin`.
   */
  inputs: string[];
  output: string;
  out: Output;
  overlay?: boolean;
  crf?: boolean;
  overrides?: PartialConfig[];
  /**
   * A labels file for the folder (as `wsss train --labels`): each image's masks are cleaned with its given labels
   * instead of the predicted ones (images without a row: predicted labels).
   */
  labels?: string;
  /** Inference engine (`--engine`, `--ep`): tfjs (default) or ONNX Runtime. */
  engine?: EngineRequest;
  /** Line source for streaming (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

export interface InferItem {
  id: string;
  mask: string;
  overlay?: string;
  labels: string[];
  width: number;
  height: number;
}

export async function runInfer(
  o: InferOptions,
): Promise<{ images: number; output: string; items: InferItem[] }> {
  const { net, config, classNames, backend } = await openCheckpoint(o.checkpoint, o.overrides ?? [], o.out);
  const engine = await startEngine(net.model, o.engine ?? {}, {
    backend,
    threads: config.threads,
    out: o.out,
  });
  try {
    return await inferAll(o, net, config, classNames, engine.forward);
  } finally {
    await engine.release();
    net.model.dispose();
  }
}

/** What inferring one image needs: the network and how it runs, the settings, where to write. */
export interface InferContext {
  net: WsFcn;
  config: WsssConfig;
  classNames: string[];
  forward: NetForward;
  output: string;
  overlay: boolean;
  crf: boolean;
}

/** One image → `<output>/<id>.png` (and the overlay), both written atomically: the code of every infer path. */
export async function inferImage(
  c: InferContext,
  id: string,
  img: RgbImage,
  given?: number[],
): Promise<InferItem> {
  const p = await predictImage(c.net, img, c.config.eval, {
    ...(given ? { gtLabels: given } : {}),
    crf: c.crf,
    focalP: c.config.train.focalP,
    focalLambda: c.config.train.focalLambda,
    forward: c.forward,
  });
  const mask = join(c.output, `${id}.png`);
  await writePredictionPng(mask, p.mask);
  const item: InferItem = {
    id,
    mask,
    labels: p.labels.map((k) => c.classNames[k] ?? String(k)),
    width: img.width,
    height: img.height,
  };
  if (c.overlay) {
    item.overlay = join(c.output, 'overlay', `${id}.jpg`);
    await writeOverlay(item.overlay, img, p.mask, 0.5);
  }
  return item;
}

/** The images of an infer run, flattened for shards: each from a folder (by index) or a file, with its output id. */
export interface InferPlan {
  /** Folder inputs (absolute), with the labels file of a single folder input. */
  folders: { dir: string; labels?: string }[];
  items: InferPlanItem[];
}

/** One image of an {@link InferPlan}. */
export interface InferPlanItem {
  id: string;
  /** An image file (absolute) … */
  file?: string;
  /** … or image `index` of folder `folder`. */
  folder?: number;
  index?: number;
}

/** Resolves `--input` values as {@link runInfer} does, into a plan of absolute paths that another process can run. */
export async function inferPlan(
  inputs: readonly string[],
  classNames: readonly string[],
  labels?: string,
): Promise<InferPlan> {
  if (inputs.includes('-'))
    throw new InputError(
      '--input - (paths on stdin) streams in one process: it cannot be combined with --redis',
    );
  const plan: InferPlan = { folders: [], items: [] };
  for (const source of await resolveInputs(inputs, classNames, labels)) {
    if (source.kind === 'folder') {
      const f =
        plan.folders.push({ dir: resolve(source.dir), ...(labels ? { labels: resolve(labels) } : {}) }) - 1;
      for (const [index, id] of source.ds.ids.entries())
        plan.items.push({ id: source.prefix ? `${source.prefix}/${id}` : id, folder: f, index });
    } else for (const { file, id } of source.files) plan.items.push({ id, file: resolve(file) });
  }
  return plan;
}

/**
 * Runs some images of a plan (a scale-out worker's shard): folders opened once per `folders` cache, images read as
 * the single-process command reads them.
 */
export async function inferPlanItems(
  c: InferContext,
  plan: InferPlan,
  items: readonly InferPlanItem[],
  folders: Map<string, ImageFolderDataset>,
): Promise<{ images: number; items: InferItem[] }> {
  const out: InferItem[] = [];
  for (const it of items) {
    if (it.folder !== undefined) {
      const f = plan.folders[it.folder]!;
      const key = JSON.stringify(f);
      let ds = folders.get(key);
      if (!ds) {
        ds = await openFolder(f.dir, c.classNames, f.labels);
        folders.set(key, ds);
      }
      const rec = await ds.read(it.index!);
      out.push(await inferImage(c, it.id, rec.image, f.labels ? ds.labelsOf(it.index!) : undefined));
    } else out.push(await inferImage(c, it.id, await readImage(it.file!, { orient: true })));
  }
  return { images: out.length, items: out };
}

async function inferAll(
  o: InferOptions,
  net: WsFcn,
  config: WsssConfig,
  classNames: string[],
  forward: NetForward,
): Promise<{ images: number; output: string; items: InferItem[] }> {
  const items: InferItem[] = [];
  const ctx: InferContext = {
    net,
    config,
    classNames,
    forward,
    output: o.output,
    overlay: o.overlay !== false,
    crf: !!o.crf,
  };
  const one = async (id: string, img: RgbImage, given?: number[]) => {
    const item = await inferImage(ctx, id, img, given);
    items.push(item);
    o.out.event('prediction', { ...item });
    return item;
  };
  if (o.inputs.length === 1 && o.inputs[0] === '-') {
    const rl = createInterface({ input: o.stdin ?? process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of rl) {
      const path = line.trim();
      if (!path) continue;
      let img: RgbImage;
      try {
        img = await readImage(path, { orient: true });
      } catch (e) {
        const reason = e instanceof DatasetError ? e.problem : (e as Error).message;
        o.out.warn(`skipped ${path}: ${reason}`);
        o.out.event('skipped', { path, reason });
        continue;
      }
      const item = await one(basename(path, extname(path)), img);
      if (!o.out.json) o.out.info(`${path} → ${item.mask} [${item.labels.join(', ') || 'background'}]`);
    }
  } else {
    const sources = await resolveInputs(o.inputs, classNames, o.labels);
    const bar = o.out.progress(
      'infer',
      sources.reduce((n, s) => n + s.count, 0),
      'img',
    );
    for (const source of sources) {
      if (source.kind === 'folder') {
        const { ds } = source;
        const given = o.labels ? ds.labelsOf.bind(ds) : undefined;
        for (let i = 0; i < ds.length; i++) {
          const rec = await ds.read(i);
          await one(source.prefix ? `${source.prefix}/${rec.id}` : rec.id, rec.image, given?.(i));
          bar.tick(1);
        }
      } else {
        for (const { file, id } of source.files) {
          await one(id, await readImage(file, { orient: true }));
          bar.tick(1);
        }
      }
    }
    bar.done();
  }
  return { images: items.length, output: o.output, items };
}

/** Where {@link runInfer}'s images come from: a folder (opened as a dataset), or image files with their output ids. */
type InputSource =
  | { kind: 'folder'; dir: string; prefix: string; ds: ImageFolderDataset; count: number }
  | { kind: 'files'; files: { file: string; id: string }[]; count: number };

const isImage = (f: string) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase());
const IMAGE_KINDS = IMAGE_EXTENSIONS.join(' ');

/**
 * Resolves `--input` values: an existing folder (every image in it, recursively), an existing image file, or a glob
 * pattern (`*`, `**`, `?`, `[…]`, `{a,b}`; quote it, or let the shell expand it into files). Output ids: a file's
 * name without extension; a folder's images keep their path inside it, under the folder's name when there are
 * several inputs. Errors name the input: nothing there, not an image, an empty folder, a pattern that matches no
 * image, two inputs that would write the same mask, `--labels` with anything but one folder.
 */
export async function resolveInputs(
  inputs: readonly string[],
  classNames: readonly string[],
  labels?: string,
): Promise<InputSource[]> {
  if (inputs.length === 0) throw new InputError('--input is required (see wsss infer --help)');
  if (inputs.includes('-') && inputs.length > 1)
    throw new InputError('--input - (image paths on stdin) cannot be combined with other inputs');
  const sources: InputSource[] = [];
  for (const input of inputs) {
    if (existsSync(input) && statSync(input).isDirectory()) {
      const ds = await openFolder(input, classNames, labels).catch((e) => {
        if (e instanceof DatasetError) throw e;
        throw new InputError(`--input ${input}: ${(e as Error).message}`);
      });
      if (ds.length === 0) throw new InputError(`--input ${input}: no ${IMAGE_KINDS} images in this folder`);
      const prefix = inputs.length > 1 ? basename(resolve(input)) : '';
      sources.push({ kind: 'folder', dir: input, prefix, ds, count: ds.length });
    } else if (existsSync(input)) {
      if (!isImage(input))
        throw new InputError(
          `--input ${input}: not an image (expected ${IMAGE_KINDS}, a folder or a glob pattern)`,
        );
      sources.push({
        kind: 'files',
        files: [{ file: input, id: basename(input, extname(input)) }],
        count: 1,
      });
    } else if (isDynamicPattern(input)) {
      const files = (await glob(input, { onlyFiles: true, expandDirectories: false })).filter(isImage).sort();
      if (files.length === 0)
        throw new InputError(`--input ${input}: the pattern matches no ${IMAGE_KINDS} image`);
      const found = files.map((file) => ({ file, id: basename(file, extname(file)) }));
      sources.push({ kind: 'files', files: found, count: files.length });
    } else {
      throw new InputError(`--input ${input}: no such file or folder`);
    }
  }
  if (labels && (sources.length !== 1 || sources[0]!.kind !== 'folder'))
    throw new InputError(
      '--labels goes with a single folder --input (its rows name images inside that folder)',
    );
  // every mask has one writer: file ids have no '/', a folder's ids (with several inputs) start with its name
  const writer = new Map<string, string>();
  const claim = (id: string, by: string) => {
    const other = writer.get(id);
    if (other !== undefined && resolve(other) !== resolve(by))
      throw new InputError(
        `--input: ${other} and ${by} would both write ${id}.png; run them with different --output folders`,
      );
    writer.set(id, by);
  };
  for (const s of sources) {
    if (s.kind === 'folder') {
      if (s.prefix) claim(`${s.prefix}/`, s.dir);
    } else for (const { file, id } of s.files) claim(id, file);
  }
  return sources;
}
