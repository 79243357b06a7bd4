/**
 * Scale-out on a real Redis (Debian's redis-server on a free loopback port, a temp dir, append-only file on),
 * through the spawned `wsss` binary: `pseudo-labels --redis` with local and separate workers gives the single
 * process's PNGs byte for byte and its numbers; a re-run redoes nothing; a worker killed with SIGKILL mid-shard
 * has its shard redone by another; a Redis restart mid-run; a poisoned shard is reported and does not block the
 * rest; wrong URLs fail fast.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli, spawnSuite, startCli, trainTinyRuns } from './cli.js';

const REDIS = '/usr/bin/redis-server';
const HAVE_REDIS = existsSync(REDIS);

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

/** A redis-server of the test's own; `restart` stops it (flushing its append-only file) and starts it again. */
class TestRedis {
  private proc: ChildProcess | null = null;
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.proc = spawn(
      REDIS,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('redis-cli', ['-p', String(this.port), 'ping'], { stdio: 'pipe' });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`redis-server on ${this.port} did not start`);
  }
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((done) => {
      p.once('exit', () => done());
      p.kill('SIGTERM');
    });
  }
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
  cli(...args: string[]): string {
    return execFileSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8' }).trim();
  }
}

const pngs = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.png'))
        .sort()
    : [];
const result = (r: CliResult) => r.events.find((e) => e['type'] === 'result')!;

