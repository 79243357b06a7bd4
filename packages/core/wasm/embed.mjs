// Rebuilds the BatchNorm kernels and embeds them in src/kernels/batchNorm/simd.ts:
//   node wasm/embed.mjs        (wabt's wat2wasm through npx: batchnorm.wat as it is, and with a shared memory)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, '..', 'src', 'kernels', 'batchNorm', 'simd.ts');
const source = readFileSync(join(here, 'batchnorm.wat'), 'utf8');
const plainImport = '(import "env" "memory" (memory 1))';
if (!source.includes(plainImport))
  throw new Error(`batchnorm.wat: no ${plainImport} to rewrite for the shared build`);
const tmp = mkdtempSync(join(tmpdir(), 'wsss-wasm-'));
let src = readFileSync(target, 'utf8');
try {
  for (const [constant, text, flags] of [
    ['BN_WASM', source, []],
    // tfjs's multithreaded build has a shared memory of at most 4 GiB (65536 pages)
    [
      'BN_WASM_SHARED',
      source.replace(plainImport, '(import "env" "memory" (memory 1 65536 shared))'),
      ['--enable-threads'],
    ],
  ]) {
    const wat = join(tmp, `${constant}.wat`);
    const out = join(tmp, `${constant}.wasm`);
    writeFileSync(wat, text);
    execFileSync('npx', ['-y', '-p', 'wabt@1.0.39', 'wat2wasm', ...flags, wat, '-o', out], {
      stdio: 'inherit',
    });
    const re = new RegExp(`const ${constant} =\\n  '[^']*';`);
    if (!re.test(src)) throw new Error(`${target}: no ${constant} constant to replace`);
    src = src.replace(re, `const ${constant} =\n  '${readFileSync(out).toString('base64')}';`);
    process.stdout.write(`${constant}: ${readFileSync(out).length} bytes\n`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
writeFileSync(target, src);
