/**
 * A run folder belongs to one run (DESIGN §5). This module decides whether a command may write into a folder and
 * keeps every other writer out while it does:
 *
 * - **Lock.** `<run>/.lock` holds the owner's pid, host, process start and command. It is created exclusively
 *   (`O_EXCL`), so of two processes starting at once exactly one gets it. A lock is stale when its owner is gone:
 *   on the same host, when no process has its pid, the pid now belongs to a process started at another time, or
 *   the machine rebooted since; from another host (a shared file system), when the owner has not refreshed it for
 *   {@link LOCK_STALE_SECONDS} seconds (owners refresh it every {@link LOCK_HEARTBEAT_SECONDS}). A stale lock is
 *   taken over with a warning; a live one refuses with {@link RunLockedError} (exit 6). Readers (`eval`, `infer`,
 *   `export`, …) never lock: checkpoints are replaced atomically, so they read the old file or the new one.
 * - **New runs** (`--out`): a missing or empty folder is used; a folder holding a run (config.json, checkpoints/,
 *   metrics.jsonl) is refused (exit 2) with the two ways forward, `--resume` or `--overwrite`; a folder holding
 *   anything else is refused too (wsss never deletes files it did not write). Left-overs of a start that failed
 *   before its first step (`data/` with a generated synthetic set) do not count.
 * - **`--overwrite`** moves the old run aside to `<name>.replaced-<UTC time>` when the new run starts and deletes it
 *   once the new run has written its first checkpoint. If the new run fails before that, the old run is moved back
 *   and the folder is as it was. Only a kill -9 in that window leaves the old run beside the folder, under that
 *   name; the next command on the folder says so.
 * - **Temporaries** that a killed writer left (checkpoint temp files, a half-generated synthetic set) are removed
 *   when the next process takes the lock.
 */
import { type Dirent, promises as fsp, readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { isTempName } from '@wsss/core/node';
import { ConfigError } from '../config/schema.js';
import type { Output } from './output.js';

export const LOCK_FILE = '.lock';
/** How often a lock's owner refreshes its modification time. */
export const LOCK_HEARTBEAT_SECONDS = 60;
/** A lock from another host that has not been refreshed for this long is stale. */
export const LOCK_STALE_SECONDS = 600;
/** Entries that mark a folder as holding a run. */
export const RUN_MARKERS = ['config.json', 'checkpoints', 'metrics.jsonl'] as const;

/** What a lock file holds. */
export interface LockInfo {
  pid: number;
  host: string;
  /** When the owner took the lock (ISO). */
  lockedAt: string;
  /** Linux: the owner's start time in clock ticks since boot (/proc/<pid>/stat field 22), to tell a reused pid. */
  procStart: string | null;
  /** Linux: the boot id of the owner's machine, to tell a lock from before a reboot. */
  bootId: string | null;
  command: string[];
}

/** The folder is locked by a live process (exit 6). */
export class RunLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly owner: LockInfo | null,
  ) {
    super(
      `${dir} is in use by another wsss process (${owner ? describeOwner(owner) : 'its lock is being written'}); ` +
        `wait for it to finish, or stop it (Ctrl-C writes a checkpoint). If that process is gone and this message ` +
        `persists, delete ${join(dir, LOCK_FILE)}.`,
    );
    this.name = 'RunLockedError';
  }
}

function describeOwner(o: LockInfo): string {
  const cmd = o.command.length ? `: wsss ${o.command.join(' ')}` : '';
  return `pid ${o.pid} on ${o.host}, since ${o.lockedAt}${cmd}`;
}

function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Start time of process `pid` in clock ticks since boot (Linux), or null where /proc has no answer. */
export function processStartTicks(pid: number): string | null {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return null;
  // the command name (field 2) may hold spaces and parentheses: fields after it follow the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null; // field 22 overall
}

function bootId(): string | null {
  return readProc('/proc/sys/kernel/random/boot_id')?.trim() ?? null;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why a lock is stale, or null when its owner may still be running. */
export function staleReason(info: LockInfo | null, mtimeMs: number, now = Date.now()): string | null {
  if (!info) {
    // an unreadable lock: a writer between open and write, or one killed there
    return now - mtimeMs > 60_000 ? 'its lock file is unreadable and a minute old' : null;
  }
  if (info.host === hostname()) {
    const boot = bootId();
    if (info.bootId && boot && info.bootId !== boot) return 'the machine has restarted since';
    if (!processAlive(info.pid)) return `process ${info.pid} is gone`;
    const start = processStartTicks(info.pid);
    if (info.procStart && start && info.procStart !== start)
      return `process ${info.pid} is gone (the pid now belongs to another process)`;
    return null;
  }
  return now - mtimeMs > LOCK_STALE_SECONDS * 1000
    ? `host ${info.host} has not refreshed it for ${Math.round((now - mtimeMs) / 60000)} minutes`
    : null;
}

async function readLock(file: string): Promise<{ info: LockInfo | null; mtimeMs: number } | null> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, mtimeMs] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file).then((s) => s.mtimeMs)]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    return typeof info?.pid === 'number' && typeof info.host === 'string'
      ? { info, mtimeMs }
      : { info: null, mtimeMs };
  } catch {
    return { info: null, mtimeMs };
  }
}

