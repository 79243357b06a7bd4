/** Node-only convenience for reading `.pth` files from disk. Export from '@wsss/core/node'. */
import { readFile } from 'node:fs/promises';
import { type ParsePthOptions, type PthFile, parsePth } from './pth.js';

/**
 * Reads and parses a PyTorch checkpoint file (see `parsePth`); errors name `path` unless `opts.name` is given.
 */
export async function readPth(path: string, opts: ParsePthOptions = {}): Promise<PthFile> {
  const buf = await readFile(path);
  return parsePth(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), { name: path, ...opts });
}
