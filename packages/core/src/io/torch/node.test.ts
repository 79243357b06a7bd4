import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as api from './index.js';
import { readPth } from './node.js';

describe('readPth', () => {
  it('reads a file from disk and names it in errors', async () => {
    const path = fileURLToPath(new URL('./fixtures/checkpoint.pth', import.meta.url));
    const file = await readPth(path);
    expect(file.tensors.get('0.weight')!.shape).toEqual([2, 3, 3, 3]);
    const evil = fileURLToPath(new URL('./fixtures/malicious.pth', import.meta.url));
    await expect(readPth(evil)).rejects.toThrow(`refusing to load 'os.system' from ${evil}`);
  });
});

describe('browser-safe barrel', () => {
  it('exports the reader and keeps Node modules out of the non-node files', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'PickleGlobal',
        'PickleObject',
        'TorchTensor',
        'crc32',
        'detectPthFormat',
        'findStateDict',
        'parsePth',
        'pthToTensors',
        'readZip',
        'unpickle',
      ].sort(),
    );
    for (const f of ['index.ts', 'pth.ts', 'unpickle.ts', 'zip.ts', 'inflate.ts', 'toTf.ts']) {
      const src = readFileSync(new URL(`./${f}`, import.meta.url), 'utf8');
      expect(src, f).not.toMatch(/from ['"](node:|fs|zlib|buffer)|\bBuffer\b/);
    }
  });
});
