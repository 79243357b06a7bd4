// Rebuilds the saliency kernels and embeds them in src/saliencyWasm.ts:
//   node wasm/embed.mjs        (runs gen-median.mjs, then wabt's wat2wasm through npx on each module)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, '..', 'src', 'saliencyWasm.ts');
execFileSync(process.execPath, [join(here, 'gen-median.mjs')], { stdio: 'inherit' });
const tmp = mkdtempSync(join(tmpdir(), 'wsss-wasm-'));
let src = readFileSync(target, 'utf8');
try {
  for (const [name, constant] of [
    ['median', 'MEDIAN_WASM'],
    ['mbd', 'MBD_WASM'],
    ['smooth', 'SMOOTH_WASM'],
    ['background', 'BACKGROUND_WASM'],
  ]) {
    const out = join(tmp, `${name}.wasm`);
    execFileSync('npx', ['-y', '-p', 'wabt@1.0.39', 'wat2wasm', join(here, `${name}.wat`), '-o', out], {
      stdio: 'inherit',
    });
    const b64 = readFileSync(out).toString('base64');
    const re = new RegExp(`const ${constant} =\\n  '[^']*';`);
    if (!re.test(src)) throw new Error(`${target}: no ${constant} constant to replace`);
    src = src.replace(re, `const ${constant} =\n  '${b64}';`);
    process.stdout.write(`${name}.wasm: ${readFileSync(out).length} bytes\n`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
writeFileSync(target, src);
