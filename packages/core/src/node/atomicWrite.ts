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

/** Writes `data` to a new temporary file next to `target` and flushes it to disk; returns its path. */
export async function writeTemp(target: string, data: string | Uint8Array): Promise<string> {
  const tmp = tempPathFor(target);
  let handle: Awaited<ReturnType<typeof fsp.open>> | undefined;
  try {
    handle = await fsp.open(tmp, 'wx');
    await handle.writeFile(data);
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
 * Replaces `target` with `data` atomically: readers see the old file or the new one, never a partial one, and
 * a failure leaves the old file (if any) in place and no temporary behind. Creates missing parent folders.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = await writeTemp(target, data);
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}
