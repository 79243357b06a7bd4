import { builtinModules } from 'node:module';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// Web pages import '@wsss/cli' to register the WS-FCN layer classes before tf.loadLayersModel and to call
// predictWsFcn (apps/examples/web): the main entry, with every wsss package it pulls in, must bundle for browsers
// with no Node built-in imported statically. The commands (fs, path, sharp…) live behind the './main' entry.
describe('@wsss/cli main entry in a browser bundle', () => {
  it('bundles with platform=browser, with no static import of a Node built-in or sharp', async () => {
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
    const inputs = Object.keys(result.metafile!.inputs);
    // the sibling packages came from their sources (tsconfig paths), so this checks them too
    expect(inputs.some((p) => /(^|\/)pamr\/src\//.test(p))).toBe(true);
    const forbidden = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`), 'sharp']);
    const imported = Object.values(result.metafile!.inputs).flatMap((i) =>
      i.imports.filter((d) => d.kind !== 'dynamic-import').map((d) => d.path),
    );
    expect(imported.filter((p) => forbidden.has(p))).toEqual([]);
  });
});
