import { realpathSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { DatasetError } from './errors.js';

function leaves(root: string, full: string): boolean {
  const r = relative(root, full);
  return r === '' || r.startsWith('..') || isAbsolute(r);
}

/**
 * Resolves `rel` (a path from a split list or annotation file) under `root` and refuses one that leaves it
 * (absolute paths, `..` segments that climb out). This is the check on the text of the path; symbolic links are
 * checked when the file is read ({@link assertRealInside}).
 * @param listFile - the file the path came from, named in the error.
 */
export function resolveInside(root: string, rel: string, listFile: string): string {
  const full = resolve(root, rel);
  if (isAbsolute(rel) || leaves(resolve(root), full)) {
    throw new DatasetError(listFile, `path "${rel}" leaves the dataset root ${root}`);
  }
  return full;
}

const realRoots = new Map<string, string>();

/** The real path of a dataset root (symbolic links resolved), cached. */
export function realRoot(root: string): string {
  const key = resolve(root);
  let r = realRoots.get(key);
  if (r === undefined) {
    try {
      r = realpathSync(key);
    } catch {
      r = key;
    }
    realRoots.set(key, r);
  }
  return r;
}

/**
 * Refuses `file` when its real path (every symbolic link on the way resolved) lies outside the real path of `root`,
 * with the same error as a `..` path: a link such as `JPEGImages/evil -> /etc` cannot make a data set read files
 * outside its folder. A file that does not exist passes (reading it reports it as missing).
 * @param source - the file that named the path (split list, annotation file) or the root, named in the error.
 */
export async function assertRealInside(root: string, file: string, source: string): Promise<void> {
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    return;
  }
  if (leaves(realRoot(root), real))
    throw new DatasetError(
      source,
      `path "${relative(resolve(root), resolve(file))}" leaves the dataset root ${root} (through a symbolic link, to ${real})`,
    );
}
