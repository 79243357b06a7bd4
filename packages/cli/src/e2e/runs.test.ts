/**
 * Runs you can trust, as a user meets them: the built `wsss` binary in child processes, stopped by Ctrl-C
 * (SIGINT), SIGTERM, `--stop-after` and a diverging loss, then continued with `--resume`; `--out` onto another run,
 * `--overwrite`, two processes on one folder, stale locks, temporaries a killed process left. Every resumed run ends
 * with weights, optimiser state and metrics identical to the uninterrupted run.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointContents,
  differingTensors,
  folderDigest,
  metricsWithoutTimes,
  runCli,
  spawnSuite,
  startCli,
  tinyConfig,
} from './cli.js';

describe('wsss train runs, spawned', () => {
  let dir: string;
  let cfg: string;
  let ref: string;
  beforeAll(async () => {
    ({ dir } = await spawnSuite('wsss-runs-'));
    cfg = await tinyConfig(join(dir, 'tiny.json'), join(dir, 'data'));
    ref = join(dir, 'ref');
    const r = await runCli(['train', '-c', cfg, '--out', ref, '--json']);
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);
  afterAll(() => dir && rm(dir, { recursive: true, force: true }));

  async function expectSameAsReference(run: string) {
    expect(
      await differingTensors(
        join(ref, 'checkpoints/last.safetensors'),
        join(run, 'checkpoints/last.safetensors'),
      ),
    ).toEqual([]);
    expect(
      await differingTensors(
        join(ref, 'checkpoints/best.safetensors'),
        join(run, 'checkpoints/best.safetensors'),
      ),
    ).toEqual([]);
    const [a, b] = await Promise.all([
      checkpointContents(join(ref, 'checkpoints/last.safetensors')),
      checkpointContents(join(run, 'checkpoints/last.safetensors')),
    ]);
    // how often a run checkpoints is a setting of the session, not of the result
    for (const x of [a, b])
      delete (x.state['config'] as { train: Record<string, unknown> }).train['checkpointEvery'];
    expect(b.state).toEqual(a.state);
    expect(await metricsWithoutTimes(run)).toEqual(await metricsWithoutTimes(ref));
  }

  it('the uninterrupted run: exit 0, its files, one JSON result; the run is the same every time', async () => {
    for (const f of [
      'config.json',
      'metrics.jsonl',
      'report.html',
      'checkpoints/last.safetensors',
      'checkpoints/best.safetensors',
    ])
      expect(existsSync(join(ref, f)), f).toBe(true);
    expect(existsSync(join(ref, '.lock'))).toBe(false);
    const again = join(dir, 'again');
    const r = await runCli(['train', '-c', cfg, '--out', again, '--json']);
    expect(r.code).toBe(0);
    const result = r.events.filter((e) => e['type'] === 'result');
    expect(result).toHaveLength(1);
    expect(result[0]).toMatchObject({ command: 'train', status: 'done', steps: 12, epochs: 3 });
    await expectSameAsReference(again);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} mid-epoch writes a checkpoint and exits 130; wsss train --resume finishes bit for bit`, async () => {
      const run = join(dir, `sig-${signal}`);
      const p = startCli(['train', '-c', cfg, '--out', run, '--json', '--checkpoint-every', 'off']);
      await p.untilSteps(5);
      p.kill(signal);
      const r = await p.done;
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toContain(`Continue with: wsss train --resume ${run}`);
      const mid = await checkpointContents(join(run, 'checkpoints/last.safetensors'));
      expect(mid.state['step']).toBeGreaterThanOrEqual(5);
      expect(existsSync(join(run, '.lock'))).toBe(false);
      const resumed = await runCli(['train', '--resume', run, '--json']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(/resuming at epoch \d, sample \d, step \d+/);
      await expectSameAsReference(run);
    });
  }

  /**
   * Trains `<name>` whole and `<name>-split` stopped after `stop` steps then resumed, with the same extra options;
   * the two must end with the same bytes and metrics. Returns the whole run's result.
   */
  async function expectResumeExact(name: string, extra: string[], stop: string, what = name) {
    const whole = join(dir, name);
    const split = join(dir, `${name}-split`);
    const [a, b] = await Promise.all([
      runCli(['train', '-c', cfg, ...extra, '--out', whole, '--json']),
      runCli(['train', '-c', cfg, ...extra, '--out', split, '--stop-after', stop]),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const c = await runCli(['train', '--resume', split]);
    expect(c.code, c.stderr).toBe(0);
    expect(
      await differingTensors(
        join(whole, 'checkpoints/last.safetensors'),
        join(split, 'checkpoints/last.safetensors'),
      ),
      what,
    ).toEqual([]);
    expect(await metricsWithoutTimes(split), what).toEqual(await metricsWithoutTimes(whole));
    return a;
  }

  it('every Table I variant resumes mid-epoch to the bytes of its uninterrupted run', async () => {
    for (const variant of ['ssss', 'fca-gci', 'aspp-sf2'])
      await expectResumeExact(`v-${variant}`, ['--variant', variant], '6steps', variant);
  });

  it('--accumulate 2: one optimizer step per batch; stopped after 5 steps and resumed, the bytes of its uninterrupted run; refused where it cannot apply', async () => {
    const whole = join(dir, 'acc');
    const a = await expectResumeExact('acc', ['--accumulate', '2'], '5steps');
    // as many optimizer steps as the unaccumulated run (one per batch of train.batchSize images), other updates
    const steps = (events: Record<string, unknown>[]) => events.filter((e) => e['type'] === 'step').length;
    const plain = await runCli(['train', '-c', cfg, '--out', join(dir, 'acc-plain'), '--json']);
    expect(steps(a.events)).toBe(steps(plain.events));
    expect(
      await differingTensors(
        join(whole, 'checkpoints/last.safetensors'),
        join(ref, 'checkpoints/last.safetensors'),
      ),
    ).not.toEqual([]);
    const tooMany = await runCli(['train', '-c', cfg, '--accumulate', '3', '--out', join(dir, 'acc-x')]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain('train.accumulate = 3 is more than train.batchSize = 2');
    const fickle = await runCli([
      'train',
      '-c',
      cfg,
      '--method',
      'ficklenet',
      '--accumulate',
      '2',
      '--out',
      join(dir, 'acc-f'),
    ]);
    expect(fickle.code).toBe(2);
    expect(fickle.stderr).toContain('FickleNet + DSRG (method ficklenet) trains its batches whole');
    expect(existsSync(join(dir, 'acc-x'))).toBe(false);
  }, 120_000);

  it('--resume with the checkpoint file works too; --stop-after <n>steps stops with exit 0 and continues exactly', async () => {
    const run = join(dir, 'stop');
    const a = await runCli([
      'train',
      '-c',
      cfg,
      '--out',
      run,
      '--stop-after',
      '5steps',
      '--checkpoint-every',
      'off',
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain(
      `stopped (--stop-after) with a checkpoint; continue with: wsss train --resume ${run}`,
    );
    expect((await checkpointContents(join(run, 'checkpoints/last.safetensors'))).state['step']).toBe(5);
    const b = await runCli([
      'train',
      '--resume',
      join(run, 'checkpoints', 'last.safetensors'),
      '--stop-after',
      '2steps',
    ]);
    expect(b.code, b.stderr).toBe(0);
    expect((await checkpointContents(join(run, 'checkpoints/last.safetensors'))).state['step']).toBe(7);
    const c = await runCli(['train', '--resume', run]);
    expect(c.code, c.stderr).toBe(0);
    await expectSameAsReference(run);
    const cfgJson = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    expect(cfgJson.resumed.map((x: { step: number }) => x.step)).toEqual([5, 7]);
    // a stop at a time: --stop-after 1s still takes at least one step
    const timed = await runCli([
      'train',
      '-c',
      cfg,
      '--out',
      join(dir, 'timed'),
      '--stop-after',
      '0.001s',
      '--json',
    ]);
    expect(timed.code).toBe(0);
    expect(timed.events.find((e) => e['type'] === 'result')).toMatchObject({ status: 'stopped', steps: 1 });
  });

  it('--resume --out <new folder> forks a run: the source stays, the fork finishes like the reference', async () => {
    const src = join(dir, 'fork-src');
    expect((await runCli(['train', '-c', cfg, '--out', src, '--stop-after', '6steps'])).code).toBe(0);
    const before = folderDigest(src);
    const fork = join(dir, 'fork');
    const r = await runCli(['train', '--resume', join(src, 'checkpoints/last.safetensors'), '--out', fork]);
    expect(r.code, r.stderr).toBe(0);
    expect(folderDigest(src)).toBe(before);
    await expectSameAsReference(fork);
  });

  it('a diverging run stops with exit 5 keeping its last good checkpoint; the same resume diverges the same way; a lower rate finishes like the reference', async () => {
    const run = join(dir, 'nan');
    expect((await runCli(['train', '-c', cfg, '--out', run, '--stop-after', '5steps'])).code).toBe(0);
    const diverge = ['train', '--resume', run, '--lr', '1e30', '--checkpoint-every', 'off'];
    const r = await runCli(diverge);
    expect(r.code, r.stderr).toBe(5);
    const msg = /training diverged: the loss is \S+ at step (\d+) \(epoch 1, batch [^)]+\)/.exec(r.stderr);
    expect(msg, r.stderr).not.toBeNull();
    expect(r.stderr).toContain(
      `the last good checkpoint ${join(run, 'checkpoints', 'last.safetensors')} is kept`,
    );
    expect((await checkpointContents(join(run, 'checkpoints/last.safetensors'))).state['step']).toBe(5);
    const log1 = await metricsWithoutTimes(run);
    expect(log1.at(-1)).toMatchObject({ type: 'diverged', step: Number(msg![1]) });
    // exact: resumed with the same settings it diverges at the same step with the same log
    const again = await runCli(diverge);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain(msg![0]);
    expect(await metricsWithoutTimes(run)).toEqual(log1);
    // the checkpoint kept the rate it was written with: a plain resume finishes like the uninterrupted run
    const ok = await runCli(['train', '--resume', run]);
    expect(ok.code, ok.stderr).toBe(0);
    await expectSameAsReference(run);
  });

  it('--out onto another run is refused (exit 2) and leaves it untouched; so does a run failing before its first step with --overwrite', async () => {
    const before = folderDigest(ref);
    const r = await runCli(['train', '-c', cfg, '--out', ref]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--out ${ref} holds another run`);
    expect(r.stderr).toContain(`--resume ${ref}`);
    expect(r.stderr).toContain('--overwrite');
    // bad data: exit 3, and the old run is as it was
    const bad = await runCli([
      'train',
      '-c',
      cfg,
      '--out',
      ref,
      '--overwrite',
      '--dataset',
      'voc',
      '--data',
      join(dir, 'nowhere'),
    ]);
    expect(bad.code, bad.stderr).toBe(3);
    expect(folderDigest(ref)).toBe(before);
    expect(readdirSync(dir).filter((n) => n.includes('.replaced-'))).toEqual([]);
    // a folder with other files is never taken
    const other = join(dir, 'photos');
    mkdirSync(other);
    writeFileSync(join(other, 'holiday.jpg'), 'x');
    for (const extra of [[], ['--overwrite']]) {
      const o = await runCli(['train', '-c', cfg, '--out', other, ...extra]);
      expect(o.code).toBe(2);
      expect(o.stderr).toContain(`--out ${other} is not empty and holds no wsss run (it has holiday.jpg)`);
    }
    expect(readdirSync(other)).toEqual(['holiday.jpg']);
    // bad option values are refused before anything is written, naming the value given
    const crop = await runCli(['train', '-c', cfg, '--out', join(dir, 'never'), '--set', 'data.crop=abc']);
    expect(crop.code).toBe(2);
    expect(crop.stderr).toContain('data.crop = "abc" is not allowed; expected an integer ≥ 16 ≤ 2048');
    expect(existsSync(join(dir, 'never'))).toBe(false);
    const every = await runCli([
      'train',
      '-c',
      cfg,
      '--out',
      join(dir, 'never'),
      '--checkpoint-every',
      'often',
    ]);
    expect(every.code).toBe(2);
    expect(every.stderr).toContain('train.checkpointEvery = "often" is not allowed');
  });

  it('--overwrite replaces a run: the new run is there, the old one gone, nothing left beside it', async () => {
    const run = join(dir, 'over');
    expect((await runCli(['train', '-c', cfg, '--out', run, '--stop-after', '3steps'])).code).toBe(0);
    const r = await runCli(['train', '-c', cfg, '--out', run, '--overwrite']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`replaced the earlier run in ${run}`);
    expect(readdirSync(dir).filter((n) => n.startsWith('over.'))).toEqual([]);
    await expectSameAsReference(run);
    const both = await runCli(['train', '--resume', run, '--overwrite']);
    expect(both.code).toBe(2);
  });

  it('a second process on a folder in use exits 6 naming the owner; eval reads the run meanwhile', async () => {
    const run = join(dir, 'busy');
    const slow = await tinyConfig(join(dir, 'slow.json'), join(dir, 'data'), { train: { epochs: 200 } });
    const a = startCli(['train', '-c', slow, '--out', run, '--json']);
    await a.untilSteps(2);
    const info = JSON.parse(readFileSync(join(run, '.lock'), 'utf8'));
    expect(info).toMatchObject({ pid: a.child.pid, host: hostname() });
    const b = await runCli(['train', '--resume', run]);
    expect(b.code).toBe(6);
    expect(b.stderr).toContain(
      `${run} is in use by another wsss process (pid ${a.child.pid} on ${hostname()}`,
    );
    const c = await runCli(['train', '-c', slow, '--out', run, '--overwrite']);
    expect(c.code).toBe(6);
    const ev = await runCli(['eval', '--checkpoint', run, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    a.kill('SIGINT');
    expect((await a.done).code).toBe(130);
    expect(existsSync(join(run, '.lock'))).toBe(false);
  });

  it('two processes started together on one new folder: exactly one trains', async () => {
    const run = join(dir, 'race');
    const [x, y] = await Promise.all([
      runCli(['train', '-c', cfg, '--out', run]),
      runCli(['train', '-c', cfg, '--out', run]),
    ]);
    const codes = [x.code, y.code].sort();
    // the loser meets the lock (6) or, if it came after the winner finished, a folder holding a run (2)
    expect([JSON.stringify([0, 6]), JSON.stringify([0, 2])]).toContain(JSON.stringify(codes));
    expect((x.code === 0 ? y : x).stderr).toMatch(/is in use by another wsss process|holds another run/);
    await expectSameAsReference(run);
  });

  it('a lock whose owner died is taken over with a warning; temporaries of a killed writer are removed', async () => {
    const run = join(dir, 'stale');
    expect((await runCli(['train', '-c', cfg, '--out', run, '--stop-after', '4steps'])).code).toBe(0);
    // pid 2^22 + 1 is above Linux's pid_max: no process has it
    const dead = {
      pid: 2 ** 22 + 1,
      host: hostname(),
      lockedAt: '2026-01-01T00:00:00.000Z',
      procStart: null,
      bootId: null,
      command: ['train'],
    };
    writeFileSync(join(run, '.lock'), JSON.stringify(dead));
    const tmp = join(run, 'checkpoints', `.last.safetensors.${2 ** 22 + 1}.0badc0de.tmp`);
    writeFileSync(tmp, 'half a checkpoint');
    const r = await runCli(['train', '--resume', run]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`took over the lock of ${run} from pid ${2 ** 22 + 1}`);
    expect(r.stderr).toContain('removed 1 temporary file(s)');
    expect(existsSync(tmp)).toBe(false);
    await expectSameAsReference(run);
  });

  it('a corrupt or cut checkpoint is named as such (exit 3), for --resume and eval', async () => {
    const run = join(dir, 'corrupt');
    expect((await runCli(['train', '-c', cfg, '--out', run, '--stop-after', '2steps'])).code).toBe(0);
    const file = join(run, 'checkpoints', 'last.safetensors');
    const bytes = readFileSync(file);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 7]! ^= 0x04;
    writeFileSync(file, flipped);
    for (const args of [
      ['train', '--resume', run],
      ['eval', '--checkpoint', file],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`${file}: the file is corrupt: the CRC-32 of its tensor data is`);
    }
    writeFileSync(file, bytes.subarray(0, bytes.length - 1000));
    const cut = await runCli(['train', '--resume', run]);
    expect(cut.code).toBe(3);
    expect(cut.stderr).toContain('the file is corrupt or truncated');
  });
});
