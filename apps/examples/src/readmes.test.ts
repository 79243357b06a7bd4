/**
 * Every TypeScript/JavaScript block of the root README and of each package README runs as a user would copy it.
 *
 * The publishable packages are packed with `npm pack` (they need their dist/: `npm test` builds first) and installed,
 * with the registry packages the READMEs' `npm install` lines name, into a fresh ES-module project in the system's
 * temporary folder. Each block becomes a file there: TypeScript is type-checked with this repository's TypeScript
 * (strict, NodeNext) against the installed packages' declarations, compiled with esbuild and run with node;
 * JavaScript runs as it is. A README also has to name in an `npm install` line every package its blocks import,
 * a tfjs backend among them when it uses tfjs. Block counts go to test-artefacts/readmes.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BlockResult,
  type CodeBlock,
  createProject,
  describeFailure,
  extractCodeBlocks,
  importedPackages,
  installedByReadme,
  installProblems,
  packPackages,
  publishedPackages,
  runBlocks,
  runnableBlocks,
} from './readmeBlocks.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const ARTEFACTS = fileURLToPath(new URL('../test-artefacts/', import.meta.url));
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');

/** Never installed: their install scripts download libtensorflow (they are optional peers of @wsss/core). */
const NOT_INSTALLABLE = new Set(['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']);

const packages = await publishedPackages(REPO);
const README_FILES = ['README.md', ...packages.map((p) => `${p.dir.slice(REPO.length)}/README.md`)].filter(
  (f) => existsSync(join(REPO, f)),
);
const readmes = README_FILES.map((file) => {
  const all = extractCodeBlocks(readFileSync(join(REPO, file), 'utf8'), file);
  return { file, all, runnable: runnableBlocks(all), installs: installedByReadme(all) };
});
/** `root` for the root README, else the package folder's name. */
const shortName = (file: string) => (file === 'README.md' ? 'root' : file.split('/').at(-2)!);

/** One block that works and two broken on purpose (a type error, a throw): the runner must tell them apart. */
const SYNTHETIC = [
  '# Synthetic README',
  '',
  '```sh',
  'npm install @wsss/core @tensorflow/tfjs-core @tensorflow/tfjs-backend-cpu',
  '```',
  '',
  '```ts',
  "import { setBackend } from '@wsss/core';",
  "console.log(await setBackend('cpu'));",
  '```',
  '',
  '```ts',
  "import { setBackend } from '@wsss/core';",
  "const name: number = await setBackend('cpu'); // a string is not a number",
  'console.log(name);',
  '```',
  '',
  '```js',
  "throw new Error('boom from the synthetic README');",
  '```',
  '',
  '```json',
  '{ "not": "run" }',
  '```',
].join('\n');
const syntheticBlocks = runnableBlocks(extractCodeBlocks(SYNTHETIC, 'SYNTHETIC.md'));

let work = '';
const results = new Map<CodeBlock, BlockResult>();
let wallMs = 0;

/** Registry packages at the version this repository resolved (the npm cache has them); others as named. */
function registrySpec(name: string): string {
  const manifest = join(REPO, 'node_modules', name, 'package.json');
  return existsSync(manifest) ? `${name}@${JSON.parse(readFileSync(manifest, 'utf8')).version}` : name;
}

