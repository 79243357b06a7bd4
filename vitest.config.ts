import { defineConfig } from 'vitest/config';

// One vitest run over every package (each keeps its own vitest.config.ts), so CI gets one summary line.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
    reporters: ['default', './scripts/vitest-summary-reporter.mjs'],
  },
});
