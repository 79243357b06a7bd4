/**
 * Training on your own images, as a user does it: a folder of photos (nested, mixed formats, EXIF-rotated,
 * grayscale, 16-bit, CMYK, alpha) with a labels file, through the spawned `wsss` binary — label formats, collected
 * and given classes, background-only and unlisted images, validation without masks (mAP/F1) and with some
 * (mIoU over the classes present), semi-supervised pixel labels for both methods, the pre-flight scan with and
 * without --skip-bad and its cache on --resume, the other commands on the same folder, VOC XML labels without
 * masks.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readIndexPng } from '@wsss/datasets';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { differingTensors, runCli, spawnSuite, tinyConfig } from './cli.js';

/** The run's config.json. */
const configOf = (run: string) => JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
const stateOf = async (file: string) => {
  const { parseSafetensors } = await import('@wsss/core');
  return JSON.parse(parseSafetensors(new Uint8Array(readFileSync(file))).metadata['state']!);
};

describe('wsss on your own images (--dataset folder), spawned', () => {
  let dir: string;
  /** The tiny synthetic set in the folder layout: images/, labels.csv, masks/, classes.txt, splits/. */
  let fl: string;
  let cfg: string;
  beforeAll(async () => {
    ({ dir } = await spawnSuite('wsss-folder-'));
    fl = join(dir, 'fl');
    const { generateSyntheticSet } = await import('@wsss/datasets');
    await generateSyntheticSet({
      root: fl,
      layout: 'folder',
      count: 12,
      seed: 1,
      size: 32,
      numClasses: 3,
      splits: { train: 8, val: 4 },
      imageFormat: 'png',
    });
    cfg = await tinyConfig(join(dir, 'tiny.json'), fl, {
      data: { dataset: 'folder', root: join(fl, 'images'), labels: join(fl, 'labels.csv') },
      train: { checkpointEvery: 'off' },
    });
  }, 60_000);
  afterAll(() => dir && rm(dir, { recursive: true, force: true }));

  it('photos of every kind in nested folders, a CSV with | and no header, background-only and unlisted images: trains; classes collected, printed, stored', async () => {
    const photos = join(dir, 'photos');
    mkdirSync(join(photos, 'garden', 'day'), { recursive: true });
    const names = readdirSync(join(fl, 'images')).sort();
    const rows: string[] = [];
    const src = (n: string) => join(fl, 'images', n);
    const labelsOf = new Map(
      readFileSync(join(fl, 'labels.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',') as [string, string]),
    );
    for (const [i, n] of names.entries()) {
      const img = sharp(src(n));
      const labels = (labelsOf.get(n) ?? '').replaceAll(';', '|');
      let file: string;
      // each image in another container: EXIF-rotated JPEG, grayscale PNG, 16-bit PNG, CMYK JPEG, RGBA WebP, plain
      switch (i % 6) {
        case 0:
          file = `garden/day/p${i}.jpg`;
          await img.jpeg().withMetadata({ orientation: 6 }).toFile(join(photos, file));
          break;
        case 1:
          file = `p${i}.png`;
          await img.grayscale().png().toFile(join(photos, file));
          break;
        case 2:
          file = `garden/p${i}.png`;
          await img.toColourspace('rgb16').png().toFile(join(photos, file));
          break;
        case 3:
          file = `p${i}.jpeg`;
          await img.toColourspace('cmyk').jpeg().toFile(join(photos, file));
          break;
        case 4:
          file = `p${i}.webp`;
          await img.ensureAlpha(0.5).webp().toFile(join(photos, file));
          break;
        default:
          file = `garden/day/p${i}.png`;
          copyFileSync(src(n), join(photos, file));
      }
      // image 11 is left out of the labels file; image 10 is background-only (an empty field)
      if (i === 11) continue;
      rows.push(`${file},${i === 10 ? '' : labels}`);
    }
    writeFileSync(join(photos, 'labels.csv'), `${rows.join('\n')}\n`);
    const run = join(dir, 'photos-run');
    const r = await runCli([
      'train',
      '-c',
      cfg,
      '--data',
      photos,
      '--labels',
      join(photos, 'labels.csv'),
      '--out',
      run,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const classes = ['checked-square', 'dotted-triangle', 'striped-disc'];
    expect(r.stderr).toContain(`11 labelled images in ${photos}`);
    expect(r.stderr).toContain(`3 classes collected from the labels: ${classes.join(', ')}`);
    expect(r.stderr).toContain(
      '1 background-only image(s) (no label); 1 image(s) in the folder have no row in the labels file and are not used',
    );
    expect(r.stderr).toMatch(/validation: 1 images, a seeded 10 % of the labelled images/);
    expect(configOf(run).classNames).toEqual(['background', ...classes]);
    expect((await stateOf(join(run, 'checkpoints', 'last.safetensors'))).classNames).toEqual([
      'background',
      ...classes,
    ]);
    // the rotated photo comes out rotated: wsss infer writes masks of the oriented size (32×32 stays 32×32, so check
    // the decoded size through a non-square one)
    const wide = join(dir, 'wide');
    mkdirSync(wide);
    await sharp({ create: { width: 40, height: 24, channels: 3, background: 'white' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toFile(join(wide, 'w.jpg'));
    const inf = await runCli([
      'infer',
      '--checkpoint',
      run,
      '-i',
      wide,
      '-o',
      join(dir, 'wide-out'),
      '--json',
    ]);
    expect(inf.code, inf.stderr).toBe(0);
    expect(inf.events.find((e) => e['type'] === 'prediction')).toMatchObject({ width: 24, height: 40 });
  });

  it('JSON and JSON-lines labels train exactly like the CSV', async () => {
    const csv = readFileSync(join(fl, 'labels.csv'), 'utf8').trim().split('\n').slice(1);
    const pairs = csv.map((l) => {
      const [image, labels] = l.split(',') as [string, string];
      return { image, labels: labels ? labels.split(';') : [] };
    });
    writeFileSync(
      join(dir, 'labels.json'),
      JSON.stringify(Object.fromEntries(pairs.map((p) => [p.image, p.labels]))),
    );
    writeFileSync(join(dir, 'labels.jsonl'), pairs.map((p) => JSON.stringify(p)).join('\n'));
    const runs = ['csv', 'json', 'jsonl'].map((k) => join(dir, `fmt-${k}`));
    const files = [join(fl, 'labels.csv'), join(dir, 'labels.json'), join(dir, 'labels.jsonl')];
    for (const [i, run] of runs.entries()) {
      const r = await runCli([
        'train',
        '-c',
        cfg,
        '--labels',
        files[i]!,
        '--out',
        run,
        '--stop-after',
        '3steps',
      ]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(
      await differingTensors(
        join(runs[0]!, 'checkpoints/last.safetensors'),
        join(runs[1]!, 'checkpoints/last.safetensors'),
      ),
    ).toEqual([]);
    expect(
      await differingTensors(
        join(runs[0]!, 'checkpoints/last.safetensors'),
        join(runs[2]!, 'checkpoints/last.safetensors'),
      ),
    ).toEqual([]);
  });

  it('bad data stops before the first step with exit 3 and a list; --skip-bad leaves it out, lists it, and --resume does not scan again', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    for (const n of readdirSync(join(fl, 'images'))) copyFileSync(join(fl, 'images', n), join(bad, n));
    const masks = join(dir, 'bad-masks');
    mkdirSync(masks);
    for (const n of readdirSync(join(fl, 'masks'))) copyFileSync(join(fl, 'masks', n), join(masks, n));
    const names = readdirSync(bad).sort();
    writeFileSync(join(bad, names[0]!), Buffer.alloc(0)); // an empty image
    writeFileSync(join(bad, names[1]!), readFileSync(join(bad, names[1]!)).subarray(0, 60)); // a cut one
    // a mask of the wrong size
    await sharp({ create: { width: 8, height: 8, channels: 3, background: 'black' } })
      .toColourspace('b-w')
      .png()
      .toFile(join(masks, names[2]!));
    // an unknown class, a duplicate row, a row for no image
    const lines = readFileSync(join(fl, 'labels.csv'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (l.startsWith(`${names[4]},`) ? `${names[4]},unicorn` : l));
    lines.push(`${names[3]},striped-disc`, 'ghost.png,striped-disc');
    writeFileSync(join(bad, 'labels.csv'), `${lines.join('\n')}\n`);
    const args = [
      'train',
      '-c',
      cfg,
      '--data',
      bad,
      '--labels',
      join(bad, 'labels.csv'),
      '--classes',
      join(fl, 'classes.txt'),
      '--masks',
      masks,
      '--val',
      join(fl, 'splits', 'val.txt'),
    ];
    const run = join(dir, 'bad-run');
    const r = await runCli([...args, '--out', run]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('the pre-flight scan found 6 problem(s) in the data');
    expect(r.stderr).toContain(`${join(bad, names[0]!)}: image file is empty (0 bytes)`);
    expect(r.stderr).toContain(`${join(bad, names[1]!)}: corrupt or unreadable image`);
    expect(r.stderr).toContain(`${join(masks, names[2]!)}: mask size 8x8 differs from image size 32x32`);
    expect(r.stderr).toMatch(/labels\.csv: line \d+: .*"unicorn"/);
    expect(r.stderr).toMatch(
      new RegExp(`labels\\.csv: line 14: "${names[3]}" is listed again \\(first on line \\d+\\)`),
    );
    expect(r.stderr).toContain(`line 15: "ghost.png" names no image in ${bad}`);
    expect(existsSync(join(run, 'checkpoints'))).toBe(false);
    const ok = await runCli([...args, '--out', run, '--skip-bad', '--stop-after', '2steps']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('skipping');
    const pre = JSON.parse(readFileSync(join(run, 'preflight.json'), 'utf8'));
    expect(pre.problems).toHaveLength(6);
    expect(pre.skipped).toEqual(expect.arrayContaining([join(bad, names[0]!), join(bad, names[1]!)]));
    expect(configOf(run).data.skipped).toEqual(pre.skipped);
    const again = await runCli(['train', '--resume', run]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('pre-flight scan: using preflight.json');
    expect(again.stderr).not.toContain('pre-flight scan [');
    const html = readFileSync(join(run, 'report.html'), 'utf8');
    expect(html).toContain('The pre-flight scan left out');
  });

  it('validation without masks reports mAP and F1 (no mIoU); with masks mIoU over the classes present; eval says which', async () => {
    const run = join(dir, 'nomask');
    const r = await runCli(['train', '-c', cfg, '--out', run, '--best-by', 'map']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/val after epoch 3: loss [\d.]+, mAP [\d.]+%, F1 [\d.]+%( \(best|$)/m);
    expect(r.stderr).toContain('best checkpoint: by validation mAP of the image labels');
    const ev = await runCli(['eval', '--checkpoint', run, '--single-scale']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/image labels: mAP [\d.]+%, F1/);
    expect(ev.stdout).toContain('no image of this split has a ground-truth mask');
    // the same run's validation images scored against their masks: the classes the val masks hold
    const withMasks = await runCli([
      'eval',
      '--checkpoint',
      run,
      '--single-scale',
      '--masks',
      join(fl, 'masks'),
      '--json',
    ]);
    expect(withMasks.code, withMasks.stderr).toBe(0);
    const res = withMasks.events.find((e) => e['type'] === 'result')!;
    expect(res['masked']).toBe(res['images']);
    expect(res['over']).toBe('present');
    const all = await runCli([
      'eval',
      '--checkpoint',
      run,
      '--single-scale',
      '--masks',
      join(fl, 'masks'),
      '--set',
      'eval.miouOver=all',
    ]);
    expect(all.stdout).toContain('over all 4 classes, absent ones as 0');
  });

  it('semi-supervised: --pixel-labels 0.5 trains 4 of 8 images on their masks (WS-FCN); FickleNet seeds them with their masks', async () => {
    const semi = [
      '--masks',
      join(fl, 'masks'),
      '--classes',
      join(fl, 'classes.txt'),
      '--val',
      join(fl, 'splits', 'val.txt'),
    ];
    const run = join(dir, 'semi');
    const r = await runCli(['train', '-c', cfg, ...semi, '--pixel-labels', '0.5', '--out', run]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('4 of 8 training images train on their masks (data.pixelLabels 0.5');
    expect(configOf(run).data.pixelLabelled).toBe(4);
    expect(readFileSync(join(run, 'report.html'), 'utf8')).toContain(
      '4 of 8 training images train on their masks',
    );
    // the masks change training (the weak run differs) …
    const weak = join(dir, 'weak');
    expect((await runCli(['train', '-c', cfg, ...semi, '--pixel-labels', 'none', '--out', weak])).code).toBe(
      0,
    );
    expect(
      (
        await differingTensors(
          join(run, 'checkpoints/last.safetensors'),
          join(weak, 'checkpoints/last.safetensors'),
        )
      ).length,
    ).toBeGreaterThan(0);
    // … and FickleNet + DSRG takes a pixel-labelled image's mask as its seed map
    const fcfg = await tinyConfig(join(dir, 'fickle-folder.json'), fl, {
      method: 'ficklenet',
      data: { dataset: 'folder', root: join(fl, 'images'), labels: join(fl, 'labels.csv') },
    });
    const frun = join(dir, 'fsemi');
    const f = await runCli(['train', '-c', fcfg, ...semi, '--pixel-labels', 'all', '--out', frun]);
    expect(f.code, f.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(frun, 'localization', 'summary.json'), 'utf8'));
    expect(summary.trueSeeds).toBe(8);
    for (const n of readdirSync(join(frun, 'localization', 'seeds'))) {
      const seeds = await readIndexPng(join(frun, 'localization', 'seeds', n));
      const gt = await readIndexPng(join(fl, 'masks', n));
      expect(Buffer.from(seeds.data).equals(Buffer.from(gt.data)), n).toBe(true);
    }
    // wsss localize reads the same folder's validation split
    const loc = await runCli([
      'localize',
      '--checkpoint',
      frun,
      '--split',
      'val',
      '-o',
      join(dir, 'loc'),
      '--json',
    ]);
    expect(loc.code, loc.stderr).toBe(0);
    expect(loc.events.find((e) => e['type'] === 'result')).toMatchObject({ images: 4, split: 'val' });
    // VOC layout: a split name picks the pixel-labelled images (as --pixel-labels train does on VOC)
    const voc = join(dir, 'data');
    const ids = readFileSync(join(voc, 'ImageSets', 'Segmentation', 'train.txt'), 'utf8')
      .trim()
      .split('\n');
    writeFileSync(join(voc, 'ImageSets', 'Segmentation', 'some.txt'), `${ids.slice(0, 3).join('\n')}\n`);
    const vcfg = await tinyConfig(join(dir, 'voc-semi.json'), voc);
    const v = await runCli([
      'train',
      '-c',
      vcfg,
      '--pixel-labels',
      'some',
      '--out',
      join(dir, 'voc-semi'),
      '--stop-after',
      '1step',
    ]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).toContain(
      '3 of 8 training images train on their masks (data.pixelLabels some: the images of some (3 listed))',
    );
  });

  it('pseudo-labels, eval and infer --labels run on the folder', async () => {
    const run = join(dir, 'cmds');
    expect((await runCli(['train', '-c', cfg, '--out', run, '--stop-after', '4steps'])).code).toBe(0);
    const ps = await runCli([
      'pseudo-labels',
      '--checkpoint',
      run,
      '--split',
      'all',
      '--output',
      join(dir, 'ps'),
      '--json',
    ]);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.events.find((e) => e['type'] === 'result')).toMatchObject({ images: 12, split: 'all' });
    expect(readdirSync(join(dir, 'ps'))).toHaveLength(12);
    const inf = await runCli([
      'infer',
      '--checkpoint',
      run,
      '-i',
      join(fl, 'images'),
      '-o',
      join(dir, 'inf'),
      '--labels',
      join(fl, 'labels.csv'),
      '--json',
      '--no-overlay',
    ]);
    expect(inf.code, inf.stderr).toBe(0);
    // with given labels, a mask shows no class the image is not labelled with
    const first = inf.events.find((e) => e['type'] === 'prediction')!;
    const row = readFileSync(join(fl, 'labels.csv'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${first['id']}.png,`))!;
    expect(first['labels']).toEqual(row.split(',')[1]!.split(';').filter(Boolean).sort());
    const ev = await runCli(['eval', '--checkpoint', run, '--split', 'train', '--limit', '3', '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const bad = await runCli(['eval', '--checkpoint', run, '--split', 'test']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected one of train, val, all');
  });

  it('a VOC-style folder with XML labels and no masks trains (data.labelsFrom xml)', async () => {
    const voc = join(dir, 'vocxml');
    for (const d of ['JPEGImages', 'Annotations', 'ImageSets/Segmentation'])
      mkdirSync(join(voc, d), { recursive: true });
    const classes = readFileSync(join(fl, 'classes.txt'), 'utf8').trim().split('\n');
    writeFileSync(join(voc, 'classes.json'), JSON.stringify({ classes, imageExt: '.png' }));
    const rows = readFileSync(join(fl, 'labels.csv'), 'utf8').trim().split('\n').slice(1);
    const ids: string[] = [];
    for (const r of rows) {
      const [image, labels] = r.split(',') as [string, string];
      const id = image.replace(/\.png$/, '');
      ids.push(id);
      copyFileSync(join(fl, 'images', image), join(voc, 'JPEGImages', image));
      const objects = (labels ? labels.split(';') : [])
        .map((n) => `<object><name>${n}</name></object>`)
        .join('');
      writeFileSync(join(voc, 'Annotations', `${id}.xml`), `<annotation>${objects}</annotation>`);
    }
    writeFileSync(join(voc, 'ImageSets/Segmentation/train.txt'), ids.slice(0, 8).join('\n'));
    writeFileSync(join(voc, 'ImageSets/Segmentation/val.txt'), ids.slice(8).join('\n'));
    const vcfg = await tinyConfig(join(dir, 'vocxml.json'), voc, {
      data: { dataset: 'voc', root: voc, trainSplit: 'train', valSplit: 'val', labelsFrom: 'xml' },
    });
    const run = join(dir, 'vocxml-run');
    const r = await runCli(['train', '-c', vcfg, '--out', run]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/val after epoch 3: loss [\d.]+, mAP/);
    expect(r.stderr).not.toContain('mIoU');
    rmSync(join(voc, 'Annotations', `${ids[0]}.xml`));
    const missing = await runCli(['train', '-c', vcfg, '--out', join(dir, 'vocxml-2')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`${ids[0]}.xml`);
  });
});
