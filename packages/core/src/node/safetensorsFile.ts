/** safetensors files on disk (Node): read with path-named errors, write atomically. */
import { promises as fsp } from 'node:fs';
import {
  type ParseSafetensorsOptions,
  parseSafetensors,
  type SafetensorsEntry,
  type SafetensorsFile,
  serializeSafetensors,
} from '../io/safetensors.js';
import { writeFileAtomic } from './atomicWrite.js';
import { filePathOf } from './fileIO.js';

/**
 * Reads and parses a safetensors file (a path or `file://` URL). Errors name the path.
 * @throws when the file cannot be read or is not a valid safetensors file.
 */
export async function readSafetensorsFile(
  pathOrUrl: string,
  opts: Omit<ParseSafetensorsOptions, 'source'> = {},
): Promise<SafetensorsFile> {
  const p = filePathOf(pathOrUrl);
  let buf: Buffer;
  try {
    buf = await fsp.readFile(p);
  } catch (e) {
    throw new Error(`readSafetensorsFile: cannot read ${p}: ${(e as Error).message}`);
  }
  return parseSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), { ...opts, source: p });
}

/**
 * Writes tensors (e.g. from `exportStateDict`) as a safetensors file, atomically: a failure keeps the previous
 * file. Accepts ready-made bytes from `serializeSafetensors`/`serializeTensors` too.
 */
export async function writeSafetensorsFile(
  pathOrUrl: string,
  entries: Uint8Array | Map<string, SafetensorsEntry> | Record<string, SafetensorsEntry>,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = entries instanceof Uint8Array ? entries : serializeSafetensors(entries, metadata);
  await writeFileAtomic(filePathOf(pathOrUrl), bytes);
}
