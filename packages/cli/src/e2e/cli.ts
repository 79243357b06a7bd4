/**
 * Test support (not part of the package): runs the built `wsss` command as a user does — `node bin/wsss.mjs …` in
 * a child process — and reads back its exit code, signal, stdout/stderr, `--json` events and the files it wrote.
 * The suite's `npm test` builds every package first; {@link builtCliProblem} says when `dist/` is missing or older
 * than the sources, so a stale build fails loudly instead of testing old code.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors } from '@wsss/core';
import { readMetrics } from '../run/runDir.js';

const PKG = fileURLToPath(new URL('../../', import.meta.url));
/** The command as installed: `packages/cli/bin/wsss.mjs`. */
export const BIN = join(PKG, 'bin', 'wsss.mjs');
const PACKAGES = join(PKG, '..');

function newestSource(dir: string): number {
  let t = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'e2e') walk(p); // this test support is not part of the build
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) t = Math.max(t, statSync(p).mtimeMs);
    }
  };
  if (existsSync(dir)) walk(dir);
  return t;
}

/**
 * turbo's verdict on packages whose sources look newer than their `dist/` (a file saved again unchanged, a branch
 * switched back): the names whose build inputs turbo has not built, i.e. really stale. Null when turbo cannot tell.
 */
function turboStale(names: string[]): string[] | null {
  try {
    const pkgs = names.map(
      (n) => JSON.parse(readFileSync(join(PACKAGES, n, 'package.json'), 'utf8')).name as string,
    );
    const turbo = join(PACKAGES, '..', 'node_modules', '.bin', 'turbo');
    const args = ['run', 'build', '--dry=json', ...pkgs.map((p) => `--filter=${p}`)];
    const dry = JSON.parse(
      execFileSync(turbo, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    );
    const miss = new Set(
      (dry.tasks as { package: string; cache: { status: string } }[])
        .filter((t) => t.cache.status !== 'HIT')
        .map((t) => t.package),
    );
    return names.filter((_, i) => miss.has(pkgs[i]!));
  } catch {
    return null;
  }
}

/** The folders (under packages/) of @wsss/cli and every @wsss package it depends on, directly or not. */
function cliPackages(): string[] {
  const folderOf = new Map<string, string>();
  for (const dir of readdirSync(PACKAGES)) {
    const file = join(PACKAGES, dir, 'package.json');
    if (existsSync(file)) folderOf.set(JSON.parse(readFileSync(file, 'utf8')).name, dir);
  }
  const seen = new Set<string>();
  const visit = (name: string) => {
    const dir = folderOf.get(name);
    if (!dir || seen.has(dir)) return;
    seen.add(dir);
    const deps = JSON.parse(readFileSync(join(PACKAGES, dir, 'package.json'), 'utf8')).dependencies ?? {};
    for (const d of Object.keys(deps)) if (d.startsWith('@wsss/')) visit(d);
  };
  visit('@wsss/cli');
  return [...seen];
}

/** Null when the `dist/` of the CLI and of each package it uses is up to date with its sources; else what to run. */
export function builtCliProblem(): string | null {
  const older: string[] = [];
  for (const name of cliPackages()) {
    const dist = join(PACKAGES, name, 'dist');
    const src = join(PACKAGES, name, 'src');
    if (!existsSync(src)) continue;
    if (!existsSync(dist)) return `packages/${name} is not built: run npm run build`;
    const built = Math.min(
      ...readdirSync(dist)
        .filter((f) => f.endsWith('.js'))
        .map((f) => statSync(join(dist, f)).mtimeMs),
    );
    if (newestSource(src) > built) older.push(name);
  }
  // a newer file time is not a change: turbo, which hashes the contents, decides
  const stale = older.length ? (turboStale(older) ?? older) : [];
  return stale.length ? `packages/${stale[0]}/dist is older than its sources: run npm run build` : null;
}

/** What a finished `wsss` process left. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The JSON lines of stdout (with `--json`). */
  events: Record<string, unknown>[];
}

function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a line cut by a kill
    }
  }
  return out;
}

export interface CliOptions {
  cwd?: string;
  /** Added to the environment (which gets CI=1: no progress bars). */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed. */
  stdin?: string;
}

