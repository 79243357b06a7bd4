import { describe, expect, it } from 'vitest';
import { browserBundle, NODE_BUILTINS } from '../../../test-support/browserBundle.js';

// The main entry must bundle for browsers: no Node built-in (fs, path, worker_threads…) may be statically
// imported from it. Node-only code reaches them through dynamic imports that run only in Node.
describe('@wsss/core main entry in a browser bundle', () => {
  it('bundles with platform=browser, with no static import of a Node built-in', async () => {
    const b = await browserBundle(new URL('./index.ts', import.meta.url).pathname);
    expect(b.errors).toEqual([]);
    expect(b.staticImports.filter((p) => NODE_BUILTINS.has(p))).toEqual([]);
  });
});
