import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readIndexPng } from '../io/indexPng.js';
import { runDatasetsCli } from './datasetsCli.js';

describe('wsss-datasets', () => {
  it('coco-masks writes index PNGs (class 1..80 by ascending id) and reports the count', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coco-cli-'));
    const images = join(dir, 'images');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(images);
    await sharp({ create: { width: 8, height: 6, channels: 3, background: '#808080' } })
      .jpeg()
      .toFile(join(images, 'a.jpg'));
    writeFileSync(
      join(dir, 'ann.json'),
      JSON.stringify({
        images: [{ id: 7, file_name: 'a.jpg', width: 8, height: 6 }],
        categories: [
          { id: 3, name: 'car' },
          { id: 1, name: 'person' },
        ],
        annotations: [
          {
            id: 1,
            image_id: 7,
            category_id: 3,
            iscrowd: 0,
            area: 12,
            bbox: [1, 1, 4, 3],
            segmentation: [[1, 1, 5, 1, 5, 4, 1, 4]],
          },
        ],
      }),
    );
    const out = join(dir, 'masks');
    const lines: string[] = [];
    expect(
      await runDatasetsCli(
        ['coco-masks', '--annotations', join(dir, 'ann.json'), '--images', images, '--out', out],
        (s) => lines.push(s),
      ),
    ).toBe(0);
    expect(lines.join('\n')).toMatch(/wrote 1 masks/);
    const files = readdirSync(out).filter((f) => f.endsWith('.png'));
    expect(files.length).toBe(1);
    expect(readdirSync(out)).toContain('classes.json');
    const m = await readIndexPng(join(out, files[0]!));
    expect(new Set(m.data)).toEqual(new Set([0, 2])); // category 3 is the second id in ascending order
  });

  it('synthetic --layout folder writes images/, labels.csv, masks/ and classes.txt; a bad layout exits 2', async () => {
    const base = mkdtempSync(join(tmpdir(), 'synth-cli-'));
    const out = join(base, 'set');
    const lines: string[] = [];
    expect(
      await runDatasetsCli(
        ['synthetic', '--out', out, '--count', '5', '--size', '32', '--layout', 'folder'],
        (s) => lines.push(s),
      ),
    ).toBe(0);
    expect(lines.join('\n')).toMatch(/wrote 5 images to .*set \(train 4, val 1, trainval 5\)/);
    expect(readdirSync(out).sort()).toEqual([
      'classes.json',
      'classes.txt',
      'images',
      'labels.csv',
      'masks',
      'splits',
    ]);
    expect(readdirSync(join(out, 'images'))).toHaveLength(5);
    const msgs: string[] = [];
    expect(
      await runDatasetsCli(['synthetic', '--out', `${out}2`, '--layout', 'coco'], (s) => msgs.push(s)),
    ).toBe(2);
    expect(msgs[0]).toMatch(/^wsss-datasets: --layout must be 'voc' or 'folder', got 'coco'/);
    expect(msgs[0]).toContain('--layout voc|folder');
    expect(existsSync(`${out}2`)).toBe(false);
    rmSync(base, { recursive: true, force: true });
  });

  it('synthetic --generator scenes writes VOC class names; an unknown generator or too many classes exits 2', async () => {
    const base = mkdtempSync(join(tmpdir(), 'synth-cli-'));
    const out = join(base, 'scenes');
    const lines: string[] = [];
    expect(
      await runDatasetsCli(
        ['synthetic', '--generator', 'scenes', '--out', out, '--count', '4', '--size', '32'],
        (s) => lines.push(s),
      ),
    ).toBe(0);
    expect(lines.join('\n')).toMatch(
      /wrote 4 images to .*scenes \(train 4, val 0, trainval 4\) with the 'scenes' generator in/,
    );
    const meta = JSON.parse(readFileSync(join(out, 'classes.json'), 'utf8'));
    expect(meta.classes).toHaveLength(21);
    expect(meta.classes[15]).toBe('person');
    expect(meta.generator).toMatchObject({ generator: 'scenes', numClasses: 6 });
    const msgs: string[] = [];
    expect(
      await runDatasetsCli(['synthetic', '--generator', 'blobs', '--out', `${out}2`], (s) => msgs.push(s)),
    ).toBe(2);
    expect(msgs[0]).toMatch(/^wsss-datasets: --generator must be 'shapes' or 'scenes', got 'blobs'/);
    expect(msgs[0]).toContain('--generator shapes|scenes');
    expect(
      await runDatasetsCli(
        ['synthetic', '--generator', 'scenes', '--classes', '7', '--out', `${out}2`],
        (s) => msgs.push(s),
      ),
    ).toBe(2);
    expect(msgs[1]).toMatch(/^wsss-datasets: --classes must be at most 6 for --generator scenes, got 7/);
    expect(existsSync(`${out}2`)).toBe(false);
    rmSync(base, { recursive: true, force: true });
  });

  it('sbd-to-png: a bad .mat stops the run naming it; with --skip-bad the summary counts it and names it once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sbd-cli-'));
    const cls = join(dir, 'cls');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(cls);
    writeFileSync(join(cls, '2008_000002.mat'), 'not a MATLAB file');
    const out = join(dir, 'png');
    const failed: string[] = [];
    expect(await runDatasetsCli(['sbd-to-png', '--cls', cls, '--out', out], (s) => failed.push(s))).toBe(1);
    expect(failed[0]).toContain('2008_000002.mat');
    const lines: string[] = [];
    expect(
      await runDatasetsCli(['sbd-to-png', '--cls', cls, '--out', out, '--skip-bad'], (s) => lines.push(s)),
    ).toBe(0);
    expect(lines[0]).toMatch(
      new RegExp(`^converted 0 masks to ${out} \\(1 skipped: .*2008_000002\\.mat: .+\\)$`),
    );
    expect(lines[0]!.split('2008_000002.mat')).toHaveLength(2); // the file named once
    rmSync(dir, { recursive: true, force: true });
  });

  it('usage errors exit 2 with the usage text; bad data exits 1 naming the file', async () => {
    const lines: string[] = [];
    expect(await runDatasetsCli(['coco-masks', '--images', '/x'], (s) => lines.push(s))).toBe(2);
    expect(lines[0]).toMatch(/missing --annotations/);
    expect(await runDatasetsCli(['frobnicate'], () => {})).toBe(2);
    // a folder of this test's own: another program's /tmp/o must not decide the outcome
    const dir = mkdtempSync(join(tmpdir(), 'wsss-datasets-cli-'));
    const missing = join(dir, 'definitely-missing.json');
    const msgs: string[] = [];
    expect(
      await runDatasetsCli(
        ['coco-masks', '--annotations', missing, '--images', dir, '--out', join(dir, 'o')],
        (s) => msgs.push(s),
      ),
    ).toBe(1);
    expect(msgs[0]).toContain('definitely-missing.json');
    expect(existsSync(join(dir, 'o'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});
