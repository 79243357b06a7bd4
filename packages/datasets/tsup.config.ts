import { defineConfig } from 'tsup';
import { declarations } from '../../tsup.shared';

export default defineConfig({
  // augmentWorker is the loader's worker-thread script; it must sit next to the bundle (see workerPool.ts).
  entry: {
    index: 'src/index.ts',
    augmentWorker: 'src/loader/augmentWorker.ts',
    cli: 'src/cli/datasetsCli.ts',
  },
  format: ['esm', 'cjs'],
  // Build against sibling packages' published types, not their sources (tsconfig paths are for tests/typecheck).
  dts: declarations({ compilerOptions: { paths: {} } }),
  sourcemap: true,
  clean: true,
  target: 'es2022',
  splitting: true,
  // The CJS build gets an import.meta.url shim (used to find the worker script).
  shims: true,
  external: [/^@tensorflow\//, 'sharp'],
});
