import { defineConfig } from 'tsup';
import { declarations } from '../../tsup.shared';

export default defineConfig({
  // `worker` is the worker-thread script that `@wsss/crf/node` starts (dist/worker.js, next to dist/node.js).
  entry: { index: 'src/index.ts', node: 'src/node/index.ts', worker: 'src/node/worker.ts' },
  format: ['esm', 'cjs'],
  dts: declarations({
    entry: { index: 'src/index.ts', node: 'src/node/index.ts' },
    compilerOptions: { paths: {} },
  }),
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // import.meta.url in the CommonJS build (the node entry locates dist/worker.js with it).
  shims: true,
});
