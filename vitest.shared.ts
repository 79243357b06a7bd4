import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const packages = fileURLToPath(new URL('./packages/', import.meta.url));

/**
 * Per-package vitest config: tests import sibling packages (`@wsss/x`, `@wsss/core/testing`) from their sources,
 * so a package's tests never run against a stale build.
 */
export function packageTestConfig() {
  return defineConfig({
    resolve: {
      alias: [
        { find: /^@wsss\/core\/(testing|node)$/, replacement: `${packages}core/src/$1/index.ts` },
        { find: /^@wsss\/([a-z0-9-]+)$/, replacement: `${packages}$1/src/index.ts` },
      ],
    },
    test: {
      include: ['src/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: 'forks',
      poolOptions: { forks: { maxForks: 2 } },
    },
  });
}
