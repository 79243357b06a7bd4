#!/usr/bin/env node
// Completes package-lock.json with the optional platform packages npm left out.
//
// Why: with npm 11 and this workplace's registry, `npm install` records only the optional dependencies that apply
// to the current platform (e.g. @rollup/rollup-linux-x64-gnu but not -darwin-arm64), and `npm ci` then refuses the
// lock ("Missing: @rollup/rollup-darwin-arm64@ from lock file"). This adds an entry for every optional dependency
// that has none, from the registry's metadata (version, tarball, integrity, os/cpu/libc). A name the registry does
// not serve gets a bare optional entry. None of these apply to the platform at hand, so what `npm ci` installs is
// unchanged. Idempotent; `--check` only reports (exit 1 if anything is missing).
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lockPath = join(root, 'package-lock.json');
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const pkgs = lock.packages;
const check = process.argv.includes('--check');

/** Where npm would look for `name` when required from the package at `from` (lockfile path). */
function resolvesTo(from, name) {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (pkgs[candidate]) return candidate;
    if (!dir) return null;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i >= 0 ? dir.slice(0, i) : '';
  }
}

const missing = new Map();
for (const [path, info] of Object.entries(pkgs)) {
  for (const [name, spec] of Object.entries(info.optionalDependencies ?? {})) {
    if (!resolvesTo(path, name) && !missing.has(name))
      missing.set(name, { spec, dev: !!info.dev, from: path });
  }
}
if (missing.size === 0) {
  console.log('package-lock.json: every optional dependency has an entry');
  process.exit(0);
}
if (check) {
  console.error(
    `package-lock.json lacks ${missing.size} optional entries (run node scripts/complete-lock.mjs):`,
  );
  for (const n of missing.keys()) console.error(`  ${n}`);
  process.exit(1);
}

let registry = 'https://registry.npmjs.org/';
try {
  registry = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' })
    .trim()
    .replace(/\/?$/, '/');
} catch {}

const added = [];
for (const [name, { spec, dev }] of missing) {
  const entry = { version: spec, optional: true };
  if (dev) entry.dev = true;
  try {
    const res = await fetch(`${registry}${name.replace('/', '%2f')}`, {
      headers: { accept: 'application/json' },
    });
    if (res.ok) {
      const doc = await res.json();
      const exact = doc.versions?.[spec];
      // The exact version may not be served (this registry lags on other platforms' packages): keep the
      // version npm expects and take os/cpu/libc from a version it serves, so npm still skips it by platform.
      const v = exact ?? doc.versions?.[doc['dist-tags']?.latest];
      if (v) {
        if (exact) Object.assign(entry, { resolved: v.dist?.tarball, integrity: v.dist?.integrity });
        for (const k of ['cpu', 'os', 'libc', 'license']) if (v[k]) entry[k] = v[k];
      }
    }
  } catch {}
  pkgs[`node_modules/${name}`] = Object.fromEntries(
    ['version', 'resolved', 'integrity', 'cpu', 'dev', 'engines', 'libc', 'license', 'optional', 'os']
      .filter((k) => entry[k] !== undefined)
      .map((k) => [k, entry[k]]),
  );
  added.push(
    `${name}@${entry.version}${entry.resolved ? '' : ' (version not served by the registry: bare entry)'}`,
  );
}
// npm keeps packages sorted by path
lock.packages = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(`${lockPath}.tmp`, `${JSON.stringify(lock, null, 2)}\n`);
renameSync(`${lockPath}.tmp`, lockPath);
console.log(`package-lock.json: added ${added.length} optional entries:\n  ${added.join('\n  ')}`);
