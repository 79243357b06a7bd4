import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const packages = fileURLToPath(new URL('../../../packages/', import.meta.url));
const PACKAGE_SOURCES = /\/packages\/[a-z0-9-]+\/src\//;

/**
 * The packages' `sideEffects` fields name their dist files, so their sources would count as free of side effects
 * and the layer registrations they run on import (what `import '@wsss/cli'` is for) would be dropped from the
 * bundle. A transform result outranks package.json in Rolldown's side-effect rules.
 */
const packageSourcesHaveSideEffects: Plugin = {
  name: 'wsss-package-sources-side-effects',
  transform(_code, id) {
    return PACKAGE_SOURCES.test(id) ? { moduleSideEffects: true } : null;
  },
};

/**
 * The segmentation page (issue #9). `@wsss/*` resolve to the packages' sources, as in the tests, so the page
 * never runs against a stale build; `base: './'` lets the built folder be served from any path.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  resolve: {
    alias: [{ find: /^@wsss\/([a-z0-9-]+)$/, replacement: `${packages}$1/src/index.ts` }],
  },
  plugins: [packageSourcesHaveSideEffects],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    rolldownOptions: {
      // @wsss/core imports tfjs's gradients lazily (training only); tfjs-layers imports them anyway: expected here.
      checks: { ineffectiveDynamicImport: false },
    },
  },
});