beforeAll(async () => {
  const t0 = performance.now();
  work = await mkdtemp(join(tmpdir(), 'wsss-readmes-'));
  const tarballs = await packPackages(packages, join(work, 'packs'));
  const registry = new Set<string>(['@types/node']); // what a TypeScript user adds to compile for Node
  for (const r of readmes) {
    for (const name of r.installs) {
      if (!name.startsWith('@wsss/') && !NOT_INSTALLABLE.has(name)) registry.add(name);
    }
  }
  const project = join(work, 'project');
  await createProject(project, [...tarballs.values(), ...[...registry].sort().map(registrySpec)]);
  const blocks = [...readmes.flatMap((r) => r.runnable), ...syntheticBlocks];
  const out = await runBlocks(blocks, {
    projectDir: project,
    tsc: TSC,
    transpile: async (code, fileName) =>
      (await transform(code, { loader: 'ts', format: 'esm', target: 'node20', sourcefile: fileName })).code,
  });
  for (const r of out) results.set(r.block, r);
  wallMs = performance.now() - t0;

  const counts = readmes.map((r) => `${shortName(r.file)} ${r.runnable.length}`);
  console.log(`README blocks: ${counts.join(', ')} (${(wallMs / 1000).toFixed(1)} s with pack and install)`);
  await mkdir(ARTEFACTS, { recursive: true });
  await writeFile(
    join(ARTEFACTS, 'readmes.json'),
    `${JSON.stringify(
      {
        wallSeconds: Math.round(wallMs / 100) / 10,
        installed: [...tarballs.keys(), ...[...registry].sort().map(registrySpec)],
        readmes: readmes.map((r) => ({
          file: r.file,
          blocks: r.runnable.map((b) => {
            const res = results.get(b)!;
            return {
              line: b.line,
              lang: b.lang,
              ok: res.ok,
              stage: res.stage,
              seconds: Math.round(res.ms) / 1000,
              output: res.output.length > 4000 ? `${res.output.slice(0, 4000)}…` : res.output,
            };
          }),
        })),
      },
      null,
      2,
    )}\n`,
  );
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('README code blocks run as a user copies them (npm pack → fresh project → tsc + node)', () => {
  it.each(readmes.map((r) => [r.file, r] as const))('%s', (file, readme) => {
    // What to install: every imported package, and a backend when tfjs is used.
    const problems = installProblems(file, readme.all);
    for (const block of readme.runnable) {
      const r = results.get(block);
      if (!r) problems.push(`${file}:${block.line}: the block did not run (see beforeAll's error)`);
      else if (!r.ok) problems.push(describeFailure(r));
    }
    if (problems.length) expect.fail(problems.join('\n\n'));
  });
});

describe('the README block runner', () => {
  it('extracts ts/typescript/js/javascript/mjs blocks with their fence lines and skips sh and json', () => {
    expect(syntheticBlocks.map((b) => [b.line, b.lang])).toEqual([
      [7, 'ts'],
      [12, 'ts'],
      [18, 'js'],
    ]);
    expect(installedByReadme(extractCodeBlocks(SYNTHETIC, 'SYNTHETIC.md'))).toEqual([
      '@wsss/core',
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-backend-cpu',
    ]);
    expect(
      importedPackages(
        "import * as tf from '@tensorflow/tfjs';\nimport '@tensorflow/tfjs-backend-cpu';\n" +
          "import { readPth } from '@wsss/core/node';\nimport { join } from 'node:path';\nimport fs from 'fs';\n" +
          "const m = await import('@wsss/pamr');\nimport type { X } from './local.js';",
      ),
    ).toEqual(['@tensorflow/tfjs', '@wsss/core', '@tensorflow/tfjs-backend-cpu', '@wsss/pamr']);
  });

  it('reports imports missing from the npm install lines, and a missing backend', () => {
    expect(installProblems('SYNTHETIC.md', extractCodeBlocks(SYNTHETIC, 'SYNTHETIC.md'))).toEqual([]);
    const forgetful = [
      '```sh',
      'npm install @wsss/pamr   # no backend, no @wsss/core',
      '```',
      '```ts',
      "import { setBackend } from '@wsss/core';",
      "import { pamr } from '@wsss/pamr';",
      '```',
    ].join('\n');
    const problems = installProblems('FORGETFUL.md', extractCodeBlocks(forgetful, 'FORGETFUL.md'));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /^FORGETFUL\.md: .*import @wsss\/core, which no `npm install` line .*names: @wsss\/pamr/,
    );
    expect(problems[1]).toMatch(/^FORGETFUL\.md: .*no `npm install` line names a backend/);
  });

  it('passes a block that type-checks and exits 0', () => {
    const r = results.get(syntheticBlocks[0]!)!;
    expect(r.ok, describeFailure(r)).toBe(true);
    expect(r.output).toContain('cpu');
  });

  it('fails a block with a type error, naming the README file and line', () => {
    const r = results.get(syntheticBlocks[1]!)!;
    expect(r.ok).toBe(false);
    expect(r.stage).toBe('typecheck');
    const message = describeFailure(r);
    expect(message).toContain('SYNTHETIC.md:12');
    expect(message).toMatch(/SYNTHETIC\.md:14:\d+ .*TS2322/);
  });

  it('fails a block that throws, naming the README file and line and showing stderr', () => {
    const r = results.get(syntheticBlocks[2]!)!;
    expect(r.ok).toBe(false);
    expect(r.stage).toBe('run');
    const message = describeFailure(r);
    expect(message).toContain('SYNTHETIC.md:18');
    expect(message).toContain('stderr:');
    expect(message).toContain('boom from the synthetic README');
  });
});
