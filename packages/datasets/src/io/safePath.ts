import { isAbsolute, relative, resolve } from 'node:path';
import { DatasetError } from './errors.js';

/**
 * Resolves `rel` (a path from a split list or annotation file) under `root` and refuses one that leaves it
 * (absolute paths, `..` segments that climb out).
 * @param listFile - the file the path came from, named in the error.
 */
export function resolveInside(root: string, rel: string, listFile: string): string {
  const full = resolve(root, rel);
  const r = relative(resolve(root), full);
  if (isAbsolute(rel) || r === '' || r.startsWith('..') || isAbsolute(r)) {
    throw new DatasetError(listFile, `path "${rel}" leaves the dataset root ${root}`);
  }
  return full;
}
