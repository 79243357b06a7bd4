/**
 * Every command and the paths their help texts document, run as a user types them: the built `wsss` binary in a
 * child process, arguments in, exit code, stdout/stderr and files out. Training paths (resume, kills, run folders)
 * are in runs.test.ts and kill9.test.ts.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetrics } from '../run/runDir.js';
import {
  checkpointContents,
  differingTensors,
  folderDigest,
  metricsWithoutTimes,
  runCli,
  spawnSuite,
  startCli,
  trainTinyRuns,
} from './cli.js';

describe('every wsss command, spawned', () => {
  let dir: string;
  let data: string;
  let run: string;
  let fickle: string;
  beforeAll(async () => {
    ({ dir, data } = await spawnSuite('wsss-cmds-'));
    ({ run, fickle } = await trainTinyRuns(dir, data));
  }, 120_000);
  /** `wsss train -c fickle.json --out <dir>/<name>` with `--set` for each of `sets`, spawned. */
  const trainFickle = (name: string, ...sets: string[]) =>
    runCli([
      'train',
      '-c',
      join(dir, 'fickle.json'),
      '--out',
      join(dir, name),
      ...sets.flatMap((v) => ['--set', v]),
    ]);
  afterAll(() => dir && rm(dir, { recursive: true, force: true }));

  it('--help, help <command>, <command> --help and --version exit 0; no command exits 2 with the help', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    const commands = ['train', 'eval', 'infer', 'pseudo-labels', 'localize', 'demo', 'bench', 'export'];
    for (const c of commands) expect(top.stdout).toContain(c);
    expect(top.stdout).toContain('Exit codes');
    expect(top.stdout).toContain('6    the run folder is in use');
    for (const c of commands) {
      const h = await runCli([c, '--help']);
      expect(h.code, c).toBe(0);
      expect(h.stdout, c).toContain(`wsss ${c}`);
      expect(h.stdout, c).toContain('Exit codes');
      const viaHelp = await runCli(['help', c]);
      expect(viaHelp.stdout.trim(), c).toBe(h.stdout.split('\n\nExit codes')[0]!.trim());
    }
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version,
    );
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toContain('Exit codes');
  });

  it('usage errors exit 2 and name the option, the value and what is allowed', async () => {
    const cases: [string[], string][] = [
      [['frobnicate'], "unknown command 'frobnicate'"],
      [['train', '--bogus'], "Unknown option '--bogus'"],
      [['train', '--preset', 'huge'], '--preset "huge" is not allowed; expected one of voc, coco, demo'],
      [['train', '--preset', 'demo', '--epochs', 'ten'], '--epochs "ten" is not a number'],
      [['train', '--preset', 'demo', '--set', 'train.nope=1'], "unknown key 'train.nope'"],
      [['train', '--preset', 'demo', '--set', 'data.crop=abc'], 'data.crop = "abc" is not allowed'],
      [['train', '--preset', 'demo', '--stop-after', 'soon'], '--stop-after "soon" is not allowed'],
      [['train', '--preset', 'voc'], 'data.root is missing'],
      [['eval'], 'wsss eval: --checkpoint is required'],
      [['infer', '--checkpoint', 'x'], '--input is required'],
      [
        ['export', '--checkpoint', 'x', '--output', 'y', '--format', 'tfjs,pt'],
        '--format "pt" is not allowed; expected tfjs, safetensors, onnx',
      ],
      [
        ['infer', '--checkpoint', 'x', '-i', 'y', '-o', 'z', '--engine', 'tvm'],
        '--engine "tvm": expected tfjs or onnx',
      ],
      [
        ['eval', '--checkpoint', 'x', '--ep', 'cuda'],
        '--ep chooses an ONNX Runtime execution provider: it needs --engine onnx',
      ],
      [
        ['pseudo-labels', '--checkpoint', 'x', '-o', 'y', '--engine', 'onnx', '--ep', 'tpu'],
        '--ep "tpu": expected one of cpu, webgpu, cuda',
      ],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli(args, { cwd: dir });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(msg);
    }
    expect(readdirSync(dir).filter((n) => n === 'runs')).toEqual([]);
  });

  it('input errors exit 3 naming the file: missing checkpoint, weights, config file, data', async () => {
    const cases: [string[], string][] = [
      [
        ['eval', '--checkpoint', join(dir, 'missing')],
        `${join(dir, 'missing')}: neither a .safetensors checkpoint`,
      ],
      [
        ['train', '--resume', join(dir, 'missing')],
        `--resume ${join(dir, 'missing')}: no such run folder or checkpoint`,
      ],
      [
        ['train', '--preset', 'demo', '--weights', join(dir, 'w.pth'), '--out', join(dir, 'w')],
        `backbone weights: no file ${join(dir, 'w.pth')}`,
      ],
      [['train', '-c', join(dir, 'nope.yaml')], `config file ${join(dir, 'nope.yaml')}: cannot read it`],
      [
        [
          'train',
          '--preset',
          'demo',
          '--dataset',
          'voc',
          '--data',
          join(dir, 'nowhere'),
          '--out',
          join(dir, 'v'),
        ],
        `${join(dir, 'nowhere')}: dataset root does not exist`,
      ],
      [
        ['infer', '--checkpoint', run, '--input', join(dir, 'nophotos'), '--output', join(dir, 'm')],
        `${join(dir, 'nophotos')}`,
      ],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli(args, { cwd: dir });
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(3);
      expect(r.stderr, args.join(' ')).toContain(msg);
    }
  });

  it('eval: defaults, --json, --limit, --single-scale, --scales, --no-flip, --bg-score, --fp-cut, --gt-labels, --crf, --save, --split', async () => {
    const base = await runCli(['eval', '--checkpoint', run, '--json']);
    expect(base.code, base.stderr).toBe(0);
    const result = base.events.find((e) => e['type'] === 'result')!;
    expect(result).toMatchObject({ command: 'eval', images: 4, labels: 'predicted' });
    expect(result['iou']).toHaveLength(4);
    expect(
      base.stdout
        .trim()
        .split('\n')
        .every((l) => l.startsWith('{')),
    ).toBe(true);
    const human = await runCli([
      'eval',
      '--checkpoint',
      join(run, 'checkpoints', 'last.safetensors'),
      '--limit',
      '2',
    ]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/mIoU/);
    const save = join(dir, 'eval-pngs');
    const opts = await runCli([
      'eval',
      '--checkpoint',
      run,
      '--json',
      '--scales',
      '1,0.5',
      '--no-flip',
      '--bg-score',
      '0.3',
      '--fp-cut',
      '0.2',
      '--gt-labels',
      '--crf',
      '--save',
      save,
      '--split',
      'val',
      '--limit',
      '3',
    ]);
    expect(opts.code, opts.stderr).toBe(0);
    expect(opts.events.find((e) => e['type'] === 'result')).toMatchObject({
      images: 3,
      crf: true,
      labels: 'ground truth',
    });
    expect(readdirSync(save).filter((f) => f.endsWith('.png'))).toHaveLength(3);
    const single = await runCli(['eval', '--checkpoint', run, '--single-scale', '--json', '--limit', '1']);
    expect(single.code).toBe(0);
    // how it evaluates, in words: one scale is single-scale, whatever the flip
    const one = await runCli([
      'eval',
      '--checkpoint',
      run,
      '--scales',
      '1',
      '--set',
      'eval.flip=true',
      '--limit',
      '1',
    ]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toMatch(/: single-scale \+ flip, predicted image labels/);
    expect(one.stderr).not.toContain('multi-scale [1]');
    const two = await runCli(['eval', '--checkpoint', run, '--scales', '1,0.5', '--no-flip', '--limit', '1']);
    expect(two.stderr).toMatch(/: multi-scale \[1, 0\.5\], predicted image labels/);
    // a FickleNet + DSRG run is evaluated with its DSRG network
    const fe = await runCli(['eval', '--checkpoint', fickle, '--json']);
    expect(fe.code, fe.stderr).toBe(0);
    expect(fe.events.find((e) => e['type'] === 'result')).toMatchObject({ command: 'eval', images: 4 });
  });

  it('infer: a folder (masks + overlays), --no-overlay, paths on stdin with --input - and --json', async () => {
    const images = join(data, 'JPEGImages');
    const out1 = join(dir, 'masks');
    const a = await runCli(['infer', '--checkpoint', run, '-i', images, '-o', out1]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain(`12 image(s) → ${out1}`);
    expect(readdirSync(out1).filter((f) => f.endsWith('.png'))).toHaveLength(12);
    expect(readdirSync(join(out1, 'overlay'))).toHaveLength(12);
    const out2 = join(dir, 'masks2');
    const list = readdirSync(images)
      .slice(0, 3)
      .map((f) => join(images, f));
    const b = await runCli(
      ['infer', '--checkpoint', run, '--input', '-', '--output', out2, '--no-overlay', '--json'],
      {
        stdin: `${list.join('\n')}\n`,
      },
    );
    expect(b.code, b.stderr).toBe(0);
    expect(readdirSync(out2).sort()).toEqual(
      list
        .map((f) =>
          f
            .split('/')
            .pop()!
            .replace(/\.\w+$/, '.png'),
        )
        .sort(),
    );
    expect(b.events.find((e) => e['type'] === 'result')).toMatchObject({ command: 'infer', images: 3 });
  });

  it('infer inputs: an image file, files a shell expanded, a quoted glob, a folder with files; clear errors for each mistake', async () => {
    const images = join(data, 'JPEGImages');
    const names = readdirSync(images).sort();
    const [a, b, c] = names.map((f) => join(images, f));
    const pngs = (d: string) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.png'))
        .sort();
    const id = (f: string) => f.replace(/\.\w+$/, '');
    // one image file (the file exists: not a folder, not an error)
    const one = join(dir, 'infer-one');
    const r1 = await runCli(['infer', '--checkpoint', run, '--input', a!, '--output', one, '--no-overlay']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(pngs(one)).toEqual([`${id(names[0]!)}.png`]);
    // what `-i photos/*.jpg` becomes after the shell: one --input and the rest as arguments
    const many = join(dir, 'infer-many');
    const r2 = await runCli(['infer', '--checkpoint', run, '-o', many, '--no-overlay', '-i', a!, b!, c!]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(pngs(many)).toEqual(names.slice(0, 3).map((f) => `${id(f)}.png`));
    // a quoted glob, expanded by wsss; a folder next to a file: the folder's images under its name
    const globbed = join(dir, 'infer-glob');
    const pattern = join(images, `{${names.slice(0, 2).map(id).join(',')}}.*`);
    const r3 = await runCli([
      'infer',
      '--checkpoint',
      run,
      '-o',
      globbed,
      '--no-overlay',
      '-i',
      pattern,
      '--json',
    ]);
    expect(r3.code, r3.stderr).toBe(0);
    expect(pngs(globbed)).toEqual(names.slice(0, 2).map((f) => `${id(f)}.png`));
    const mixed = join(dir, 'infer-mixed');
    const r4 = await runCli([
      'infer',
      '--checkpoint',
      run,
      '-o',
      mixed,
      '--no-overlay',
      '-i',
      images,
      '-i',
      a!,
    ]);
    expect(r4.code, r4.stderr).toBe(0);
    expect(pngs(mixed)).toEqual([`${id(names[0]!)}.png`]);
    expect(pngs(join(mixed, 'JPEGImages'))).toHaveLength(names.length);
    // mistakes, each named, exit 3, nothing written
    const notImage = join(dir, 'notes.txt');
    writeFileSync(notImage, 'hello');
    const twin = join(dir, 'twin-dir');
    mkdirSync(twin, { recursive: true });
    copyFileSync(a!, join(twin, names[0]!));
    const cases: [string[], string][] = [
      [['-i', join(dir, 'nope.jpg')], `--input ${join(dir, 'nope.jpg')}: no such file or folder`],
      [
        ['-i', notImage],
        `--input ${notImage}: not an image (expected .jpg .jpeg .png .webp, a folder or a glob pattern)`,
      ],
      [
        ['-i', join(images, '*.gif')],
        `--input ${join(images, '*.gif')}: the pattern matches no .jpg .jpeg .png .webp image`,
      ],
      [['-i', a!, '--labels', notImage], '--labels goes with a single folder --input'],
      [
        ['-i', a!, join(twin, names[0]!)],
        `--input: ${a} and ${join(twin, names[0]!)} would both write ${id(names[0]!)}.png`,
      ],
      [['-i', '-', a!], '--input - (image paths on stdin) cannot be combined with other inputs'],
    ];
    for (const [args, message] of cases) {
      const out = join(dir, 'infer-bad');
      const r = await runCli(['infer', '--checkpoint', run, '-o', out, ...args]);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 3]);
      expect(r.stderr).toContain(`wsss infer: ${message}`);
      expect(r.stderr).not.toContain('wsss infer: wsss infer');
      expect(existsSync(out)).toBe(false);
    }
    const noInput = await runCli(['infer', '--checkpoint', run, '-o', join(dir, 'x')]);
    expect(noInput.code).toBe(2);
    expect(noInput.stderr).toContain('wsss infer: --input is required (see wsss infer --help)');
    expect(noInput.stderr).not.toContain('wsss infer: wsss infer');
  });

  it('pseudo-labels: palette PNGs of the training split with their mIoU; --split, --limit', async () => {
    const out = join(dir, 'pseudo');
    const r = await runCli(['pseudo-labels', '--checkpoint', run, '--output', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).filter((f) => f.endsWith('.png'))).toHaveLength(8);
    const res = r.events.find((e) => e['type'] === 'result')!;
    expect(res).toMatchObject({ command: 'pseudo-labels', images: 8, split: 'train' });
    expect(res['labelled']).toBeDefined();
    const lim = await runCli([
      'pseudo-labels',
      '--checkpoint',
      run,
      '-o',
      join(dir, 'pseudo2'),
      '--split',
      'val',
      '--limit',
      '2',
    ]);
    expect(lim.code).toBe(0);
    expect(readdirSync(join(dir, 'pseudo2'))).toHaveLength(2);
    // a FickleNet checkpoint is refused with the commands that read it
    const f = await runCli(['pseudo-labels', '--checkpoint', fickle, '-o', join(dir, 'pseudo3')]);
    expect(f.code).toBe(3);
    expect(f.stderr).toContain('FickleNet + DSRG');
  });

  it('localize: seeds, maps, summary and report from a FickleNet run; --no-maps, --runs, --split', async () => {
    const out = join(dir, 'seeds');
    const r = await runCli([
      'localize',
      '--checkpoint',
      fickle,
      '--output',
      out,
      '--split',
      'val',
      '--runs',
      '2',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['summary.json', 'report.html']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readdirSync(join(out, 'seeds'))).toHaveLength(4);
    expect(readdirSync(join(out, 'maps'))).toHaveLength(4);
    const res = r.events.find((e) => e['type'] === 'result')!;
    expect(res).toMatchObject({ command: 'localize', images: 4, split: 'val' });
    const nm = await runCli([
      'localize',
      '--checkpoint',
      join(fickle, 'checkpoints', 'classifier.safetensors'),
      '-o',
      join(dir, 'seeds2'),
      '--no-maps',
      '--limit',
      '2',
    ]);
    expect(nm.code, nm.stderr).toBe(0);
    expect(existsSync(join(dir, 'seeds2', 'maps'))).toBe(false);
    expect(readdirSync(join(dir, 'seeds2', 'seeds'))).toHaveLength(2);
    const w = await runCli(['localize', '--checkpoint', run, '-o', join(dir, 'seeds3')]);
    expect(w.code).toBe(3);
    // test-time augmentation: scales and mirror images, recorded in the summary and stated in the report
    const tta = join(dir, 'seeds-tta');
    const t = await runCli([
      'localize',
      '--checkpoint',
      fickle,
      '-o',
      tta,
      '--limit',
      '2',
      '--runs',
      '2',
      '--set',
      'ficklenet.localizeScales=[1,1.5]',
      '--set',
      'ficklenet.localizeFlip=true',
    ]);
    expect(t.code, t.stderr).toBe(0);
    const settings = JSON.parse(readFileSync(join(tta, 'summary.json'), 'utf8')).settings;
    expect(settings).toMatchObject({ scales: [1, 1.5], flip: true, runs: 2 });
    expect(readFileSync(join(tta, 'report.html'), 'utf8')).toContain(
      'averaged over scales ×1, ×1.5 and their mirror images',
    );
    const bad = await runCli([
      'localize',
      '--checkpoint',
      fickle,
      '-o',
      join(dir, 'seeds4'),
      '--set',
      'ficklenet.localizeScales=[1,0]',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'ficklenet.localizeScales = [1,0] is not allowed; expected an array of at least 1 numbers > 0',
    );
  });

  it('train --resume <ficklenet run> --out <new>: a fork from the classifier repeats the run exactly, or localizes and trains DSRG with new settings; the source is untouched', async () => {
    const before = folderDigest(fickle);
    const same = join(dir, 'fork-same');
    const r = await runCli(['train', '--resume', fickle, '--out', same, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(folderDigest(fickle)).toBe(before);
    // the same seeds, bit for bit, and the same DSRG network and evaluation
    const seedFiles = readdirSync(join(fickle, 'localization', 'seeds'));
    expect(seedFiles.length).toBeGreaterThan(0);
    for (const f of seedFiles)
      expect(readFileSync(join(same, 'localization', 'seeds', f)), f).toEqual(
        readFileSync(join(fickle, 'localization', 'seeds', f)),
      );
    const ck = (run: string) => join(run, 'checkpoints', 'last.safetensors');
    expect(await differingTensors(ck(fickle), ck(same))).toEqual([]);
    const [a, b] = await Promise.all([checkpointContents(ck(fickle)), checkpointContents(ck(same))]);
    expect(b.state).toEqual(a.state);
    // every record but its times (and the seeds record's milliseconds per image) is the source's
    // (a `wsss eval` of the source logged its own record there, not the fork's business)
    const trained = async (run: string) =>
      (await metricsWithoutTimes(run)).filter((m) => typeof m['step'] === 'number');
    expect(await trained(same)).toEqual(await trained(fickle));
    expect((await metricsWithoutTimes(same)).filter((m) => typeof m['step'] !== 'number')).toEqual([]);
    const src = await readMetrics(join(fickle, 'metrics.jsonl'));
    const dst = await readMetrics(join(same, 'metrics.jsonl'));
    expect(dst.filter((m) => m['type'] === 'eval')).toHaveLength(1);
    const cfg = JSON.parse(readFileSync(join(same, 'config.json'), 'utf8'));
    const classifierSteps = src.filter((m) => m['stage'] === 'classifier' && m['type'] === 'step').length;
    expect(cfg.forkedFrom).toEqual({
      run: fickle,
      checkpoint: join(fickle, 'checkpoints', 'classifier.safetensors'),
      step: classifierSteps,
    });
    expect(r.events.find((e) => e['type'] === 'result')).toMatchObject({ command: 'train', runDir: same });
    // a fork killed before its classifier checkpoint was whole (config.json written, nothing else): --resume copies
    // it and finishes as the source did, instead of training a classifier from scratch
    const killed = join(dir, 'fork-killed');
    mkdirSync(join(killed, 'checkpoints'), { recursive: true });
    copyFileSync(join(same, 'config.json'), join(killed, 'config.json'));
    const k = await runCli(['train', '--resume', killed]);
    expect(k.code, k.stderr).toBe(0);
    expect(await differingTensors(ck(fickle), ck(killed))).toEqual([]);
    expect(await trained(killed)).toEqual(await trained(fickle));
    // copied, not trained again: the classifier's records keep the source's times
    const times = async (run: string) =>
      (await readMetrics(join(run, 'metrics.jsonl')))
        .filter((m) => m['stage'] === 'classifier')
        .map((m) => m['time']);
    expect(await times(killed)).toEqual(await times(fickle));
    expect(await times(same)).toEqual(await times(fickle));
    // new seed settings from the classifier checkpoint: its copy is the source's, the seeds follow θ_fg 0.95
    const th = join(dir, 'fork-th');
    const t = await runCli([
      'train',
      '--resume',
      join(fickle, 'checkpoints', 'classifier.safetensors'),
      '--out',
      th,
      '--set',
      'ficklenet.thFg=0.95',
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(readFileSync(join(th, 'checkpoints', 'classifier.safetensors'))).toEqual(
      readFileSync(join(fickle, 'checkpoints', 'classifier.safetensors')),
    );
    const settings = JSON.parse(readFileSync(join(th, 'localization', 'summary.json'), 'utf8')).settings;
    expect(settings.thFg).toBe(0.95);
    expect(JSON.parse(readFileSync(join(th, 'config.json'), 'utf8')).config.ficklenet.thFg).toBe(0.95);
    expect(readFileSync(join(th, 'report.html'), 'utf8')).toContain('θ_fg 0.95');
    expect(readFileSync(join(th, 'report.html'), 'utf8')).toContain(
      `Forked from ${fickle}: the classifier up to step ${classifierSteps} is that run's (copied, not trained again)`,
    );
    expect(folderDigest(fickle)).toBe(before);
    // refused: a fork from the DSRG checkpoint, a checkpoint resumed in place, a fork onto another run
    const dsrg = await runCli([
      'train',
      '--resume',
      join(fickle, 'checkpoints', 'last.safetensors'),
      '--out',
      join(dir, 'fork-x'),
    ]);
    expect(dsrg.code).toBe(2);
    expect(dsrg.stderr).toContain('a fork of a FickleNet + DSRG run starts from its classifier');
    const inPlace = await runCli([
      'train',
      '--resume',
      join(fickle, 'checkpoints', 'classifier.safetensors'),
    ]);
    expect(inPlace.code).toBe(2);
    expect(inPlace.stderr).toContain(
      `a FickleNet + DSRG run continues from its run folder (wsss train --resume ${fickle})`,
    );
    const onto = await runCli(['train', '--resume', fickle, '--out', same]);
    expect(onto.code).toBe(2);
    expect(onto.stderr).toContain(`--out ${same} holds another run`);
    expect(existsSync(join(dir, 'fork-x'))).toBe(false);
    expect(folderDigest(fickle)).toBe(before);
  });

  it('train --method ficklenet --set ficklenet.classifierDecayEpochs: the cosine tail in the start line, the step records and the report', async () => {
    const out = join(dir, 'fickle-tail');
    const r = await trainFickle('fickle-tail', 'ficklenet.classifierDecayEpochs=1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/2 epochs, the learning rate decaying to 0 over the last 1 → /);
    const steps = (await readMetrics(join(out, 'metrics.jsonl'))).filter((m) => m['type'] === 'step');
    const lrs = (stage: string) => steps.filter((m) => m['stage'] === stage).map((m) => m['lr'] as number);
    // 8 images in batches of 2: 4 steps an epoch, the second epoch's 4 on the tail, ½·lr·(1 + cos(πk/4))
    const want = [1, 1, 1, 1, 1, (1 + Math.SQRT1_2) / 2, 0.5, (1 - Math.SQRT1_2) / 2].map((v) => v * 1e-3);
    expect(lrs('classifier')).toHaveLength(want.length);
    for (const [i, v] of lrs('classifier').entries()) expect(v, `step ${i}`).toBeCloseTo(want[i]!, 15);
    expect(new Set(lrs('dsrg'))).toEqual(new Set([1e-3]));
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain(
      'its learning rate falling along a cosine to 0 over the last 1 of 2 (ficklenet.classifierDecayEpochs)',
    );
  });

  it('train --method ficklenet --set ficklenet.classifierTargetLoss / classifierMinEpochs (the start line, the stop, its record and the report) and localizeScales / localizeFlip', async () => {
    const out = join(dir, 'fickle-target');
    const r = await trainFickle(
      'fickle-target',
      'ficklenet.classifierTargetLoss=100',
      'ficklenet.classifierEpochs=7',
      'ficklenet.classifierMinEpochs=6',
      'ficklenet.classifierMinDelta=0',
      'ficklenet.dsrgEpochs=0',
      'ficklenet.localizeScales=[1,0.5]',
      'ficklenet.localizeFlip=true',
    );
    expect(r.code, r.stderr).toBe(0);
    // the run's seeds come from maps averaged over both sizes and their mirror images
    const settings = JSON.parse(readFileSync(join(out, 'localization', 'summary.json'), 'utf8')).settings;
    expect(settings).toMatchObject({ scales: [1, 0.5], flip: true });
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain(
      'averaged over scales ×1, ×0.5 and their mirror images',
    );
    const said = r.stdout + r.stderr;
    expect(said).toContain(
      'until the mean loss of its last 5 epochs is at most 100 (at least 6, at most 7 epochs)',
    );
    // any loss is under 100: the first verdict, after five epochs, reaches the target; the floor holds it to six
    expect(said).toMatch(
      /classifier: stopping after epoch 6 of at most 7, its minimum: the mean loss of 5 epochs reached the target 100 at epoch 5 \(\d\.\d{4}\)/,
    );
    const metrics = await readMetrics(join(out, 'metrics.jsonl'));
    expect(metrics.filter((m) => m['type'] === 'epoch' && m['stage'] === 'classifier')).toHaveLength(6);
    expect(metrics.find((m) => m['type'] === 'early-stop')).toMatchObject({
      rule: 'target',
      epoch: 6,
      targetLoss: 100,
      minEpochs: 6,
      reachedEpoch: 5,
    });
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(
      /Classifier: 6 of at most 7 epochs, last epoch's loss \d\.\d{4}; the mean loss of 5 epochs reached the target 100 \(ficklenet.classifierTargetLoss\) at epoch 5 \(\d\.\d{4}\), and it trained the minimum of 6 epochs \(ficklenet.classifierMinEpochs\)/,
    );
  });

  it('localize background seeds: MB+ saliency by default, --background low-activation, --saliency <folder> with its errors', async () => {
    const { readIndexPng, writeImage } = await import('@wsss/datasets');
    const loc = (out: string, ...extra: string[]) =>
      runCli([
        'localize',
        '--checkpoint',
        fickle,
        '-o',
        join(dir, out),
        '--split',
        'val',
        '--runs',
        '2',
        '--json',
        ...extra,
      ]);
    const seedsOf = async (out: string) => {
      const files = readdirSync(join(dir, out, 'seeds')).sort();
      return Promise.all(files.map((f) => readIndexPng(join(dir, out, 'seeds', f))));
    };
    const count = (masks: { data: Uint8Array }[], v: number) =>
      masks.reduce((a, m) => a + m.data.filter((x) => x === v).length, 0);
    const settings = (r: { events: Record<string, unknown>[] }) =>
      r.events.find((e) => e['type'] === 'result')!['settings'] as Record<string, unknown>;
    const sal = await loc('bg-sal');
    expect(sal.code, sal.stderr).toBe(0);
    // the run's settings (the demo preset's θ_fg 0.6)
    expect(settings(sal)).toMatchObject({
      thFg: 0.6,
      background: 'saliency',
      saliencyThreshold: 0.1,
      saliencyMaps: null,
      fgMinSaliency: 0.3,
    });
    const low = await loc('bg-low', '--background', 'low-activation');
    expect(low.code, low.stderr).toBe(0);
    expect(settings(low)['background']).toBe('low-activation');
    // the report states the rule: the gate with saliency, none with the low-activation rule
    expect(readFileSync(join(dir, 'bg-sal', 'report.html'), 'utf8')).toContain(
      'θ_fg 0.6 where the saliency is at least 0.3, background where the MB+ saliency is below 0.1',
    );
    expect(readFileSync(join(dir, 'bg-low', 'report.html'), 'utf8')).not.toContain(
      'where the saliency is at least',
    );
    const [a, b] = [await seedsOf('bg-sal'), await seedsOf('bg-low')];
    // every foreground seed of the saliency run is one of the low-activation run's (the maps and θ_fg decide them,
    // the saliency gate only removes some)
    for (const [i, m] of a.entries())
      for (let k = 0; k < m.data.length; k++)
        if (m.data[k]! > 0 && m.data[k]! < 255) expect(b[i]!.data[k]).toBe(m.data[k]);
    expect(a.map((m) => Array.from(m.data))).not.toEqual(b.map((m) => Array.from(m.data)));
    // your own maps: saliency 255 everywhere gives no background seed, 0 everywhere makes every other pixel one
    const ids = readdirSync(join(dir, 'bg-sal', 'seeds')).map((f) => f.replace(/\.png$/, ''));
    for (const [name, v] of [
      ['sal-high', 255],
      ['sal-low', 0],
    ] as const) {
      mkdirSync(join(dir, name), { recursive: true });
      for (const [i, id] of ids.entries()) {
        const { width, height } = a[i]!;
        await writeImage(join(dir, name, `${id}.png`), {
          width,
          height,
          data: new Uint8Array(width * height * 3).fill(v),
        });
      }
    }
    const high = await loc('bg-high', '--saliency', join(dir, 'sal-high'));
    expect(high.code, high.stderr).toBe(0);
    expect(settings(high)['saliencyMaps']).toBe(join(dir, 'sal-high'));
    expect(count(await seedsOf('bg-high'), 0)).toBe(0);
    const lowSal = await loc('bg-lowsal', '--saliency', join(dir, 'sal-low'));
    expect(lowSal.code, lowSal.stderr).toBe(0);
    expect(count(await seedsOf('bg-lowsal'), 255)).toBe(0);
    // nothing is salient: with the foreground gate (ficklenet.fgMinSaliency 0.3) every pixel is background
    expect(settings(lowSal)['fgMinSaliency']).toBe(0.3);
    const lowSalSeeds = await seedsOf('bg-lowsal');
    expect(count(lowSalSeeds, 0)).toBe(lowSalSeeds.reduce((a, m) => a + m.data.length, 0));
    // without the gate the maps' foreground wins there (spec §5.3): the low-activation run's foreground seeds, and
    // background everywhere else
    const ungated = await loc(
      'bg-ungated',
      '--saliency',
      join(dir, 'sal-low'),
      '--set',
      'ficklenet.fgMinSaliency=0',
    );
    expect(ungated.code, ungated.stderr).toBe(0);
    expect(settings(ungated)['fgMinSaliency']).toBeUndefined();
    const u = await seedsOf('bg-ungated');
    for (const [i, m] of u.entries())
      for (let k = 0; k < m.data.length; k++)
        expect(m.data[k]).toBe(b[i]!.data[k]! > 0 && b[i]!.data[k]! < 255 ? b[i]!.data[k] : 0);
    // a missing map and a map of the wrong size name the file
    const victim = join(dir, 'sal-low', `${ids[1]}.png`);
    await writeImage(victim, { width: 5, height: 4, data: new Uint8Array(60) });
    const small = await loc('bg-x', '--saliency', join(dir, 'sal-low'));
    expect(small.code).toBe(3);
    expect(small.stderr).toContain(`${victim}: the saliency map is 5×4, the image`);
    const missing = await loc('bg-y', '--saliency', join(dir, 'nowhere'));
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`no saliency map for image ${ids[0]}`);
    const bad = await loc('bg-z', '--background', 'sky');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      "ficklenet.background = \"sky\" is not allowed; expected one of 'saliency', 'low-activation'",
    );
  });

  it('export: tfjs + safetensors, --format, --float16', async () => {
    const out = join(dir, 'export');
    const r = await runCli(['export', '--checkpoint', run, '--output', out]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['tfjs/model.json', 'tfjs/weights.bin', 'model.safetensors', 'wsss-model.json'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const half = join(dir, 'export16');
    const h = await runCli([
      'export',
      '--checkpoint',
      run,
      '-o',
      half,
      '--format',
      'tfjs',
      '--float16',
      '--json',
    ]);
    expect(h.code, h.stderr).toBe(0);
    expect(existsSync(join(half, 'model.safetensors'))).toBe(false);
    expect(readFileSync(join(half, 'tfjs', 'weights.bin')).length).toBe(
      readFileSync(join(out, 'tfjs', 'weights.bin')).length / 2,
    );
    const q = join(dir, 'export-u8');
    const u = await runCli([
      'export',
      '--checkpoint',
      run,
      '-o',
      q,
      '--format',
      'tfjs',
      '--quantize',
      'uint8',
    ]);
    expect(u.code, u.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(q, 'tfjs', 'model.json'), 'utf8')).weightsManifest[0]
      .weights;
    expect(
      manifest.some((w: { quantization?: { dtype: string } }) => w.quantization?.dtype === 'uint8'),
    ).toBe(true);
    expect(readFileSync(join(q, 'tfjs', 'weights.bin')).length).toBeLessThan(
      readFileSync(join(out, 'tfjs', 'weights.bin')).length / 3,
    );
    const bad = await runCli(['export', '--checkpoint', run, '-o', join(dir, 'x'), '--quantize', 'int4']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--quantize "int4" is not allowed; expected uint8 or uint16');
  });

  it('bench: one rep at a small size prints the step and inference times (and JSON)', async () => {
    const r = await runCli([
      'bench',
      '--size',
      '32',
      '--batch',
      '1',
      '--reps',
      '1',
      '--classes',
      '2',
      '--backend',
      'wasm',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = r.events.find((e) => e['type'] === 'result')!;
    expect(res['command']).toBe('bench');
    // the step in micro-batches with recomputed stages, and the memory it left
    const small = ['bench', '--size', '32', '--reps', '1', '--classes', '2', '--backend', 'wasm'];
    const m = await runCli([...small, '--batch', '2', '--accumulate', '2', '--recompute', 'all', '--json']);
    expect(m.code, m.stderr).toBe(0);
    const mr = m.events.find((e) => e['type'] === 'result')!;
    expect(mr).toMatchObject({
      batch: 2,
      accumulate: 2,
      recompute: [2, 3, 4, 5, 6, 7],
      recomputeModules: true,
    });
    const mem = mr['memory'] as { backend: string; tensorBytes: number; wasmHeapBytes: number };
    expect(mem.backend).toBe('wasm');
    expect(mem.wasmHeapBytes).toBeGreaterThanOrEqual(mem.tensorBytes);
    expect(mem.tensorBytes).toBeGreaterThan(0);
    // during the step the gradients and activations come on top of the weights and optimizer state left after it
    expect(mr['stepPeakTensorBytes'] as number).toBeGreaterThan(mem.tensorBytes);
    const human = await runCli([...small, '--batch', '2', '--accumulate', '2']);
    expect(human.stdout).toContain('train step (batch 2 in 2 micro-batches');
    expect(human.stdout).toMatch(
      /memory after the training steps: tensors \d+ MiB \(at most \d+ MiB during a step\), wasm heap \d+ MiB/,
    );
    // stages and the modules in one list
    const some = await runCli([...small, '--train-only', '--recompute', '7,modules', '--json']);
    expect(some.code, some.stderr).toBe(0);
    expect(some.events.find((e) => e['type'] === 'result')).toMatchObject({
      recompute: [7],
      recomputeModules: true,
    });
    const bad = await runCli([...small, '--recompute', '8']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('train.recompute = [8] is not allowed');
  });

  it('bench --find-batch: trial steps in child processes find the largest batch under a heap limit; exit 7 when out of memory', async () => {
    const small = ['bench', '--size', '48', '--classes', '2', '--backend', 'wasm', '--threads', '1'];
    // a step past the heap limit is exit 7 with the memory hint, not a crash or exit 1
    const oom = await runCli([...small, '--batch', '16', '--reps', '1', '--train-only'], {
      env: { WSSS_WASM_HEAP_LIMIT_MB: '40' },
    });
    expect(oom.code, oom.stderr).toBe(7);
    expect(oom.stderr).toMatch(
      /wsss bench: the wasm backend ran out of memory .*past the 40 MB that WSSS_WASM_HEAP_LIMIT_MB allows/,
    );
    expect(oom.stderr).toContain('What uses less: train.accumulate');
    expect(oom.stderr).not.toContain('    at '); // not reported as a bug (no stack)

    const r = await runCli([...small, '--find-batch', '--max-batch', '16', '--heap-limit', '40', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = r.events.find((e) => e['type'] === 'result') as unknown as {
      largest: { batch: number; memory: { wasmHeapBytes: number }; stepPeakTensorBytes: number };
      trials: { batch: number; fits: boolean; reason?: string }[];
      heapLimitMiB: number;
    };
    expect(res.heapLimitMiB).toBe(40);
    const b = res.largest.batch;
    expect(b).toBeGreaterThanOrEqual(1);
    expect(b).toBeLessThan(16);
    expect(res.largest.memory.wasmHeapBytes).toBeLessThanOrEqual(40 * 2 ** 20);
    expect(res.largest.stepPeakTensorBytes).toBeGreaterThan(0);
    // the answer is bracketed: b fitted, b + 1 was tried and did not, with the child's reason
    const next = res.trials.find((t) => t.batch === b + 1)!;
    expect(next.fits).toBe(false);
    expect(next.reason).toContain('WSSS_WASM_HEAP_LIMIT_MB');
    for (const t of res.trials) expect(t.fits, `batch ${t.batch}`).toBe(t.batch <= b);
    const human = await runCli([...small, '--find-batch', '--max-batch', '4']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/batch {4}4 {2}fits {7}step +\d+\.\d\d s {2}wasm heap \d+ MiB/);
    expect(human.stdout.trim().split('\n').at(-1)).toBe(
      'largest batch that fits: 4 (the most tried: --max-batch 4)',
    );
    const bad = await runCli([...small, '--find-batch', '--batch', '2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--find-batch chooses the batch itself; drop --batch');
  });

  it('train: a step that does not fit exits 7 naming what fits (trial steps in children); that command then trains', async () => {
    const run = join(dir, 'fit-run');
    const args = [
      'train',
      '--preset',
      'demo',
      '--data',
      join(dir, 'fit-data'),
      '--set',
      'data.synthetic.train=32',
      '--set',
      'data.synthetic.val=8',
      '--set',
      'data.synthetic.size=48',
      '--crop',
      '48',
      '--set',
      'train.batchSize=32',
      '--epochs',
      '1',
      '--threads',
      '1',
      '--out',
      run,
    ];
    // batch 32 needs ~100 MiB of heap, a micro-batch of 1 ~16 MiB, validation and the report less than 48
    const env = { WSSS_WASM_HEAP_LIMIT_MB: '48' };
    const r = await runCli(args, { env });
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain('WSSS_WASM_HEAP_LIMIT_MB allows 48 MiB');
    expect(r.stderr).toMatch(
      /It fits with --accumulate 32 \(micro-batches of 1 at 48×48: wasm heap \d+ MiB, [\d.]+ s per micro-batch, found by a trial step\)\. Run the same command with --accumulate 32 --overwrite/,
    );
    expect(existsSync(join(run, 'checkpoints', 'last.safetensors'))).toBe(false);
    const again = await runCli([...args, '--accumulate', '32', '--overwrite', '-q'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(existsSync(join(run, 'checkpoints', 'last.safetensors'))).toBe(true);
    // resuming for a second epoch with whole batches again: the advice is the resume command itself, which keeps
    // the run (no --overwrite), and it continues the run
    const resume = ['train', '--resume', run, '--epochs', '2', '--threads', '1'];
    const cut = await runCli([...resume, '--accumulate', '1'], { env });
    expect(cut.code, cut.stderr).toBe(7);
    expect(cut.stderr).toMatch(
      /It fits with --accumulate 32 .*\. Run the same command with --accumulate 32\.$/m,
    );
    const more = await runCli([...resume, '--accumulate', '32', '--json'], { env });
    expect(more.code, more.stderr).toBe(0);
    expect(more.events.find((e) => e['type'] === 'result')).toMatchObject({ epochs: 2 });
  });

  it('demo --quick: trains, evaluates, reports; --out onto it is refused, --overwrite replaces it, --resume finishes it', async () => {
    const out = join(dir, 'demo');
    const r = await runCli(['demo', '--quick', '--out', out, '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('held-out mIoU');
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    const again = await runCli(['demo', '--quick', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`--out ${out} holds another run`);
    const over = await runCli(['demo', '--quick', '--out', out, '--overwrite', '--threads', '1']);
    expect(over.code, over.stderr).toBe(0);
    const res = await runCli(['demo', '--resume', out, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('nothing to do');
    // Ctrl-C in the middle of a demo says how to finish it; that command trains the rest and writes the report
    const cut = join(dir, 'demo-cut');
    const p = startCli(['demo', '--quick', '--out', cut, '--threads', '1', '--json']);
    await p.untilSteps(3);
    p.kill('SIGINT');
    const stopped = await p.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain(`Continue with: wsss demo --resume ${cut}`);
    expect(existsSync(join(cut, 'report.html'))).toBe(false);
    const done = await runCli(['demo', '--resume', cut, '--threads', '1']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('held-out mIoU');
    expect(existsSync(join(cut, 'report.html'))).toBe(true);
  });

  it('--engine onnx: infer, eval and pseudo-labels give the tfjs results (WS-FCN and DSRG); export --format onnx', async () => {
    const images = join(data, 'JPEGImages');
    const byEngine = async (args: string[], out: string) => {
      const t = await runCli([...args, '-o', `${out}-tfjs`, '--json']);
      const o = await runCli([...args, '-o', `${out}-onnx`, '--engine', 'onnx', '--json']);
      expect(t.code, t.stderr).toBe(0);
      expect(o.code, o.stderr).toBe(0);
      return [t, o] as const;
    };
    // infer: the same palette PNGs, pixel for pixel; the engine is printed and in the JSON events
    const [ti, oi] = await byEngine(['infer', '--checkpoint', run, '-i', images], join(dir, 'eng-infer'));
    expect(oi.stderr).toMatch(/engine: onnx \(onnxruntime-node \d+\.\d+\.\d+, cpu, 1 thread\)/);
    expect(oi.events.find((e) => e['type'] === 'engine')).toMatchObject({ engine: 'onnx' });
    expect(ti.events.find((e) => e['type'] === 'engine')).toMatchObject({ engine: 'tfjs' });
    const pngs = readdirSync(join(dir, 'eng-infer-tfjs')).filter((f) => f.endsWith('.png'));
    expect(pngs).toHaveLength(12);
    for (const f of pngs)
      expect(
        readFileSync(join(dir, 'eng-infer-onnx', f)).equals(readFileSync(join(dir, 'eng-infer-tfjs', f))),
        f,
      ).toBe(true);
    // pseudo-labels: PAMR and the rest stay in tfjs, so equal logits give equal PNGs
    const [tp, op] = await byEngine(['pseudo-labels', '--checkpoint', run], join(dir, 'eng-pseudo'));
    const rp = (r: typeof tp) => r.events.find((e) => e['type'] === 'result')!;
    expect(rp(op)['engine']).toMatch(/^onnx \(onnxruntime-node/);
    expect(rp(op)['imagesPerSecond']).toBeGreaterThan(0);
    expect(rp(op)['coverage']).toBe(rp(tp)['coverage']);
    for (const f of readdirSync(join(dir, 'eng-pseudo-tfjs')))
      expect(
        readFileSync(join(dir, 'eng-pseudo-onnx', f)).equals(readFileSync(join(dir, 'eng-pseudo-tfjs', f))),
        f,
      ).toBe(true);
    // eval, WS-FCN and the DSRG network of a FickleNet run: the same confusion, hence the same numbers
    for (const ckpt of [run, fickle]) {
      const t = await runCli(['eval', '--checkpoint', ckpt, '--json']);
      const o = await runCli(['eval', '--checkpoint', ckpt, '--json', '--engine', 'onnx']);
      expect(o.code, o.stderr).toBe(0);
      const [rt, ro] = [t, o].map((r) => r.events.find((e) => e['type'] === 'result')!);
      expect(ro!['engine']).toMatch(/^onnx/);
      expect(rt!['engine']).toBe('tfjs (wasm)');
      for (const k of ['miou', 'miouNoBackground', 'pixelAccuracy', 'iou']) expect(ro![k], k).toEqual(rt![k]);
    }
    // an execution provider this build lacks, and onnxruntime-node missing: exit 4 naming it and the install line
    const cuda = await runCli(['eval', '--checkpoint', run, '--engine', 'onnx', '--ep', 'cuda']);
    expect(cuda.code).toBe(4);
    expect(cuda.stderr).toContain("could not create a session on execution provider 'cuda'");
    const hide = join(dir, 'hide-ort.mjs');
    writeFileSync(
      hide,
      `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`export async function resolve(s, c, next) {
  if (s === 'onnxruntime-node') { const e = new Error("Cannot find package 'onnxruntime-node'"); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; }
  return next(s, c);
}\`));
`,
    );
    const missing = await runCli(
      ['infer', '--checkpoint', run, '-i', images, '-o', join(dir, 'eng-x'), '--engine', 'onnx'],
      {
        env: { NODE_OPTIONS: `--import=${hide}` },
      },
    );
    expect(missing.code, missing.stderr).toBe(4);
    expect(missing.stderr).toContain('the ONNX engine needs onnxruntime-node, which is not installed');
    expect(missing.stderr).toContain('npm install onnxruntime-node');
    expect(existsSync(join(dir, 'eng-x'))).toBe(false);
    // without --engine onnx, nothing loads onnxruntime-node
    const plain = await runCli(['infer', '--checkpoint', run, '-i', images, '-o', join(dir, 'eng-y')], {
      env: { NODE_OPTIONS: `--import=${hide}` },
    });
    expect(plain.code, plain.stderr).toBe(0);
  });

  it('export --format onnx: model.onnx with the test-mode outputs of the tfjs model (WS-FCN) and the DSRG logits', async () => {
    const out = join(dir, 'export-onnx');
    const r = await runCli(['export', '--checkpoint', run, '-o', out, '--format', 'tfjs,onnx', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/model\.onnx: opset 17, \d+ nodes/);
    const meta = JSON.parse(readFileSync(join(out, 'wsss-model.json'), 'utf8'));
    expect(meta.onnx).toEqual({
      file: 'model.onnx',
      opset: 17,
      inputs: [{ name: 'image', shape: ['N', 'H', 'W', 3] }],
      outputs: [
        { name: 'last_conv', shape: ['N', 'last_conv_h', 'last_conv_w', 3] },
        { name: 'class_scores', shape: ['N', 3] },
        { name: 'masks', shape: ['N', 'H', 'W', 4] },
      ],
    });
    // ONNX Runtime's outputs against the exported tfjs model's referenceTestOutputs on an odd-sized input
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const tfl = await import('@tensorflow/tfjs-layers');
    await import('../index.js');
    const { fileSystem } = await import('@wsss/core/node');
    const { referenceTestOutputs } = await import('../infer/predict.js');
    const { OnnxSession } = await import('@wsss/onnx');
    const model = await tfl.loadLayersModel(fileSystem(join(out, 'tfjs')));
    const x = tf.randomNormal([2, 37, 29, 3], 0, 1, 'float32', 7) as import('@tensorflow/tfjs-core').Tensor4D;
    const ref = referenceTestOutputs({ model, config: { numClasses: 3 } }, x, {
      focalP: 3,
      focalLambda: 0.01,
    });
    const session = await OnnxSession.create(readFileSync(join(out, 'model.onnx')), { threads: 1 });
    const got = await session.run(x);
    const rel = (a: import('@tensorflow/tfjs-core').Tensor, b: import('@tensorflow/tfjs-core').Tensor) =>
      tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / tf.max(tf.abs(b)).dataSync()[0]!);
    expect(got['masks']!.shape).toEqual([2, 37, 29, 4]);
    expect(rel(got['masks']!, ref.masks)).toBeLessThan(1e-4);
    expect(rel(got['class_scores']!, ref.classScores)).toBeLessThan(1e-4);
    await session.release();
    tf.dispose([x, ref.masks, ref.classScores, ...Object.values(got)]);
    model.dispose();
    // the DSRG network of a FickleNet + DSRG run
    const fo = join(dir, 'export-onnx-dsrg');
    const f = await runCli(['export', '--checkpoint', fickle, '-o', fo, '--format', 'onnx']);
    expect(f.code, f.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(fo, 'wsss-model.json'), 'utf8')).onnx.outputs).toEqual([
      { name: 'dsrg_head', shape: ['N', 'dsrg_head_h', 'dsrg_head_w', 4] },
    ]);
    expect(readdirSync(fo).sort()).toEqual(['model.onnx', 'wsss-model.json']);
  });
});
