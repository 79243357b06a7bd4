/**
 * kill -9 at random moments (seeded), as the OOM killer, a preempted VM or a closed laptop would, then
 * `wsss train --resume`: every checkpoint on disk loads (checksum verified), temporaries are cleaned up, at most one
 * checkpoint interval (plus the write in flight) is lost, and the finished run equals an uninterrupted one byte for
 * byte (weights, optimiser state, run state, metrics) — for WS-FCN and for FickleNet + DSRG across its stages. Some
 * trials slow down the checkpoint rename (fixtures/slowRename.mjs) so that kills land inside checkpoint writes; one
 * kills the generation of a synthetic set.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors } from '@wsss/core';
import { Rng } from '@wsss/datasets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliProcess,
  checkpointContents,
  differingTensors,
  metricsWithoutTimes,
  runCli,
  spawnSuite,
  startCli,
  tinyConfig,
} from './cli.js';

const SLOW_RENAME = fileURLToPath(new URL('./fixtures/slowRename.mjs', import.meta.url));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every file under `dir` whose name marks a temporary or a lock. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (/\.tmp($|-)|^\.lock/.test(e.name)) out.push(p);
      else if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** The checkpoints of a run folder that exist now, each parsed with its checksum verified (throws if one fails). */
function verifyCheckpoints(run: string): Record<string, number> {
  const steps: Record<string, number> = {};
  const dir = join(run, 'checkpoints');
  if (!existsSync(dir)) return steps;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.safetensors'))) {
    const parsed = parseSafetensors(new Uint8Array(readFileSync(join(dir, f))), { source: f });
    steps[f] = JSON.parse(parsed.metadata['state']!).step as number;
  }
  return steps;
}

interface Trial {
  args: string;
  slow: boolean;
  moment: string;
  stepsSeen: number;
  /** The run's step number of the last step event seen (0: none). */
  lastStep: number;
  checkpoints: Record<string, number>;
  code: number | null;
  signal: string | null;
}

/**
 * Kills `kills` processes of one run at seeded random moments (`when` picks the moment for a process), resuming
 * each time, then lets the last one finish. Returns the trials.
 */
async function killLoop(o: {
  run: string;
  fresh: string[];
  resume: string[];
  kills: number;
  seed: number;
  /** Waits for the moment to kill `p`; `saved` are the run's checkpoint steps when `p` started. */
  when: (p: CliProcess, r: () => number, saved: Record<string, number>) => Promise<string>;
}): Promise<Trial[]> {
  const seeded = new Rng(o.seed);
  const r = () => seeded.next();
  const trials: Trial[] = [];
  for (let attempt = 0; attempt < o.kills + 10; attempt++) {
    const saved = verifyCheckpoints(o.run);
    // resumable once a checkpoint exists (FickleNet: the classifier's counts too)
    const resumable = existsSync(join(o.run, 'config.json')) && Object.keys(saved).length > 0;
    // a run killed before its first checkpoint starts again (--overwrite: its folder may hold config.json already)
    const args = resumable ? o.resume : [...o.fresh, ...(attempt > 0 ? ['--overwrite'] : [])];
    const slow = r() < 0.5;
    const p = startCli(
      args,
      slow ? { env: { NODE_OPTIONS: `--import=${SLOW_RENAME}`, WSSS_TEST_RENAME_DELAY_MS: '40' } } : {},
    );
    let moment = 'to the end';
    if (trials.filter((t) => t.signal === 'SIGKILL').length < o.kills) {
      moment = await o.when(p, r, saved);
      p.kill('SIGKILL');
    }
    const res = await p.done;
    const stepEvents = p.events().filter((e) => e['type'] === 'step');
    const stepsSeen = stepEvents.length;
    const lastStep = Math.max(0, ...stepEvents.map((e) => e['step'] as number));
    trials.push({
      args: resumable ? 'resume' : 'fresh',
      slow,
      moment,
      stepsSeen,
      lastStep,
      checkpoints: verifyCheckpoints(o.run),
      code: res.code,
      signal: res.signal,
    });
    if (res.signal !== 'SIGKILL') {
      expect(res.code, res.stderr).toBe(0);
      return trials;
    }
  }
  throw new Error(`no finishing run after ${o.kills + 10} attempts: ${JSON.stringify(trials)}`);
}

