/**
 * `wsss-datasets`: data-preparation commands that need no model.
 *   wsss-datasets coco-masks --annotations <instances_*.json> --images <dir> --out <dir> [--skip-bad]
 *   wsss-datasets sbd-to-png --cls <SBD cls dir> --out <dir> [--skip-bad]
 *   wsss-datasets synthetic --out <dir> [--count 1000] [--size 128] [--classes 5] [--seed 0] [--layout voc|folder]
 *                           [--splits train=600,val=200] [--format jpg|png] [--generator shapes|scenes]
 * Exit codes: 0 ok, 1 bad data (named in the message), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { CocoDataset } from '../coco/cocoDataset.js';
import { DatasetError, type SkipCounter } from '../io/errors.js';
import { convertSbdToPng } from '../sbd/sbd.js';
import { generateSyntheticSet } from '../synthetic/generate.js';
import { SYNTHETIC_MAX_CLASSES } from '../synthetic/render.js';
import { SCENE_CLASS_NAMES, SCENE_MAX_CLASSES } from '../synthetic/scenes.js';

export const DATASETS_USAGE = `wsss-datasets <command> [options]

Commands:
  coco-masks    Rasterise COCO 2014 instances to palette index PNGs (classes 1..80 in ascending
                category-id order, 0 = background, crowd regions 255), written atomically.
                  --annotations <file>   instances_{train,val}2014.json (required)
                  --images <dir>         the matching image folder, for image sizes (required)
                  --out <dir>            output folder (required)
                  --skip-bad             skip and count unreadable records instead of failing
  sbd-to-png    Convert SBD cls/*.mat (GTcls.Segmentation) to index PNGs.
                  --cls <dir>            the SBD dataset/cls folder (required)
                  --out <dir>            output folder (required)
                  --skip-bad             skip and count unreadable .mat files instead of failing
  synthetic     Write a synthetic WSSS set.
                  --out <dir> (required)  --count <n=1000>  --size <px=128>  --classes <k>  --seed <s=0>
                  --generator shapes|scenes
                                         shapes (default): the demo's data, textured geometric classes
                                         1..k (k ≤ 8, default 5); scenes: a second generator nobody tunes
                                         on, to check generalisation: composite silhouettes of the first
                                         k (≤ 6, default 6) of ${SCENE_CLASS_NAMES.join(', ')}
                                         with their VOC ids and names, on outdoor/indoor/foliage scenes
                  --layout voc|folder    voc (default): JPEGImages/, SegmentationClass/, ImageSets/;
                                         folder: images/, labels.csv, masks/, classes.txt, splits/
                  --splits <list>        e.g. train=600,val=200 (counts) or train=0.8,val=0.2 (default)
                  --format jpg|png       image files (default jpg, quality 95)

Exit codes: 0 success, 1 bad input data (the message names the file), 2 usage error.`;

class UsageError extends Error {}

function need(values: Record<string, unknown>, key: string): string {
  const v = values[key];
  if (typeof v !== 'string' || v === '') throw new UsageError(`missing --${key}`);
  return v;
}

/** ` (k skipped: <file>: <problem>; …)` for a summary line, or nothing when none was skipped. */
function skippedNote(skipped: SkipCounter, shown = 5): string {
  if (!skipped.count) return '';
  const more = skipped.count > shown ? `; … ${skipped.count - shown} more` : '';
  return ` (${skipped.count} skipped: ${skipped.reasons.slice(0, shown).join('; ')}${more})`;
}

function int(values: Record<string, unknown>, key: string, dflt: number, min: number): number {
  const v = values[key];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${key} must be an integer ≥ ${min}, got '${String(v)}'`);
  return n;
}

/** `train=600,val=200` (counts) or `train=0.8,val=0.2` (fractions) → a splits record. */
function parseSplits(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*([0-9.]+)\s*$/.exec(part);
    if (!m)
      throw new UsageError(
        `--splits: cannot read '${part}'; expected name=count or name=fraction, comma-separated`,
      );
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Runs the command line `argv` (without node and script); returns the exit code. */
export async function runDatasetsCli(
  argv: string[],
  log: (s: string) => void = console.log,
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === '--help' || command === '-h' || command === 'help') {
      log(DATASETS_USAGE);
      return command ? 0 : 2;
    }
    const { values } = parseArgs({
      args: rest,
      options: {
        annotations: { type: 'string' },
        images: { type: 'string' },
        out: { type: 'string' },
        cls: { type: 'string' },
        count: { type: 'string' },
        size: { type: 'string' },
        classes: { type: 'string' },
        seed: { type: 'string' },
        generator: { type: 'string' },
        layout: { type: 'string' },
        splits: { type: 'string' },
        format: { type: 'string' },
        'skip-bad': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help) {
      log(DATASETS_USAGE);
      return 0;
    }
    switch (command) {
      case 'coco-masks': {
        const ds = await CocoDataset.open({
          annotationFile: need(values, 'annotations'),
          imageDir: need(values, 'images'),
        });
        const r = await ds.exportMasks(need(values, 'out'), { skipBad: !!values['skip-bad'] });
        log(`wrote ${r.written} masks to ${values.out}${skippedNote(ds.skipped)}`);
        return 0;
      }
      case 'sbd-to-png': {
        const r = await convertSbdToPng(need(values, 'cls'), need(values, 'out'), {
          skipBad: !!values['skip-bad'],
        });
        log(`converted ${r.written} masks to ${values.out}${skippedNote(r.skipped)}`);
        return 0;
      }
      case 'synthetic': {
        const layout = values.layout ?? 'voc';
        if (layout !== 'voc' && layout !== 'folder')
          throw new UsageError(`--layout must be 'voc' or 'folder', got '${layout}'`);
        const format = values.format ?? 'jpg';
        if (format !== 'jpg' && format !== 'png')
          throw new UsageError(`--format must be 'jpg' or 'png', got '${format}'`);
        const generator = values.generator ?? 'shapes';
        if (generator !== 'shapes' && generator !== 'scenes')
          throw new UsageError(`--generator must be 'shapes' or 'scenes', got '${generator}'`);
        const maxClasses = generator === 'scenes' ? SCENE_MAX_CLASSES : SYNTHETIC_MAX_CLASSES;
        const numClasses = int(values, 'classes', generator === 'scenes' ? SCENE_MAX_CLASSES : 5, 1);
        if (numClasses > maxClasses)
          throw new UsageError(
            `--classes must be at most ${maxClasses} for --generator ${generator}, got ${numClasses}`,
          );
        const s = await generateSyntheticSet({
          generator,
          layout,
          root: need(values, 'out'),
          count: int(values, 'count', 1000, 2),
          size: int(values, 'size', 128, 32),
          numClasses,
          seed: int(values, 'seed', 0, 0),
          imageFormat: format,
          ...(values.splits ? { splits: parseSplits(values.splits) } : {}),
        });
        log(
          `wrote ${s.count} images to ${s.root} (${Object.entries(s.splits)
            .map(([k, v]) => `${k} ${v.length}`)
            .join(
              ', ',
            )})${generator === 'scenes' ? ` with the 'scenes' generator in ${(s.ms / 1000).toFixed(1)} s` : ''}`,
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown command '${command}'; expected coco-masks, sbd-to-png or synthetic`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      log(`wsss-datasets: ${(e as Error).message}\n\n${DATASETS_USAGE}`);
      return 2;
    }
    if (e instanceof DatasetError) {
      log(`wsss-datasets: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}
