/**
 * A worker thread that checksums and writes checkpoint files, so that training (which owns the main thread) waits
 * only for the tensors to be read off the backend. The worker receives the file's pieces (the safetensors header
 * with an 8-character placeholder for the CRC-32, and the tensor data, transferred, not copied), computes the CRC,
 * patches it into the header, writes everything with one `writev` to a temporary file in the target's folder,
 * flushes it, renames it over the target and flushes the folder: the same atomic protocol as core's
 * `writeFileAtomic`. Its source is inline (plain Node built-ins), so that it runs the same from the built package
 * and from the sources under test.
 */
import { Worker } from 'node:worker_threads';

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
let table = null;
function crcJs(b, prev) {
  if (!table) {
    table = new Uint32Array(256);
    for (let i = 0; i < 256; i++) { let c = i; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; table[i] = c >>> 0; }
  }
  let c = ~prev >>> 0;
  for (let i = 0; i < b.length; i++) c = table[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
const crc32 = typeof zlib.crc32 === 'function' ? (b, prev) => zlib.crc32(b, prev) : crcJs;
parentPort.on('message', (job) => {
  const tmp = job.tmp;
  try {
    const parts = job.parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
    let crc = 0;
    for (const p of parts) crc = crc32(p, crc);
    const hex = (crc >>> 0).toString(16).padStart(8, '0');
    const header = new Uint8Array(job.header);
    for (let i = 0; i < 8; i++) header[job.crcAt + i] = hex.charCodeAt(i);
    const total = header.length + parts.reduce((s, p) => s + p.length, 0);
    const fd = fs.openSync(tmp, 'wx');
    try {
      const n = fs.writevSync(fd, [header, ...parts], 0);
      if (n !== total) throw new Error('wrote ' + n + ' of ' + total + ' bytes to ' + tmp);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, job.file);
    try { const d = fs.openSync(path.dirname(job.file), 'r'); try { fs.fsyncSync(d); } finally { fs.closeSync(d); } } catch {}
    parentPort.postMessage({ id: job.id, crc: hex });
  } catch (e) {
    try { fs.rmSync(tmp, { force: true }); } catch {}
    parentPort.postMessage({ id: job.id, error: String((e && e.message) || e) });
  }
});
`;

/** The placeholder for the CRC-32 in a header handed to {@link FileWriterThread.write}. */
export const CRC_PLACEHOLDER = '00000000';

/** One worker thread writing files in order; idle, it does not keep the process alive. */
export class FileWriterThread {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (crc: string) => void; reject: (e: Error) => void }
  >();

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(SOURCE, { eval: true });
    w.on('message', (m: { id: number; crc?: string; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (!p) return;
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.crc!);
    });
    w.on('error', (e) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.worker = null;
    });
    w.unref();
    this.worker = w;
    return w;
  }

  /**
   * Writes `header` followed by `parts` to `file` through the temporary `tmp`, with the CRC-32 of the parts in
   * hexadecimal written over the 8 bytes of `header` at `crcAt`. The parts' buffers are transferred (the caller
   * must not use them again); resolves with the CRC once the file is in place.
   */
  write(file: string, tmp: string, header: Uint8Array, crcAt: number, parts: Uint8Array[]): Promise<string> {
    const w = this.start();
    const id = this.nextId++;
    const buffers = [...new Set([header.buffer, ...parts.map((p) => p.buffer)])] as ArrayBuffer[];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, file, tmp, header, crcAt, parts }, buffers);
    });
  }

  /** Stops the thread (after the writes in progress). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