describe.skipIf(!HAVE_REDIS && !process.env['CI'])(
  `wsss pseudo-labels --redis and wsss worker, on a real Redis${HAVE_REDIS ? '' : ' (skipped: no redis-server; scripts/install-redis.sh)'}`,
  () => {
    let dir: string;
    let run: string;
    let fickle: string;
    let redis: TestRedis;
    // a bigger split than the training data's, so that there are several shards of visible length
    let dataArgs: string[];
    let single: string;
    let singleResult: Record<string, unknown>;
    beforeAll(async () => {
      let data: string;
      ({ dir, data } = await spawnSuite('wsss-scale-'));
      ({ run, fickle } = await trainTinyRuns(dir, data));
      dataArgs = [
        '--data',
        join(dir, 'big'),
        '--set',
        'data.synthetic.train=48',
        '--set',
        'data.synthetic.val=4',
        '--set',
        'data.synthetic.size=96',
      ];
      single = join(dir, 'single');
      const s = await runCli(['pseudo-labels', '--checkpoint', run, '-o', single, '--json', ...dataArgs]);
      expect(s.code, s.stderr).toBe(0);
      singleResult = result(s);
      expect(pngs(single)).toHaveLength(48);
      redis = new TestRedis(await freePort(), dir);
      await redis.start();
    }, 180_000);
    afterAll(async () => {
      await redis?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    /** `wsss pseudo-labels` over the test's Redis, writing `out`, with JSON events. */
    const producerArgs = (out: string, ...extra: string[]) => [
      'pseudo-labels',
      '--checkpoint',
      run,
      '-o',
      out,
      '--json',
      ...dataArgs,
      '--redis',
      redis.url,
      ...extra,
    ];

    const sameAsSingle = (out: string) => {
      expect(pngs(out)).toEqual(pngs(single));
      for (const f of pngs(single))
        expect(readFileSync(join(out, f)).equals(readFileSync(join(single, f))), f).toBe(true);
    };

    it('--workers 2: the single process PNGs byte for byte and its numbers; the same command again redoes nothing', async () => {
      const out = join(dir, 'two');
      const args = ['pseudo-labels', '--checkpoint', run, '-o', out, '--json', ...dataArgs];
      const r = await runCli([...args, '--redis', redis.url, '--workers', '2', '--shard-size', '5']);
      expect(r.code, r.stderr).toBe(0);
      const res = result(r);
      expect(res).toMatchObject({ images: 48, shards: 14, alreadyDone: 0, failed: [], retries: 0 });
      for (const k of ['coverage', 'labelled', 'ignoredAsBackground'])
        expect(res[k], k).toEqual(singleResult[k]);
      sameAsSingle(out);
      expect(r.stderr).toMatch(/queue wsss-run-[0-9a-f]{20} on redis:\/\/127\.0\.0\.1:\d+: 14 shard\(s\)/);
      // 7 shards of 5, then the last 13 images in shards of 2 (shardPlan); the run left the registry; its finished
      // shards stay in the queue: a re-run finds them
      expect(redis.cli('SMEMBERS', 'wsss:runs')).toBe('');
      const mtimes = pngs(out).map((f) => statSync(join(out, f)).mtimeMs);
      const again = await runCli([...args, '--redis', redis.url, '--shard-size', '5']);
      expect(again.code, again.stderr).toBe(0);
      expect(result(again)).toMatchObject({ shards: 14, alreadyDone: 14, images: 48 });
      expect(result(again)['labelled']).toEqual(singleResult['labelled']);
      expect(pngs(out).map((f) => statSync(join(out, f)).mtimeMs)).toEqual(mtimes);
    }, 180_000);

    it('a worker killed with SIGKILL mid-shard: another worker redoes that shard; nothing lost or doubled', async () => {
      const out = join(dir, 'killed');
      const producer = startCli(producerArgs(out, '--shard-size', '48'));
      // one shard of every image: the first worker is stopped (SIGSTOP) as soon as it holds it, then killed
      const a = startCli(['worker', '--redis', redis.url, '--threads', '1', '--lock', '2', '--json']);
      await a.until(() => a.events().some((e) => e['type'] === 'serving'), 60_000);
      const queue = () => redis.cli('SMEMBERS', 'wsss:runs');
      await producer.until(() => queue() !== '', 60_000);
      const active = `bull:${queue()}:active`;
      for (let i = 0; i < 2000 && redis.cli('LLEN', active) === '0'; i++)
        await new Promise((r) => setTimeout(r, 5));
      a.kill('SIGSTOP');
      const written = pngs(out).length;
      a.kill('SIGKILL');
      await a.done;
      expect(written).toBeLessThan(48);
      const b = startCli([
        'worker',
        '--redis',
        redis.url,
        '--threads',
        '1',
        '--lock',
        '2',
        '--concurrency',
        '2',
      ]);
      const r = await producer.done;
      b.kill('SIGTERM');
      const stopped = await b.done;
      expect(r.code, r.stderr).toBe(0);
      expect(result(r)).toMatchObject({ images: 48, failed: [], retries: 1 });
      expect(result(r)['labelled']).toEqual(singleResult['labelled']);
      sameAsSingle(out);
      expect(readdirSync(out).filter((f) => !f.endsWith('.png'))).toEqual([]); // no temp file left
      expect(stopped.code, stopped.stderr).toBe(0);
    }, 120_000);

    it('Redis restarted mid-run: producer and worker reconnect and finish', async () => {
      const out = join(dir, 'restart');
      const producer = startCli(producerArgs(out, '--workers', '1', '--shard-size', '4'));
      await producer.until(() => pngs(out).length >= 8, 60_000);
      await redis.restart();
      const r = await producer.done;
      expect(r.code, r.stderr).toBe(0);
      expect(result(r)).toMatchObject({ images: 48, shards: 18, failed: [] });
      sameAsSingle(out);
    }, 120_000);

    it('a poisoned shard is reported with its images and reason after its attempts; the rest are done; exit 3', async () => {
      const out = join(dir, 'poisoned');
      const big = join(dir, 'big');
      // one training image of the split made unreadable (the split list names it)
      const ids = readFileSync(join(big, 'ImageSets', 'Segmentation', 'train.txt'), 'utf8')
        .trim()
        .split('\n');
      const name = readdirSync(join(big, 'JPEGImages')).find((f) => f.startsWith(`${ids[13]}.`))!;
      const victim = join(big, 'JPEGImages', name);
      const original = readFileSync(victim);
      writeFileSync(victim, 'not a png');
      try {
        const r = await runCli(producerArgs(out, '--workers', '1', '--shard-size', '8', '--attempts', '2'));
        expect(r.code, r.stderr).toBe(3);
        const res = result(r);
        expect(res['failed']).toEqual([{ shard: 1, images: [8, 16], reason: expect.stringContaining(name) }]);
        expect(res['retries']).toBe(1);
        expect(pngs(out)).toHaveLength(40 + 5); // every other shard, and the poisoned shard's images before it
      } finally {
        writeFileSync(victim, original);
      }
    }, 120_000);

    it('eval --redis: the single process numbers (mIoU, per class, image-label AP/F1) and --save PNGs', async () => {
      const args = ['eval', '--checkpoint', run, '--json', ...dataArgs, '--split', 'train'];
      const one = await runCli([...args, '--save', join(dir, 'eval-one')]);
      expect(one.code, one.stderr).toBe(0);
      const r = await runCli([
        ...args,
        '--save',
        join(dir, 'eval-dist'),
        '--redis',
        redis.url,
        '--workers',
        '2',
        '--shard-size',
        '7',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const [a, b] = [result(one), result(r)];
      expect(b).toMatchObject({ images: 48, shards: 7, failed: [] });
      for (const k of [
        'miou',
        'miouNoBackground',
        'pixelAccuracy',
        'perClass',
        'classification',
        'masked',
        'mode',
      ])
        expect(b[k], k).toEqual(a[k]);
      expect(pngs(join(dir, 'eval-dist'))).toHaveLength(48);
      for (const f of pngs(join(dir, 'eval-one')))
        expect(
          readFileSync(join(dir, 'eval-dist', f)).equals(readFileSync(join(dir, 'eval-one', f))),
          f,
        ).toBe(true);
    }, 120_000);

    it('pseudo-labels --crf, alone and --redis: the same PNGs byte for byte, every pixel labelled', async () => {
      const args = ['pseudo-labels', '--checkpoint', run, '--json', '--crf', ...dataArgs];
      const one = await runCli([...args, '-o', join(dir, 'crf-one')]);
      expect(one.code, one.stderr).toBe(0);
      const r = await runCli([...args, '-o', join(dir, 'crf-dist'), '--redis', redis.url, '--workers', '2']);
      expect(r.code, r.stderr).toBe(0);
      const [a, b] = [result(one), result(r)];
      expect(a).toMatchObject({ crf: true, coverage: 1, images: 48 });
      expect(b).toMatchObject({ crf: true, coverage: 1, images: 48, shards: 3, failed: [] });
      for (const k of ['labelled', 'ignoredAsBackground']) expect(b[k], k).toEqual(a[k]);
      // with every pixel labelled both scores are the same
      expect(a['labelled']).toEqual(a['ignoredAsBackground']);
      const files = pngs(join(dir, 'crf-one'));
      expect(files).toHaveLength(48);
      let changed = 0;
      for (const f of files) {
        const crf = readFileSync(join(dir, 'crf-one', f));
        expect(readFileSync(join(dir, 'crf-dist', f)).equals(crf), f).toBe(true);
        if (!crf.equals(readFileSync(join(single, f)))) changed++;
      }
      // the CRF's labels are not the thresholded pseudo ground truth (which leaves pixels at 255)
      expect(changed).toBeGreaterThan(0);
      expect(singleResult['coverage']).toBeLessThan(1);
    }, 120_000);

    it('localize --redis: the single process seeds and maps byte for byte, its scores, summary and report', async () => {
      const args = ['localize', '--checkpoint', fickle, '--json', ...dataArgs, '--runs', '2'];
      const one = await runCli([...args, '-o', join(dir, 'loc-one')]);
      expect(one.code, one.stderr).toBe(0);
      const r = await runCli([
        ...args,
        '-o',
        join(dir, 'loc-dist'),
        '--redis',
        redis.url,
        '--workers',
        '2',
        '--shard-size',
        '10',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const [a, b] = [result(one), result(r)];
      expect(b).toMatchObject({ command: 'localize', images: 48, shards: 5, failed: [], retries: 0 });
      for (const k of ['split', 'images', 'scores', 'coverage', 'settings', 'trueSeeds'])
        expect(b[k], k).toEqual(a[k]);
      for (const sub of ['seeds', 'maps']) {
        const files = pngs(join(dir, 'loc-one', sub));
        expect(files, sub).toHaveLength(48);
        expect(pngs(join(dir, 'loc-dist', sub))).toEqual(files);
        for (const f of files)
          expect(
            readFileSync(join(dir, 'loc-dist', sub, f)).equals(readFileSync(join(dir, 'loc-one', sub, f))),
            `${sub}/${f}`,
          ).toBe(true);
      }
      const summary = (d: string) => {
        const { msPerImage: _, ...rest } = JSON.parse(readFileSync(join(dir, d, 'summary.json'), 'utf8'));
        return rest;
      };
      expect(summary('loc-dist')).toEqual(summary('loc-one'));
      // the same report (samples read back from the workers' files) but for its folder, date and time per image
      const report = (d: string) =>
        readFileSync(join(dir, d, 'report.html'), 'utf8')
          .replace(/[\d.]+ ms per image/, '')
          .replace(/<p class="muted">Run folder .*?<\/p>/, '');
      expect(report('loc-dist')).toContain('FickleNet seeds of train');
      expect(report('loc-dist')).toEqual(report('loc-one'));
      // a WS-FCN checkpoint is refused before anything is enqueued
      const w = await runCli([
        'localize',
        '--checkpoint',
        run,
        '-o',
        join(dir, 'loc-x'),
        '--redis',
        redis.url,
      ]);
      expect(w.code).toBe(3);
      expect(w.stderr).toContain('no checkpoints/classifier.safetensors');
    }, 120_000);

    it('infer --redis: a folder and a file give the single process masks and overlays, items in input order', async () => {
      const images = join(dir, 'big', 'JPEGImages');
      const file = join(images, readdirSync(images).sort()[0]!);
      const args = ['infer', '--checkpoint', run, '--json', '-i', images, file];
      const one = await runCli([...args, '-o', join(dir, 'infer-one')]);
      expect(one.code, one.stderr).toBe(0);
      const r = await runCli([
        ...args,
        '-o',
        join(dir, 'infer-dist'),
        '--redis',
        redis.url,
        '--workers',
        '2',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const [a, b] = [result(one), result(r)];
      expect(b).toMatchObject({
        images: a['images'],
        failed: [],
        shards: Math.ceil((a['images'] as number) / 16),
      });
      const ids = (x: Record<string, unknown>) => (x['items'] as { id: string }[]) ?? [];
      const single = one.events.filter((e) => e['type'] === 'prediction').map((e) => [e['id'], e['labels']]);
      expect(ids(b).map((i) => [i.id, (i as unknown as { labels: string[] }).labels])).toEqual(single);
      const images2 = (root: string) =>
        (readdirSync(root, { recursive: true }) as string[]).filter((x) => /\.(png|jpg)$/.test(x)).sort();
      const written = images2(join(dir, 'infer-one'));
      expect(written.length).toBe(2 * (a['images'] as number)); // masks and overlays, nested by input folder
      expect(images2(join(dir, 'infer-dist'))).toEqual(written);
      for (const f of written)
        expect(
          readFileSync(join(dir, 'infer-dist', f)).equals(readFileSync(join(dir, 'infer-one', f))),
          f,
        ).toBe(true);
      const stdin = await runCli([
        'infer',
        '--checkpoint',
        run,
        '-i',
        '-',
        '-o',
        join(dir, 'x'),
        '--redis',
        redis.url,
      ]);
      expect(stdin.code).toBe(3);
      expect(stdin.stderr).toContain('cannot be combined with --redis');
    }, 120_000);

    it('Ctrl-C on the producer: exit 130 naming the queue, which stays; the same command again finishes it', async () => {
      const out = join(dir, 'ctrl-c');
      const args = ['pseudo-labels', '--checkpoint', run, '-o', out, ...dataArgs, '--redis', redis.url];
      const p = startCli([...args, '--shard-size', '6']);
      await p.until(() => redis.cli('SMEMBERS', 'wsss:runs') !== '', 60_000);
      p.kill('SIGINT');
      const r = await p.done;
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toMatch(
        /interrupted: queue wsss-run-[0-9a-f]{20} stays on redis:\S+ with 12 of 12 shard\(s\) to do/,
      );
      expect(redis.cli('SMEMBERS', 'wsss:runs')).not.toBe('');
      const again = await runCli([...args, '--shard-size', '6', '--workers', '1', '--json']);
      expect(again.code, again.stderr).toBe(0);
      expect(result(again)).toMatchObject({ shards: 12, alreadyDone: 0, images: 48, failed: [] });
      sameAsSingle(out);
      expect(redis.cli('SMEMBERS', 'wsss:runs')).toBe('');
    }, 120_000);

    it('wrong or unreachable --redis fails fast naming the URL; scale-out options need --redis', async () => {
      const dead = `redis://127.0.0.1:${await freePort()}`;
      const t0 = Date.now();
      const r = await runCli(['pseudo-labels', '--checkpoint', run, '-o', join(dir, 'x'), '--redis', dead]);
      expect(r.code).toBe(4);
      expect(r.stderr).toContain(`cannot reach Redis at ${dead}`);
      expect(Date.now() - t0).toBeLessThan(15_000);
      const w = await runCli(['worker', '--redis', dead]);
      expect(w.code).toBe(4);
      const bad = await runCli([
        'pseudo-labels',
        '--checkpoint',
        run,
        '-o',
        join(dir, 'x'),
        '--redis',
        'http://h',
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('expected a redis:// or rediss:// URL');
      const lone = await runCli([
        'pseudo-labels',
        '--checkpoint',
        run,
        '-o',
        join(dir, 'x'),
        '--workers',
        '2',
      ]);
      expect(lone.code).toBe(2);
      expect(lone.stderr).toContain('--workers goes with --redis <url>');
      expect(existsSync(join(dir, 'x'))).toBe(false);
    });
  },
);
