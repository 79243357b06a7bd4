/** safetensors files on disk (Node): read with path-named errors, write atomically. */
import { promises as fsp } from 'node:fs';
import {
  type ParseSafetensorsOptions,
  parseSafetensors,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SerializeSafetensorsOptions,
  safetensorsLayout,
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
 * Writes tensors (e.g. from `exportStateDict`) as a safetensors file, atomically: the file is streamed to a flushed
 * temporary (tensor data is not assembled into one buffer) and renamed over the target, so a failure or a crash
 * keeps the previous file. `options.checksum` adds the CRC-32 that {@link readSafetensorsFile} verifies. Accepts
 * ready-made bytes from `serializeSafetensors`/`serializeTensors` too.
 */
export async function writeSafetensorsFile(
  pathOrUrl: string,
  entries: Uint8Array | Map<string, SafetensorsEntry> | Record<string, SafetensorsEntry>,
  metadata?: Record<string, string>,
  options: SerializeSafetensorsOptions = {},
): Promise<void> {
  if (entries instanceof Uint8Array) return writeFileAtomic(filePathOf(pathOrUrl), entries);
  const layout = safetensorsLayout(entries, metadata, options);
  await writeFileAtomic(filePathOf(pathOrUrl), [layout.header, ...layout.parts]);
}
