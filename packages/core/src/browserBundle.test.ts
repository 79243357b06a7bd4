import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// The main entry must bundle for browsers: no Node built-ins (fs, path, worker_threads) may be reachable from it.
describe('@wsss/core main entry in a browser bundle', () => {
  it('bundles with platform=browser and tfjs packages external', async () => {
    const result = await build({
      entryPoints: [new URL('./index.ts', import.meta.url).pathname],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      external: ['@tensorflow/*', 'webgpu'],
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/from ["']node:|require\(["'](fs|path|worker_threads)["']\)/);
  });
});
