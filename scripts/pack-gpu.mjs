#!/usr/bin/env node
// Packs what a `wsss` run needs on a linux-x64 machine that has a GPU but no package registry (and maybe no
// Node.js) into .gpu-pack/ (git-ignored): payload.tar.xz + run.sh, small enough to carry (≤ 64 MiB).
//
//   node scripts/pack-gpu.mjs [--with-node]        # then, on the GPU machine (after carrying .gpu-pack):
//   bash .gpu-pack/run.sh bench --backend webgpu    # or: train --preset demo --backend webgpu, demo, …
//
// The payload holds: the CLI bundled with every JS dependency (tfjs, its backends, @wsss/*) into one file; tfjs's
// .wasm binaries; the `webgpu` package with only its linux-x64 dawn.node; sharp with its native libvips; the
// Vulkan loader (libvulkan.so.1) of this machine; and with --with-node this machine's `node` binary. run.sh
// unpacks it once (to $WSSS_PACK_DIR, default /tmp/wsss-gpu-pack), points LD_LIBRARY_PATH at the loader, uses
// the NVIDIA Vulkan driver manifest when the machine has one, and runs the CLI.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.gpu-pack');
const stage = join(out, 'stage');
const withNode = process.argv.includes('--with-node');
const nm = (p) => join(root, 'node_modules', p);

rmSync(out, { recursive: true, force: true });
mkdirSync(join(stage, 'node_modules'), { recursive: true });

// 1. The CLI as one ESM file. setBackend's optional imports use runtime specifiers a bundle cannot resolve, so
//    the entry provides them as lazy loaders (the webgpu backend must run only after navigator.gpu exists);
//    @tensorflow/tfjs (gradients) and wasm are loaded up front.
const entry = join(out, 'entry.mjs');
writeFileSync(
  entry,
  [
    "import '@tensorflow/tfjs';",
    "import '@tensorflow/tfjs-backend-wasm';",
    `import { provideModule } from ${JSON.stringify(join(root, 'packages/core/src/index.ts'))};`,
    `import { main } from ${JSON.stringify(join(root, 'packages/cli/src/main.ts'))};`,
    "provideModule('@tensorflow/tfjs-backend-webgpu', () => import('@tensorflow/tfjs-backend-webgpu'));",
    "provideModule('@tensorflow/tfjs', () => import('@tensorflow/tfjs'));",
    'process.exit(await main(process.argv.slice(2)));',
  ].join('\n'),
);
await build({
  entryPoints: [entry],
  outfile: join(stage, 'wsss.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  sourcemap: false,
  external: ['webgpu', 'sharp', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  // CommonJS dependencies (tfjs's node builds) use require/__dirname; give the ESM bundle both.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);",
  },
  logLevel: 'warning',
});
rmSync(entry);

// 2. tfjs-backend-wasm loads its .wasm files from the bundle's directory.
for (const f of [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
]) {
  cpSync(nm(`@tensorflow/tfjs-backend-wasm/dist/${f}`), join(stage, f));
}

// 3. Native packages the bundle imports at run time, with their own dependencies.
function copyPackage(name, filter = () => true) {
  const src = realpathSync(nm(name));
  if (existsSync(join(stage, 'node_modules', name))) return;
  cpSync(src, join(stage, 'node_modules', name), { recursive: true, filter });
  const pkg = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) if (existsSync(nm(dep))) copyPackage(dep);
}
copyPackage('webgpu', (p) => !/\/dist\/(?!linux-x64)[^/]+-[^/]+(\/|$)/.test(p));
copyPackage('sharp');
for (const p of ['@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64']) copyPackage(p);

// 4. The Vulkan loader, and optionally Node itself.
mkdirSync(join(stage, 'lib'), { recursive: true });
const loader = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1'].find(existsSync);
if (loader) cpSync(realpathSync(loader), join(stage, 'lib', 'libvulkan.so.1'));
else
  console.warn(
    'pack-gpu: no libvulkan.so.1 here (apt-get install libvulkan1): the GPU machine must have one',
  );
if (withNode) {
  mkdirSync(join(stage, 'bin'), { recursive: true });
  cpSync(realpathSync(process.execPath), join(stage, 'bin', 'node'));
}

// 5. One compressed payload and the launcher.
execFileSync('tar', ['-C', stage, '-cJf', join(out, 'payload.tar.xz'), '.'], {
  env: { ...process.env, XZ_OPT: '-6 -T2' },
});
rmSync(stage, { recursive: true, force: true });
writeFileSync(
  join(out, 'run.sh'),
  `#!/usr/bin/env bash
# Runs the packed wsss CLI: bash run.sh <command> [options]   (see scripts/pack-gpu.mjs)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="\${WSSS_PACK_DIR:-/tmp/wsss-gpu-pack}"
stamp="$(stat -c %Y "$here/payload.tar.xz")"
if [ ! -f "$dir/.stamp" ] || [ "$(cat "$dir/.stamp")" != "$stamp" ]; then
  rm -rf "$dir" && mkdir -p "$dir" && tar -C "$dir" -xJf "$here/payload.tar.xz" && echo "$stamp" > "$dir/.stamp"
fi
export LD_LIBRARY_PATH="$dir/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  if [ -z "\${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; fi
done
node_bin="$(command -v node || true)"
[ -x "$dir/bin/node" ] && [ -z "$node_bin" ] && node_bin="$dir/bin/node"
[ -n "$node_bin" ] || { echo "run.sh: no node here; pack with --with-node" >&2; exit 3; }
exec "$node_bin" "$dir/wsss.mjs" "$@"
`,
);
chmodSync(join(out, 'run.sh'), 0o755);
const mb = (f) => (statSync(join(out, f)).size / 2 ** 20).toFixed(1);
console.log(
  `pack-gpu: .gpu-pack/payload.tar.xz ${mb('payload.tar.xz')} MiB + run.sh${withNode ? ' (with node)' : ''}`,
);
