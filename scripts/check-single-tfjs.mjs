#!/usr/bin/env node
// Fails if the lock file holds more than one version of any @tensorflow/* package (DESIGN §1: two copies split
// tfjs's kernel and class registries), or more than one installed copy of one.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const seen = new Map();
for (const [path, info] of Object.entries(lock.packages ?? {})) {
  const m = path.match(/(?:^|\/)node_modules\/(@tensorflow\/[^/]+)$/);
  if (!m || info.link) continue;
  const name = m[1];
  if (!seen.has(name)) seen.set(name, []);
  seen.get(name).push(`${info.version} at ${path}`);
}
const bad = [...seen].filter(([, copies]) => copies.length > 1);
if (bad.length) {
  console.error('More than one copy of a @tensorflow package in package-lock.json:');
  for (const [name, copies] of bad) console.error(`  ${name}:\n    ${copies.join('\n    ')}`);
  console.error('Align the versions so npm dedupes them (one copy each).');
  process.exit(1);
}
console.log(
  `@tensorflow packages: ${[...seen].map(([n, c]) => `${n}@${c[0].split(' ')[0]}`).join(', ') || 'none'} — one copy each`,
);