describe('kill -9 at random moments, then --resume (spawned wsss)', () => {
  let dir: string;
  let data: string;
  beforeAll(async () => {
    ({ dir, data } = await spawnSuite('wsss-kill9-'));
  }, 60_000);
  afterAll(() => dir && rm(dir, { recursive: true, force: true }));

  it('WS-FCN: seeded kills (some inside checkpoint writes); the finished run equals the uninterrupted one byte for byte', async () => {
    const cfg = await tinyConfig(join(dir, 'tiny.json'), data);
    const ref = join(dir, 'ref');
    expect((await runCli(['train', '-c', cfg, '--out', ref])).code).toBe(0);
    const run = join(dir, 'killed');
    const trials = await killLoop({
      run,
      fresh: ['train', '-c', cfg, '--out', run, '--json'],
      resume: ['train', '--resume', run, '--json'],
      kills: 6,
      seed: 1202,
      when: async (p, r, saved) => {
        // steps this process can still take before the run's 12th (the last one it must not reach)
        const left = 11 - (saved['last.safetensors'] ?? 0);
        if (r() < 0.25 || left < 1) {
          const ms = Math.round(r() * 600);
          await sleep(ms);
          return `${ms} ms after start`;
        }
        const n = 1 + Math.floor(r() * Math.min(4, left));
        const ms = Math.round(r() * 30);
        await p.untilSteps(n);
        await sleep(ms);
        return `${ms} ms after step event ${n}`;
      },
    });
    console.log(`WS-FCN kill -9 trials:\n${trials.map((t) => JSON.stringify(t)).join('\n')}`);
    expect(trials.filter((t) => t.signal === 'SIGKILL')).toHaveLength(6);
    // work lost to a kill: at most one interval (here 1 step) plus the step during which the previous write was in flight
    for (const t of trials)
      if (t.signal === 'SIGKILL' && t.lastStep > 0)
        expect(t.checkpoints['last.safetensors'] ?? 0, JSON.stringify(t)).toBeGreaterThanOrEqual(
          t.lastStep - 2,
        );
    expect(leftovers(run)).toEqual([]);
    for (const f of ['last.safetensors', 'best.safetensors'])
      expect(await differingTensors(join(ref, 'checkpoints', f), join(run, 'checkpoints', f)), f).toEqual([]);
    const [a, b] = await Promise.all([
      checkpointContents(join(ref, 'checkpoints/last.safetensors')),
      checkpointContents(join(run, 'checkpoints/last.safetensors')),
    ]);
    expect(b.state).toEqual(a.state);
    expect(await metricsWithoutTimes(run)).toEqual(await metricsWithoutTimes(ref));
  }, 120_000);

  it('a kill inside a checkpoint write leaves the previous checkpoint whole; the next start removes the half-written one', async () => {
    const cfg = join(dir, 'tiny.json');
    const run = join(dir, 'midwrite');
    const ck = join(run, 'checkpoints');
    const p = startCli(['train', '-c', cfg, '--out', run, '--json'], {
      env: { NODE_OPTIONS: `--import=${SLOW_RENAME}`, WSSS_TEST_RENAME_DELAY_MS: '3000' },
    });
    // the second checkpoint's temporary: the first (step 1) is then in place
    await p.until(
      () =>
        existsSync(ck) &&
        readdirSync(ck).filter((n) => n.endsWith('.tmp')).length > 0 &&
        existsSync(join(ck, 'last.safetensors')),
    );
    p.kill('SIGKILL');
    await p.done;
    const temps = readdirSync(ck).filter((n) => n.endsWith('.tmp'));
    expect(temps).toHaveLength(1);
    const kept = verifyCheckpoints(run)['last.safetensors']!;
    const r = await runCli(['train', '--resume', run]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`resuming at epoch 0, sample ${kept * 2}, step ${kept}`);
    expect(r.stderr).toContain('removed 1 temporary file(s)');
    expect(leftovers(run)).toEqual([]);
    expect(
      await differingTensors(
        join(dir, 'ref', 'checkpoints', 'last.safetensors'),
        join(ck, 'last.safetensors'),
      ),
    ).toEqual([]);
  }, 60_000);

  it('FickleNet + DSRG: kills in the classifier, the localization and DSRG; same weights, seeds and metrics', async () => {
    const cfg = await tinyConfig(join(dir, 'fickle.json'), data, { method: 'ficklenet' });
    const ref = join(dir, 'fref');
    const whole = await runCli(['train', '-c', cfg, '--out', ref]);
    expect(whole.code, whole.stderr).toBe(0);
    // the demo preset's floor (ficklenet.classifierMinEpochs 80) holds the classifier to all of its 2 epochs here
    expect(whole.stdout + whole.stderr).toMatch(
      /FickleNet classifier \([^)]*\) on 8 synthetic images, 2 epochs → /,
    );
    const report = readFileSync(join(ref, 'report.html'), 'utf8');
    expect(report).toContain(
      'Classifier: 2 epochs (ficklenet.classifierEpochs; ficklenet.classifierMinEpochs 80 holds it to all of them)',
    );
    // and cuts its foreground seeds at θ_fg 0.6 (ficklenet.thFg), inside the saliency gate
    expect(report).toContain('θ_fg 0.6 where the saliency is at least 0.3');
    expect(JSON.parse(readFileSync(join(ref, 'localization', 'summary.json'), 'utf8')).settings.thFg).toBe(
      0.6,
    );
    const run = join(dir, 'fkilled');
    const seeds = join(run, 'localization', 'seeds');
    const stageSteps = (p: CliProcess, stage: string) =>
      p.events().filter((e) => e['type'] === 'step' && e['stage'] === stage).length;
    // one kill in each stage, then one during a resumed start-up (8 classifier steps, 8 images to localize, 8 DSRG steps)
    const plan = ['classifier', 'localization', 'dsrg', 'start'];
    const trials = await killLoop({
      run,
      fresh: ['train', '-c', cfg, '--out', run, '--json'],
      resume: ['train', '--resume', run, '--json'],
      kills: plan.length,
      seed: 77,
      when: async (p, r, saved) => {
        const stage = plan.shift()!;
        if (stage === 'start') {
          const ms = Math.round(r() * 500);
          await sleep(ms);
          return `${ms} ms after start`;
        }
        if (stage === 'localization') {
          const n = 2 + Math.floor(r() * 4);
          await p.until(() => existsSync(seeds) && readdirSync(seeds).length >= n);
          return `after ${n} seed files`;
        }
        const done =
          stage === 'dsrg' ? (saved['last.safetensors'] ?? 8) - 8 : (saved['classifier.safetensors'] ?? 0);
        const n = 1 + Math.floor(r() * Math.min(3, 7 - done));
        await p.until(() => stageSteps(p, stage) >= n);
        return `after ${n} ${stage} steps`;
      },
    });
    expect(trials.filter((t) => t.signal === 'SIGKILL')).toHaveLength(4);
    console.log(`FickleNet kill -9 trials:\n${trials.map((t) => JSON.stringify(t)).join('\n')}`);
    expect(leftovers(run)).toEqual([]);
    for (const f of ['classifier.safetensors', 'last.safetensors'])
      expect(await differingTensors(join(ref, 'checkpoints', f), join(run, 'checkpoints', f)), f).toEqual([]);
    for (const f of readdirSync(join(ref, 'localization', 'seeds')))
      expect(
        readFileSync(join(seeds, f)).equals(readFileSync(join(ref, 'localization', 'seeds', f))),
        f,
      ).toBe(true);
    expect(await metricsWithoutTimes(run)).toEqual(await metricsWithoutTimes(ref));
    // the classifier's epochs carry the prior loss of their labels, counted across the kills as in one run
    const classifierEpochs = (await metricsWithoutTimes(ref)).filter(
      (m) => m['type'] === 'epoch' && m['stage'] === 'classifier',
    );
    expect(classifierEpochs.length).toBeGreaterThan(0);
    for (const m of classifierEpochs) expect(m['priorLoss']).toBeGreaterThan(0);
  }, 120_000);

  it('a kill during the generation of the synthetic set leaves nothing the next start trips over', async () => {
    const cfg = await tinyConfig(join(dir, 'gen.json'), data, {
      data: { root: null, synthetic: { train: 500, val: 100, size: 96 } },
    });
    const run = join(dir, 'gen');
    const p = startCli(['train', '-c', cfg, '--out', run]);
    const dataDir = join(run, 'data');
    await p.until(() => existsSync(dataDir) && readdirSync(dataDir).some((n) => n.includes('.tmp-')));
    p.kill('SIGKILL');
    await p.done;
    expect(readdirSync(dataDir).some((n) => n.includes('.tmp-'))).toBe(true);
    const again = await runCli(['train', '-c', cfg, '--out', run, '--stop-after', '1step']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('removed 1 temporary file(s)');
    expect(readdirSync(dataDir)).toEqual(['synthetic-500-100-96px-k3-s1']);
    expect(leftovers(run)).toEqual([]);
  }, 120_000);
});
