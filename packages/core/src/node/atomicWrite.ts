/** Atomic file writes for Node: write a temporary file beside the target, flush it, rename it over the target. */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** A fresh temporary name in the same folder as `target` (same file system, so the rename is atomic). */
export function tempPathFor(target: string, suffix = 'tmp'): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.${suffix}`,
  );
}

/** Writes `data` (one buffer, a string, or pieces written in order) to a new temporary file next to `target` and flushes it to disk; returns its path. */
export async function writeTemp(
  target: string,
  data: string | Uint8Array | readonly Uint8Array[],
): Promise<string> {
  const tmp = tempPathFor(target);
  let handle: Awaited<ReturnType<typeof fsp.open>> | undefined;
  try {
    handle = await fsp.open(tmp, 'wx');
    if (typeof data === 'string' || data instanceof Uint8Array) await handle.writeFile(data);
    else {
      // one writev: libuv writes every piece (in IOV_MAX chunks, resuming partial writes) on its thread pool
      const total = data.reduce((s, p) => s + p.byteLength, 0);
      const { bytesWritten } = await handle.writev(data as Uint8Array[], 0);
      if (bytesWritten !== total) throw new Error(`wrote ${bytesWritten} of ${total} bytes to ${tmp}`);
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    return tmp;
  } catch (e) {
    await handle?.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

/**
 * Flushes a folder's entries (a rename into it) to disk, where the platform allows opening a folder; elsewhere a
 * no-op. Without it a power loss right after a rename can bring back the old name.
 */
export async function syncFolder(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof fsp.open>> | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open a folder; some file systems refuse fsync on one
  } finally {
    await handle?.close().catch(() => {});
  }
}

/**
 * Replaces `target` with `data` atomically: readers see the old file or the new one, never a partial one, and
 * a failure leaves the old file (if any) in place and no temporary behind. The data is flushed to disk before the
 * rename and the rename after it, so a crash (kill -9, power loss) at any moment leaves one of the two whole files.
 * `data` may be a list of pieces (written in order with one `writev`, never assembled in memory). Creates missing
 * parent folders.
 */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array | readonly Uint8Array[],
): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = await writeTemp(target, data);
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  await syncFolder(path.dirname(target));
}

/** Whether `name` (a file name, no folder) is a temporary of {@link tempPathFor} or the older `<file>.<hex>.tmp` form. */
export function isTempName(name: string): boolean {
  return /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/.test(name) || /^.+\.[0-9a-f]{12}\.tmp$/.test(name);
}

/** The process id a temporary of {@link tempPathFor} was written by, or null for another name. */
export function tempOwner(name: string): number | null {
  const m = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name);
  return m ? Number(m[1]) : null;
}
