// Rebuilds the kernels that run on tfjs's wasm heap and embeds them as base64:
//   node wasm/embed.mjs        (wabt's wat2wasm through npx, each module as it is and with a shared memory)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = [
  ['batchnorm.wat', 'src/kernels/batchNorm/simd.ts', 'BN_WASM'],
  ['layout.wat', 'src/kernels/wasm/layoutWasm.ts', 'LAYOUT_WASM'],
];
const plainImport = '(import "env" "memory" (memory 1))';
// tfjs's multithreaded build has a shared memory of at most 4 GiB (65536 pages)
const sharedImport = '(import "env" "memory" (memory 1 65536 shared))';
const tmp = mkdtempSync(join(tmpdir(), 'wsss-wasm-'));
try {
  for (const [wat, ts, constant] of modules) {
    const source = readFileSync(join(here, wat), 'utf8');
    if (!source.includes(plainImport))
      throw new Error(`${wat}: no ${plainImport} to rewrite for the shared build`);
    const target = join(here, '..', ts);
    let src = readFileSync(target, 'utf8');
    for (const [name, text, flags] of [
      [constant, source, []],
      [`${constant}_SHARED`, source.replace(plainImport, sharedImport), ['--enable-threads']],
    ]) {
      const file = join(tmp, `${name}.wat`);
      const out = join(tmp, `${name}.wasm`);
      writeFileSync(file, text);
      execFileSync('npx', ['-y', '-p', 'wabt@1.0.39', 'wat2wasm', ...flags, file, '-o', out], {
        stdio: 'inherit',
      });
      const re = new RegExp(`const ${name} =\\n  '[^']*';`);
      if (!re.test(src)) throw new Error(`${target}: no ${name} constant to replace`);
      src = src.replace(re, `const ${name} =\n  '${readFileSync(out).toString('base64')}';`);
      process.stdout.write(`${name}: ${readFileSync(out).length} bytes\n`);
    }
    writeFileSync(target, src);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
