import { defineConfig } from 'tsup';
import { declarations } from '../../tsup.shared';

export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts', node: 'src/node/index.ts' },
  format: ['esm', 'cjs'],
  // Build against sibling packages' published types, not their sources (tsconfig paths are for tests/typecheck).
  dts: declarations({ compilerOptions: { paths: {} } }),
  sourcemap: true,
  clean: true,
  target: 'es2022',
  splitting: true,
  external: [/^@tensorflow\//, 'webgpu'],
});
