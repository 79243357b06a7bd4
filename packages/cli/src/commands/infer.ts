/**
 * `wsss infer`: images of any size → palette PNG masks (`<out>/<id>.png`) and colour overlays
 * (`<out>/overlay/<id>.jpg`). Batch: a folder (recursively). Streaming: `--input -` reads image paths from
 * stdin, one per line, and writes each result as soon as it is done.
 */

import { basename, extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatasetError, type RgbImage, readImage, writeOverlay, writePredictionPng } from '@wsss/datasets';
import type { PartialConfig } from '../config/presets.js';
import type { Output } from '../run/output.js';
import { openCheckpoint, openFolder } from './common.js';
import { InputError } from './errors.js';
import { predictImage } from './predictImage.js';

export interface InferOptions {
  checkpoint: string;
  /** A folder of images, or '-' for paths on `stdin`. */
  input: string;
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
  const { net, config, classNames } = await openCheckpoint(o.checkpoint, o.overrides ?? [], o.out);
  const items: InferItem[] = [];
  const one = async (id: string, img: RgbImage, given?: number[]) => {
    const p = await predictImage(net, img, config.eval, {
      ...(given ? { gtLabels: given } : {}),
      crf: !!o.crf,
      focalP: config.train.focalP,
      focalLambda: config.train.focalLambda,
    });
    const mask = join(o.output, `${id}.png`);
    await writePredictionPng(mask, p.mask);
    const item: InferItem = {
      id,
      mask,
      labels: p.labels.map((c) => classNames[c] ?? String(c)),
      width: img.width,
      height: img.height,
    };
    if (o.overlay !== false) {
      item.overlay = join(o.output, 'overlay', `${id}.jpg`);
      await writeOverlay(item.overlay, img, p.mask, 0.5);
    }
    items.push(item);
    o.out.event('prediction', { ...item });
    return item;
  };
  if (o.input === '-') {
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
    const ds = await openFolder(o.input, classNames, o.labels).catch((e) => {
      if (e instanceof DatasetError) throw e;
      throw new InputError(`--input ${o.input}: ${(e as Error).message}`);
    });
    const given = o.labels ? ds.labelsOf.bind(ds) : undefined;
    if (ds.length === 0) throw new InputError(`--input ${o.input}: no .jpg/.jpeg/.png/.webp images found`);
    const bar = o.out.progress('infer', ds.length, 'img');
    for (let i = 0; i < ds.length; i++) {
      const rec = await ds.read(i);
      await one(rec.id, rec.image, given?.(i));
      bar.tick(1);
    }
    bar.done();
  }
  net.model.dispose();
  return { images: items.length, output: o.output, items };
}
