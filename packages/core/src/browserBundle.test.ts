import { builtinModules } from 'node:module';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// The main entry must bundle for browsers: no Node built-in (fs, path, worker_threads…) may be statically
// imported from it. Node-only code reaches them through dynamic imports that run only in Node.
describe('@wsss/core main entry in a browser bundle', () => {
  it('bundles with platform=browser, with no static import of a Node built-in', async () => {
    const result = await build({
      entryPoints: [new URL('./index.ts', import.meta.url).pathname],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'browser',
      format: 'esm',
      external: ['@tensorflow/*', 'webgpu'],
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const imported = Object.values(result.metafile!.inputs).flatMap((i) =>
      i.imports.filter((d) => d.kind !== 'dynamic-import').map((d) => d.path),
    );
    expect(imported.filter((p) => builtins.has(p))).toEqual([]);
  });
});