/** A held run-folder lock: refreshed while held, removed by `release()` (and at process exit). */
export class RunLock {
  private timer: NodeJS.Timeout | null;
  // at process exit (a second Ctrl-C exits at once): synchronous, as 'exit' handlers must be
  private readonly onExit = () => {
    try {
      if (JSON.parse(readFileSync(this.file, 'utf8')).pid === process.pid) unlinkSync(this.file);
    } catch {
      // gone already
    }
  };

  constructor(
    readonly file: string,
    readonly info: LockInfo,
  ) {
    this.timer = setInterval(() => {
      const t = new Date();
      fsp.utimes(this.file, t, t).catch(() => {});
    }, LOCK_HEARTBEAT_SECONDS * 1000);
    this.timer.unref();
    process.on('exit', this.onExit);
  }

  /** Moves the lock with its folder (after a rename of the folder). */
  moved(to: string): RunLock {
    this.stop();
    return new RunLock(to, this.info);
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    process.off('exit', this.onExit);
  }

  /** Removes the lock file if it is still this process's. */
  async release(): Promise<void> {
    this.stop();
    const cur = await readLock(this.file).catch(() => null);
    if (cur?.info?.pid === this.info.pid && cur.info.lockedAt === this.info.lockedAt)
      await fsp.rm(this.file, { force: true });
  }
}

/**
 * Takes the lock of `dir` (which must exist) for this process; a stale lock is taken over with a warning.
 * @throws RunLockedError when a live process holds it.
 */
export async function acquireRunLock(dir: string, command: string[], out?: Output): Promise<RunLock> {
  const file = join(dir, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid,
    host: hostname(),
    lockedAt: new Date().toISOString(),
    procStart: processStartTicks(process.pid),
    bootId: bootId(),
    command,
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const h = await fsp.open(file, 'wx');
      try {
        await h.writeFile(`${JSON.stringify(info)}\n`);
        await h.sync();
      } finally {
        await h.close();
      }
      return new RunLock(file, info);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const cur = await readLock(file);
    if (!cur) continue; // released in between
    const why = staleReason(cur.info, cur.mtimeMs);
    if (!why) throw new RunLockedError(dir, cur.info);
    // take the stale lock over: move it away under a unique name, then check that what moved is what we judged
    const grave = `${file}.stale-${process.pid}-${attempt}`;
    try {
      await fsp.rename(file, grave);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    const moved = await readLock(grave);
    if (moved?.info?.pid !== cur.info?.pid || moved?.info?.lockedAt !== cur.info?.lockedAt) {
      // another process replaced the stale lock with a live one in between: put it back
      await fsp.link(grave, file).catch(() => {});
      await fsp.rm(grave, { force: true });
      throw new RunLockedError(dir, moved?.info ?? null);
    }
    await fsp.rm(grave, { force: true });
    out?.warn(
      `took over the lock of ${dir} from ${cur.info ? describeOwner(cur.info) : 'an unknown process'}: ${why}`,
    );
  }
  throw new RunLockedError(dir, (await readLock(file))?.info ?? null);
}

/** Removes temporaries that killed writers left in a run folder (see the module comment). Returns their paths. */
export async function removeLeftovers(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const sweep = async (d: string, depth: number) => {
    let names: Dirent[];
    try {
      names = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of names) {
      const p = join(d, e.name);
      const tmpFolder = e.isDirectory() && /^\..+\.tmp-/.test(e.name);
      if ((e.isFile() && isTempName(e.name)) || tmpFolder || /^\.lock\.stale-/.test(e.name)) {
        await fsp.rm(p, { recursive: true, force: true });
        removed.push(p);
      } else if (e.isDirectory() && depth > 0 && !e.name.startsWith('.')) await sweep(p, depth - 1);
    }
  };
  await sweep(dir, 2); // <run>, checkpoints/, data/, localization/{seeds,maps}/
  return removed;
}

/** The entries of `dir` that make it a run or user data (not the lock, temporaries or a generated data set). */
async function contents(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir);
  return names.filter((n) => n !== LOCK_FILE && n !== 'data' && !isTempName(n) && !/^\..+\.tmp-/.test(n));
}

/** Siblings `<name>.replaced-*` that an interrupted `--overwrite` left. */
async function replacedSiblings(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dirname(dir)).catch(() => [] as string[]);
  const prefix = `${basename(dir)}.replaced-`;
  return names.filter((n) => n.startsWith(prefix)).map((n) => join(dirname(dir), n));
}

