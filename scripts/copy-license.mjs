#!/usr/bin/env node
// `prepack` of every publishable package: copies the repository's LICENSE into the package folder, so that each
// tarball (`npm pack`, `npm publish`) ships it. The copies are build outputs (gitignored: packages/*/LICENSE).
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
copyFileSync(join(root, 'LICENSE'), join(process.cwd(), 'LICENSE'));
