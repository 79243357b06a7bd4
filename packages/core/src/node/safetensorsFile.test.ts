import { promises as fsp, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  isTempName,
  readSafetensorsFile,
  tempOwner,
  tempPathFor,
  writeFileAtomic,
  writeSafetensorsFile,
} from './index.js';

const root = mkdtempSync(path.join(tmpdir(), 'wsss-st-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

describe('safetensors files', () => {
  it('write atomically and read back, by path or file:// URL', async () => {
    const file = path.join(root, 'a', 'w.safetensors');
    await writeSafetensorsFile(file, { w: { dtype: 'F32', shape: [2], data: [1, -2] } }, { epoch: '3' });
    const back = await readSafetensorsFile(pathToFileURL(file).href);
    expect(back.metadata).toEqual({ epoch: '3' });
    expect(back.tensors.get('w')!.data).toEqual(Float32Array.from([1, -2]));
    expect(readdirSync(path.dirname(file))).toEqual(['w.safetensors']);
  });

  it('keep the previous file when the write fails', async () => {
    const file = path.join(root, 'keep.safetensors');
    await writeSafetensorsFile(file, { w: { dtype: 'U8', shape: [1], data: [7] } });
    const before = readFileSync(file);
    vi.spyOn(fsp, 'rename').mockRejectedValueOnce(new Error('EIO (simulated)'));
    await expect(writeSafetensorsFile(file, { w: { dtype: 'U8', shape: [1], data: [8] } })).rejects.toThrow(
      /EIO/,
    );
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(root).filter((f) => f.includes('keep'))).toEqual(['keep.safetensors']);
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(file)]).toEqual([1, 2, 3]);
  });

  it('stream a checksummed file to disk and refuse it once a byte changes; leave no temporary', async () => {
    const file = path.join(root, 'ck', 'c.safetensors');
    const data = new Float32Array(5000).map((_, i) => Math.sin(i));
    await writeSafetensorsFile(
      file,
      { a: { dtype: 'F32', shape: [5000], data } },
      { k: 'v' },
      { checksum: true },
    );
    const back = await readSafetensorsFile(file);
    expect(back.metadata['checksum']).toMatch(/^crc32:/);
    expect(back.tensors.get('a')!.data).toEqual(data);
    expect(readdirSync(path.dirname(file))).toEqual(['c.safetensors']);
    const bytes = readFileSync(file);
    bytes[bytes.length - 100]! ^= 1;
    writeFileSync(file, bytes);
    await expect(readSafetensorsFile(file)).rejects.toThrow(`${file}: the file is corrupt`);
  });

  it('recognise the temporaries a killed writer leaves behind', () => {
    const t = path.basename(tempPathFor(path.join(root, 'last.safetensors')));
    expect(isTempName(t)).toBe(true);
    expect(tempOwner(t)).toBe(process.pid);
    expect(isTempName('last.safetensors')).toBe(false);
    expect(isTempName('x.png.0123456789ab.tmp')).toBe(true);
    expect(tempOwner('x.png.0123456789ab.tmp')).toBe(null);
  });

  it('name the path in errors', async () => {
    const missing = path.join(root, 'nope.safetensors');
    await expect(readSafetensorsFile(missing)).rejects.toThrow(`readSafetensorsFile: cannot read ${missing}`);
    const bad = path.join(root, 'bad.safetensors');
    writeFileSync(bad, new Uint8Array(3));
    await expect(readSafetensorsFile(bad)).rejects.toThrow(
      `${bad}: file is 3 bytes, shorter than the 8-byte header length`,
    );
  });
});
