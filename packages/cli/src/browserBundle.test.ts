import { describe, expect, it } from 'vitest';
import { browserBundle, NODE_BUILTINS } from '../../../test-support/browserBundle.js';

// Web pages import '@wsss/cli' to register the WS-FCN layer classes before tf.loadLayersModel and to call
// predictWsFcn (apps/examples/web): the main entry, with every wsss package it pulls in, must bundle for browsers
// with no Node built-in imported statically. The commands (fs, path, sharp…) live behind the './main' entry.
describe('@wsss/cli main entry in a browser bundle', () => {
  it('bundles with platform=browser, with no static import of a Node built-in or sharp', async () => {
    const b = await browserBundle(new URL('./index.ts', import.meta.url).pathname);
    expect(b.errors).toEqual([]);
    // the sibling packages came from their sources (tsconfig paths), so this checks them too
    expect(b.inputs.some((p) => /(^|\/)pamr\/src\//.test(p))).toBe(true);
    expect(b.staticImports.filter((p) => NODE_BUILTINS.has(p) || p === 'sharp')).toEqual([]);
  });
});