/** A running `wsss` process. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly done: Promise<CliResult>;
  private waiters: (() => void)[] = [];

  constructor(args: string[], o: CliOptions = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: o.cwd ?? process.cwd(),
      env: { ...process.env, CI: '1', ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.poke();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.poke();
    });
    this.child.stdin!.end(o.stdin ?? '');
    this.done = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.poke();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, events: jsonLines(this.stdout) });
      });
    });
  }

  private poke(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** The `--json` events so far. */
  events(): Record<string, unknown>[] {
    return jsonLines(this.stdout);
  }

  /**
   * Resolves once `test()` holds (checked on every output), or with false when the process exits first.
   * @throws after `timeoutMs` with the output so far.
   */
  async until(test: () => boolean, timeoutMs = 60_000): Promise<boolean> {
    const t0 = Date.now();
    while (!test()) {
      if (this.exited) return test();
      if (Date.now() - t0 > timeoutMs)
        throw new Error(`timed out waiting; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return true;
  }

  /** Waits for `n` step events (`--json`). */
  untilSteps(n: number, timeoutMs?: number): Promise<boolean> {
    return this.until(() => this.events().filter((e) => e['type'] === 'step').length >= n, timeoutMs);
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(signal);
  }
}

/** Starts `wsss <args>`. */
export function startCli(args: string[], o?: CliOptions): CliProcess {
  return new CliProcess(args, o);
}

/** Runs `wsss <args>` to its end. */
export function runCli(args: string[], o?: CliOptions): Promise<CliResult> {
  return new CliProcess(args, o).done;
}

/** Every tensor of a checkpoint file (bytes, by name) and its run state without the time it was written. */
export async function checkpointContents(
  file: string,
): Promise<{ tensors: Map<string, Uint8Array>; state: Record<string, unknown> }> {
  const f = parseSafetensors(new Uint8Array(await readFile(file)), { source: file });
  const tensors = new Map<string, Uint8Array>();
  for (const [k, t] of f.tensors)
    tensors.set(k, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  const {
    savedAt: _t,
    reason: _r,
    epochStats,
    ...state
  } = JSON.parse(f.metadata['state']!) as Record<string, unknown>;
  if (epochStats) state['epochStats'] = { ...(epochStats as object), seconds: 0 };
  return { tensors, state };
}

/** A digest of every file under `dir` (path + bytes), to prove a folder was left untouched. */
export function folderDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** Names of the tensors of two checkpoints that differ in any byte (or exist in one only). */
export async function differingTensors(a: string, b: string): Promise<string[]> {
  const [x, y] = await Promise.all([checkpointContents(a), checkpointContents(b)]);
  const names = new Set([...x.tensors.keys(), ...y.tensors.keys()]);
  return [...names].filter((n) => {
    const p = x.tensors.get(n);
    const q = y.tensors.get(n);
    return !p || !q || Buffer.compare(Buffer.from(p), Buffer.from(q)) !== 0;
  });
}

/** A run's metrics records without their times (what must agree between an interrupted and a whole run). */
export async function metricsWithoutTimes(runDir: string): Promise<Record<string, unknown>[]> {
  return (await readMetrics(join(runDir, 'metrics.jsonl'))).map((r) => {
    const { time: _t, seconds: _s, msPerImage: _m, ...rest } = r;
    return rest;
  });
}

/** Writes the synthetic set the spawned runs share (8 train + 4 val images of 32², 3 classes) into `root`. */
export async function tinyData(root: string): Promise<void> {
  const { generateSyntheticSet } = await import('@wsss/datasets');
  await generateSyntheticSet({
    root,
    count: 12,
    seed: 1,
    size: 32,
    numClasses: 3,
    splits: { train: 8, val: 4 },
    imageFormat: 'png',
  });
}

/**
 * A config file for a run that takes about a second: the demo network at 4–8 channels on {@link tinyData}, 3 epochs
 * of 4 steps, validation after each, a checkpoint after every step, wasm on one thread (bit-reproducible).
 */
export async function tinyConfig(
  file: string,
  dataRoot: string,
  over: Record<string, unknown> = {},
): Promise<string> {
  const { writeFile } = await import('node:fs/promises');
  const { deepMerge } = await import('../config/schema.js');
  const config = deepMerge(
    {
      preset: 'demo',
      model: { backbone: { channels: [4, 4, 8, 8, 8, 8, 8] } },
      data: {
        dataset: 'synthetic',
        root: dataRoot,
        synthetic: { train: 8, val: 4, size: 32, numClasses: 3, seed: 1 },
        crop: 32,
      },
      train: {
        epochs: 3,
        batchSize: 2,
        pretrainEpochs: 1,
        pamrIterations: 2,
        valEvery: 1,
        checkpointEvery: '1step',
      },
      eval: { scales: [1], flip: false },
      ficklenet: {
        kernelSize: 3,
        classifierEpochs: 2,
        size: 32,
        runs: 3,
        dsrgEpochs: 2,
        headChannels: 8,
        headDilations: [1, 2],
      },
      backend: 'wasm',
      threads: 1,
    },
    over,
  );
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/**
 * The start of a spawned-binary suite: fails with what to run when the build is stale, makes a temporary folder
 * and writes {@link tinyData} into `<dir>/data`.
 */
/**
 * Trains, in parallel, the tiny WS-FCN run `<dir>/run` and the tiny FickleNet + DSRG run `<dir>/fickle` on `data`
 * (the checkpoints the command tests read); fails with the trainer's stderr.
 */
export async function trainTinyRuns(dir: string, data: string): Promise<{ run: string; fickle: string }> {
  const run = join(dir, 'run');
  const fickle = join(dir, 'fickle');
  const results = await Promise.all([
    runCli(['train', '-c', await tinyConfig(join(dir, 'tiny.json'), data), '--out', run]),
    runCli([
      'train',
      '-c',
      await tinyConfig(join(dir, 'fickle.json'), data, { method: 'ficklenet' }),
      '--out',
      fickle,
    ]),
  ]);
  for (const r of results)
    if (r.code !== 0) throw new Error(`tiny training failed (exit ${r.code}):\n${r.stderr}`);
  return { run, fickle };
}

export async function spawnSuite(prefix: string): Promise<{ dir: string; data: string }> {
  const stale = builtCliProblem();
  if (stale) throw new Error(stale);
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const data = join(dir, 'data');
  await tinyData(data);
  return { dir, data };
}