function stamp(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** How a command uses a run folder. */
export type RunFolderMode = 'new' | 'overwrite' | 'resume';

/**
 * A locked run folder for one training run. Call {@link RunFolder.start} before writing anything but data,
 * {@link RunFolder.checkpointWritten} after every checkpoint, and {@link RunFolder.close} at the end (with the
 * error, if the run failed).
 */
export class RunFolder {
  private aside: string | null = null;
  /** Whether this process created (and locked) the new folder of an `--overwrite`. */
  private ownsNew = false;
  private committed = false;

  private constructor(
    readonly dir: string,
    private lock: RunLock,
    private readonly mode: RunFolderMode,
    private readonly replacing: boolean,
    private readonly command: string[],
    private readonly out: Output,
  ) {}

  /**
   * Claims `dir` for a run (see the module comment for the rules of each mode).
   * @throws ConfigError (exit 2) for a folder that holds another run or other files; RunLockedError (exit 6).
   */
  static async open(o: {
    dir: string;
    mode: RunFolderMode;
    command: string[];
    out: Output;
  }): Promise<RunFolder> {
    const dir = resolve(o.dir);
    const stat = await fsp.stat(dir).catch(() => null);
    if (stat && !stat.isDirectory())
      throw new ConfigError(`--out ${dir} is a file, not a folder; choose a folder for the run`);
    if (!stat && o.mode === 'resume') throw new ConfigError(`--resume ${dir}: no such run folder`);
    await fsp.mkdir(dir, { recursive: true });
    const lock = await acquireRunLock(dir, o.command, o.out);
    try {
      const removed = await removeLeftovers(dir);
      if (removed.length)
        o.out.info(`removed ${removed.length} temporary file(s) an interrupted process left in ${dir}`);
      const found = await contents(dir);
      const isRun = found.some((n) => (RUN_MARKERS as readonly string[]).includes(n));
      const siblings = await replacedSiblings(dir);
      const note = siblings.length
        ? ` (note: ${siblings.join(', ')} holds the run that an interrupted --overwrite replaced; move it back or delete it)`
        : '';
      if (o.mode === 'resume') {
        if (!isRun) throw new ConfigError(`--resume ${dir}: the folder holds no wsss run${note}`);
      } else if (found.length > 0) {
        if (!isRun)
          throw new ConfigError(
            `--out ${dir} is not empty and holds no wsss run (it has ${found.slice(0, 5).join(', ')}${found.length > 5 ? ', …' : ''}); choose another folder for the run`,
          );
        if (o.mode === 'new')
          throw new ConfigError(
            `--out ${dir} holds another run (${found.filter((n) => (RUN_MARKERS as readonly string[]).includes(n)).join(', ')}); ` +
              `continue it with --resume ${dir}, or replace it with --overwrite${note}`,
          );
      }
      return new RunFolder(dir, lock, o.mode, o.mode === 'overwrite' && found.length > 0, o.command, o.out);
    } catch (e) {
      await lock.release();
      throw e;
    }
  }

  /**
   * Called when the run is about to write its first file besides data: with `--overwrite` over an existing run,
   * moves that run aside and starts an empty folder (locked).
   */
  async start(): Promise<void> {
    if (!this.replacing || this.aside) return;
    const aside = `${this.dir}.replaced-${stamp()}`;
    await fsp.rename(this.dir, aside);
    this.aside = aside;
    this.lock = this.lock.moved(join(aside, LOCK_FILE));
    try {
      await fsp.mkdir(this.dir);
    } catch (e) {
      throw new ConfigError(
        `--overwrite ${this.dir}: another process created the folder while the old run was being moved aside (${(e as Error).message}); the old run is in ${aside}`,
      );
    }
    const oldLock = this.lock;
    this.lock = await acquireRunLock(this.dir, this.command, this.out);
    this.ownsNew = true;
    await oldLock.release();
  }

  /** After each checkpoint file: the first one of an `--overwrite` run deletes the run it replaced. */
  async checkpointWritten(): Promise<void> {
    if (this.committed) return;
    this.committed = true;
    if (this.aside) {
      await fsp.rm(this.aside, { recursive: true, force: true });
      this.out.info(`replaced the earlier run in ${this.dir}`);
      this.aside = null;
    }
  }

  /**
   * Ends the run: releases the lock. After a failure before the first checkpoint of an `--overwrite` run, the
   * new run's files are removed and the old run is moved back.
   */
  async close(failed = false): Promise<void> {
    if (failed && this.aside && this.ownsNew && !this.committed) {
      await this.lock.release();
      await fsp.rm(this.dir, { recursive: true, force: true });
      await fsp.rename(this.aside, this.dir);
      this.out.info(`the run failed before its first checkpoint; the earlier run in ${this.dir} is back`);
      this.aside = null;
      return;
    }
    await this.lock.release();
  }

  /** The mode the folder was opened in. */
  get openedAs(): RunFolderMode {
    return this.mode;
  }
}

/**
 * Runs `body` in the run folder `dir` claimed for `mode` ({@link RunFolder.open}), started ({@link RunFolder.start})
 * and closed afterwards, as failed when `body` throws.
 */
export async function withRunFolder<T>(
  o: { dir: string; mode: RunFolderMode; command: string[]; out: Output },
  body: (folder: RunFolder) => Promise<T>,
): Promise<T> {
  const folder = await RunFolder.open(o);
  let failed = true;
  try {
    await folder.start();
    const r = await body(folder);
    failed = false;
    return r;
  } finally {
    await folder.close(failed);
  }
}
