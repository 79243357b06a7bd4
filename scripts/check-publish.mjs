#!/usr/bin/env node
// Would `npm publish` of every package succeed, and would the result work for its users? Run by `npm test` after
// the build (the tarballs need dist/). For each publishable package (packages/*):
//   - package.json has name, version, description, license, repository (with this package's `directory`),
//     homepage, bugs, engines.node, keywords and public publishConfig;
//   - `npm pack` makes a tarball that holds package.json, README.md, LICENSE and every file the exports name;
//   - publint finds nothing to fix and are-the-types-wrong resolves every export for node10, node16 (CJS and
//     ESM) and bundlers;
//   - every export resolves and loads for `import` and `require` from the unpacked tarballs (a throwaway project
//     whose other dependencies are this repository's installed ones);
//   - `npm publish --dry-run` of the tarball succeeds;
// and `changeset status` accepts the pending changesets. Prints one line per package (tarball size, files) and
// exits 1 naming every problem.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const REQUIRED = [
  'name',
  'version',
  'description',
  'license',
  'repository',
  'homepage',
  'bugs',
  'engines',
  'keywords',
];

const problems = [];
const work = mkdtempSync(join(tmpdir(), 'wsss-publish-'));

/** Runs a command; returns { ok, out } instead of throwing. */
async function attempt(cmd, args, opts = {}) {
  try {
    const { stdout, stderr } = await run(cmd, args, { maxBuffer: 64 << 20, ...opts });
    return { ok: true, out: stdout + stderr, stdout };
  } catch (e) {
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}${e.stdout || e.stderr ? '' : e.message}` };
  }
}

/** Every file path an exports map (or bin) names. */
function exportedFiles(value, into = new Set()) {
  if (typeof value === 'string') into.add(value.replace(/^\.\//, ''));
  else if (value && typeof value === 'object') for (const v of Object.values(value)) exportedFiles(v, into);
  return into;
}

function checkManifest(dir, pkg) {
  const where = `packages/${dir}/package.json`;
  for (const key of REQUIRED) if (pkg[key] == null) problems.push(`${where}: no "${key}"`);
  if (pkg.repository && pkg.repository.directory !== `packages/${dir}`)
    problems.push(
      `${where}: repository.directory is ${JSON.stringify(pkg.repository.directory)}, expected "packages/${dir}"`,
    );
  if (!pkg.engines?.node) problems.push(`${where}: no engines.node`);
  if (!Array.isArray(pkg.keywords) || pkg.keywords.length === 0) problems.push(`${where}: no keywords`);
  if (pkg.publishConfig?.access !== 'public')
    problems.push(`${where}: publishConfig.access must be "public" (a scoped package is private by default)`);
  if (pkg.private) problems.push(`${where}: marked private`);
}

async function checkPackage(dir) {
  const cwd = join(root, 'packages', dir);
  const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8'));
  checkManifest(dir, pkg);
  const dest = join(work, 'tarballs');
  mkdirSync(dest, { recursive: true });
  const packed = await attempt('npm', ['pack', '--json', '--pack-destination', dest], { cwd });
  if (!packed.ok) {
    problems.push(`${pkg.name}: npm pack failed:\n${packed.out}`);
    return null;
  }
  // npm prints the prepack script's lines before the JSON
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('\n[') + 1));
  const tarball = join(dest, info.filename);
  const files = new Set(info.files.map((f) => f.path));
  for (const f of [
    'package.json',
    'README.md',
    'LICENSE',
    ...exportedFiles(pkg.exports),
    ...exportedFiles(pkg.bin),
  ])
    if (f !== 'package.json' && !files.has(f) && !f.includes('*'))
      problems.push(`${pkg.name}: the tarball lacks ${f}`);
  const [lint, types, publish] = await Promise.all([
    attempt(bin('publint'), ['run', tarball, '--strict']),
    attempt(bin('attw'), [tarball, '--format', 'table-flipped', '--no-color']),
    attempt('npm', ['publish', tarball, '--dry-run', '--ignore-scripts'], { cwd: work }),
  ]);
  if (!lint.ok || /Warnings:|Errors:/.test(lint.out))
    problems.push(`${pkg.name}: publint:\n${lint.out.trim()}`);
  if (!types.ok) problems.push(`${pkg.name}: are-the-types-wrong:\n${types.out.trim()}`);
  if (!publish.ok || !publish.out.includes(`+ ${pkg.name}@${pkg.version}`))
    problems.push(`${pkg.name}: npm publish --dry-run failed:\n${publish.out.trim()}`);
  return { dir, pkg, tarball, size: info.size, unpacked: info.unpackedSize, files: info.entryCount };
}

/** Unpacks every tarball into a throwaway project and loads each export with import() and require(). */
async function checkLoads(packed) {
  const project = join(work, 'project');
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '@wsss'), { recursive: true });
  // everything but @wsss from this repository's install (the dependencies a user would get from the registry)
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (entry === '@wsss' || entry.startsWith('.')) continue;
    symlinkSync(join(root, 'node_modules', entry), join(modules, entry));
  }
  for (const p of packed) {
    const target = join(modules, '@wsss', p.pkg.name.slice('@wsss/'.length));
    mkdirSync(target);
    await run('tar', ['-xzf', p.tarball, '-C', target, '--strip-components=1']);
  }
  const specifiers = packed.flatMap((p) =>
    Object.keys(p.pkg.exports)
      .filter((k) => k !== './package.json')
      .map((k) => p.pkg.name + k.slice(1)),
  );
  const script = `
    const { createRequire } = require('node:module');
    const failed = [];
    (async () => {
      for (const s of ${JSON.stringify(specifiers)}) {
        try { await import(s); } catch (e) { failed.push(s + ' (import): ' + e.message.split('\\n')[0]); }
        try { require(s); } catch (e) { failed.push(s + ' (require): ' + e.message.split('\\n')[0]); }
      }
      if (failed.length) { console.error(failed.join('\\n')); process.exit(1); }
      console.log(${specifiers.length} + ' exports loaded by import and require');
    })();`;
  const loaded = await attempt(process.execPath, ['--input-type=commonjs', '-e', script], { cwd: project });
  if (!loaded.ok) problems.push(`loading the packed packages:\n${loaded.out.trim()}`);
  return loaded.ok ? loaded.out.trim() : null;
}

try {
  const dirs = readdirSync(join(root, 'packages')).sort();
  const packed = [];
  // a few at a time: each step is a subprocess, mostly waiting on disk and the JS engine's start
  for (let i = 0; i < dirs.length; i += 3)
    packed.push(...(await Promise.all(dirs.slice(i, i + 3).map(checkPackage))).filter(Boolean));
  const loads = packed.length === dirs.length ? await checkLoads(packed) : null;
  const status = await attempt(bin('changeset'), ['status'], { cwd: root });
  if (!status.ok) problems.push(`changeset status:\n${status.out.trim()}`);
  for (const p of packed)
    console.log(
      `publish: ${p.pkg.name}@${p.pkg.version} ${(p.size / 1024).toFixed(0)} KiB tarball ` +
        `(${(p.unpacked / 1024).toFixed(0)} KiB unpacked, ${p.files} files)`,
    );
  if (loads) console.log(`publish: ${loads}`);
  if (problems.length) {
    console.error(
      `publish check: ${problems.length} problem(s)\n${problems.map((p) => `- ${p}`).join('\n')}`,
    );
    process.exitCode = 1;
  } else
    console.log(
      `publish check: ${packed.length} packages would publish (npm publish --dry-run, publint, attw)`,
    );
} finally {
  rmSync(work, { recursive: true, force: true });
}
