/**
 * Runs the code blocks of README files the way a user would copy them: into a fresh npm project that installed the
 * packed packages from tarballs and everything else from the registry. TypeScript blocks are type-checked with the
 * repository's TypeScript (strict, NodeNext, against the installed packages' declarations), compiled with esbuild
 * and run with `node`; JavaScript blocks run as they are. Used by `readmes.test.ts`.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';

/** A fenced code block of a Markdown file. */
export interface CodeBlock {
  /** The Markdown file, as it should appear in messages (e.g. `packages/pamr/README.md`). */
  file: string;
  /** 1-based line of the opening fence; code line k (1-based) is Markdown line `line + k`. */
  line: number;
  /** The info string's first word, lower-cased ('' when absent). */
  lang: string;
  code: string;
}

/** Info strings of the blocks that run. */
export const RUNNABLE_LANGS: ReadonlySet<string> = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs']);

export const isTypeScript = (lang: string): boolean => lang === 'ts' || lang === 'typescript';

/** Every fenced code block (``` or ~~~, up to three spaces of indentation) of a Markdown text. */
export function extractCodeBlocks(markdown: string, file: string): CodeBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !close.test(lines[j]!); j++) {
      // Content lines lose up to the fence's indentation, as CommonMark says.
      body.push(lines[j]!.replace(new RegExp(`^ {0,${indent.length}}`), ''));
    }
    blocks.push({ file, line: i + 1, lang: info.toLowerCase(), code: `${body.join('\n')}\n` });
    i = j;
  }
  return blocks;
}

/** The blocks that run: tagged ts, typescript, js, javascript or mjs. */
export function runnableBlocks(blocks: readonly CodeBlock[]): CodeBlock[] {
  return blocks.filter((b) => RUNNABLE_LANGS.has(b.lang));
}

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console', 'zsh']);

/** Package names of the `npm install` (`npm i`, `npm add`) commands in the shell blocks, versions stripped. */
export function installedByReadme(blocks: readonly CodeBlock[]): string[] {
  const names = new Set<string>();
  for (const b of blocks) {
    if (!SHELL_LANGS.has(b.lang)) continue;
    for (const raw of b.code.split('\n')) {
      const command = raw.replace(/^\s*\$\s*/, '').split(/\s#|&&|;|\|/)[0]!;
      const m = /^\s*npm\s+(?:install|i|add)\s+(.*)$/.exec(command);
      if (!m) continue;
      for (const spec of m[1]!.split(/\s+/)) {
        if (!spec || spec.startsWith('-')) continue;
        names.add(packageName(spec.replace(/(.)@[^/@]*$/, '$1')));
      }
    }
  }
  return [...names];
}

/** The package a specifier names: `@scope/name` or `name` (sub-paths such as `@wsss/core/node` dropped). */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** The packages a block imports (static, side-effect, dynamic and re-exports); Node built-ins and relative paths left out. */
export function importedPackages(code: string): string[] {
  const names = new Set<string>();
  const patterns = [
    /\bimport\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\bexport\s+[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
  ];
  for (const re of patterns) {
    for (const m of code.matchAll(re)) {
      const spec = m[1]!;
      if (spec.startsWith('.') || spec.startsWith('/') || isBuiltin(spec)) continue;
      names.add(packageName(spec));
    }
  }
  return [...names];
}

/** Packages that give tfjs a backend (`@tensorflow/tfjs` brings cpu and webgl). */
export const BACKEND_PACKAGES: readonly string[] = [
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-webgpu',
  '@tensorflow/tfjs-backend-webgl',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
];

/** Whether using a package needs a tfjs backend: tfjs itself and every wsss package but the tfjs-free CRF. */
export const needsBackend = (name: string): boolean =>
  name.startsWith('@tensorflow/') || (name.startsWith('@wsss/') && name !== '@wsss/crf');

/**
 * What a README fails to say about installing: packages its runnable blocks import that no `npm install` line of
 * the README names, and a missing tfjs backend when the blocks use tfjs. One message per problem, naming the file.
 */
export function installProblems(file: string, blocks: readonly CodeBlock[]): string[] {
  const installs = installedByReadme(blocks);
  const imported = [...new Set(runnableBlocks(blocks).flatMap((b) => importedPackages(b.code)))];
  const problems: string[] = [];
  const missing = imported.filter((name) => !installs.includes(name));
  if (missing.length) {
    problems.push(
      `${file}: its code blocks import ${missing.join(', ')}, which no \`npm install\` line of the README names ` +
        `(it names: ${installs.join(' ') || 'nothing; there is no npm install line'})`,
    );
  }
  if (imported.some(needsBackend) && !installs.some((name) => BACKEND_PACKAGES.includes(name))) {
    problems.push(
      `${file}: its code blocks use tfjs, but no \`npm install\` line names a backend ` +
        `(expected one of ${BACKEND_PACKAGES.join(', ')})`,
    );
  }
  return problems;
}

/** What happened to one block. */
export interface BlockResult {
  block: CodeBlock;
  ok: boolean;
  /** Where it failed (`'typecheck'` or `'run'`), or `'passed'`. */
  stage: 'typecheck' | 'run' | 'passed';
  /** Type errors (with Markdown file:line positions) or the process's stdout and stderr. */
  output: string;
  /** Wall time of the run (0 when it did not run). */
  ms: number;
}

export interface RunBlocksOptions {
  /** An npm project with the packages installed; blocks are written to `<projectDir>/readme-blocks/`. */
  projectDir: string;
  /** Path of TypeScript's `tsc` script (`node_modules/typescript/bin/tsc`). */
  tsc: string;
  /** TypeScript → JavaScript (ES module) for one block, e.g. esbuild's `transform`. */
  transpile: (code: string, fileName: string) => Promise<string>;
  /** Processes at once. Default: the number of CPUs, 2 to 4. */
  concurrency?: number;
  /** Per-block limit. Default 90 s. */
  timeoutMs?: number;
  /** Environment of the block processes. Default: this process's, without NODE_OPTIONS and vitest's variables. */
  env?: NodeJS.ProcessEnv;
}

/** A name for a block's file: `packages-pamr-README.md_L21`. */
export function blockFileStem(b: CodeBlock): string {
  return `${b.file.replace(/[^A-Za-z0-9.]+/g, '-')}_L${b.line}`;
}

interface Exec {
  code: number | null;
  signal: string | null;
  output: string;
  ms: number;
}

function exec(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeout: number,
): Promise<Exec> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string }) | null;
      const code = e ? (typeof e.code === 'number' ? e.code : null) : 0;
      const output = [stdout && `stdout:\n${stdout}`, stderr && `stderr:\n${stderr}`]
        .filter(Boolean)
        .join('\n');
      resolve({
        code,
        signal: e?.signal ?? null,
        output: output || (e && code === null ? `${e.message}\n` : ''),
        ms: performance.now() - t0,
      });
    });
  });
}

/** npm settings kept from the environment: where the registry and the cache are, and how to reach them. */
const NPM_SETTINGS = new Set(
  [
    'registry',
    'cache',
    'cafile',
    'userconfig',
    'globalconfig',
    'proxy',
    'https_proxy',
    'noproxy',
    'strict_ssl',
  ].map((k) => `npm_config_${k}`),
);

/**
 * The environment a user's shell would give a command: no test-runner loaders or flags, and none of the variables
 * `npm run` sets for the repository (`npm_config_local_prefix` would make npm install into the repository).
 */
export function userEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) {
    if (k === 'NODE_OPTIONS' || k.startsWith('VITEST') || k === 'TEST' || k === 'INIT_CWD') continue;
    if (k.toLowerCase().startsWith('npm_') && !NPM_SETTINGS.has(k.toLowerCase())) continue;
    env[k] = v;
  }
  return env;
}

/** Compiler options of the blocks: what `tsc --init` for a strict Node ES-module project amounts to. */
export const BLOCK_COMPILER_OPTIONS = {
  strict: true,
  target: 'ES2022',
  lib: ['ES2022'],
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  moduleDetection: 'force',
  types: ['node'],
  skipLibCheck: true,
  noEmit: true,
};

/**
 * Type-checks all TypeScript blocks in one `tsc` run and maps each error to its block and Markdown line.
 * @returns per block stem, its errors ('' = none); errors in no block's file are returned under `''`.
 */
async function typecheck(
  blocks: { block: CodeBlock; path: string }[],
  opts: RunBlocksOptions,
  env: NodeJS.ProcessEnv,
): Promise<Map<string, string>> {
  const errors = new Map<string, string>();
  if (blocks.length === 0) return errors;
  const config = join(opts.projectDir, 'tsconfig.readme-blocks.json');
  await writeFile(
    config,
    JSON.stringify(
      {
        compilerOptions: BLOCK_COMPILER_OPTIONS,
        files: blocks.map((b) => relative(opts.projectDir, b.path)),
      },
      null,
      2,
    ),
  );
  const r = await exec(
    process.execPath,
    [opts.tsc, '-p', config, '--pretty', 'false'],
    opts.projectDir,
    env,
    5 * 60_000,
  );
  if (r.code === 0) return errors;
  const byName = new Map(blocks.map((b) => [relative(opts.projectDir, b.path), b]));
  let current = '';
  for (const line of r.output.replace(/^(stdout|stderr):\n/gm, '').split('\n')) {
    const m = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(line);
    const hit = m && byName.get(m[1]!);
    if (hit) {
      current = hit.path;
      const mdLine = hit.block.line + Number(m![2]);
      const text = `${hit.block.file}:${mdLine}:${m![3]} (block line ${m![2]}) ${m![4]}`;
      errors.set(current, `${errors.get(current) ?? ''}${text}\n`);
    } else if (line.startsWith(' ') && current) {
      errors.set(current, `${errors.get(current)}${line}\n`);
    } else if (line.trim()) {
      current = '';
      errors.set('', `${errors.get('') ?? ''}${line}\n`);
    }
  }
  if (errors.size === 0)
    errors.set('', `tsc exited with ${r.code} and no error it could place:\n${r.output}`);
  return errors;
}

/** Writes, type-checks, compiles and runs blocks; one result per block, in the order given. */
export async function runBlocks(
  blocks: readonly CodeBlock[],
  opts: RunBlocksOptions,
): Promise<BlockResult[]> {
  const dir = join(opts.projectDir, 'readme-blocks');
  await mkdir(dir, { recursive: true });
  const env = opts.env ?? userEnv();
  const files = await Promise.all(
    blocks.map(async (block) => {
      const stem = blockFileStem(block);
      const ts = isTypeScript(block.lang);
      const source = join(dir, `${stem}.${ts ? 'ts' : 'mjs'}`);
      await writeFile(source, block.code);
      return { block, path: source, ts };
    }),
  );
  const typeErrors = await typecheck(
    files.filter((f) => f.ts),
    opts,
    env,
  );
  const general = typeErrors.get('');

  const results: BlockResult[] = new Array(files.length);
  const queue = files.map((f, i) => ({ ...f, i }));
  const timeout = opts.timeoutMs ?? 90_000;
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const { block, i } = f;
      const errors = f.ts ? (typeErrors.get(f.path) ?? general) : undefined;
      if (errors) {
        results[i] = { block, ok: false, stage: 'typecheck', output: errors, ms: 0 };
        continue;
      }
      let entry = f.path;
      if (f.ts) {
        entry = f.path.replace(/\.ts$/, '.mjs');
        try {
          await writeFile(entry, await opts.transpile(block.code, f.path));
        } catch (e) {
          results[i] = { block, ok: false, stage: 'typecheck', output: `${(e as Error).message}\n`, ms: 0 };
          continue;
        }
      }
      const r = await exec(process.execPath, [entry], opts.projectDir, env, timeout);
      const ok = r.code === 0;
      const why = ok
        ? ''
        : r.signal
          ? `killed by ${r.signal}${r.ms >= timeout ? ` after the ${timeout / 1000} s limit` : ''}\n`
          : `exit code ${r.code}\n`;
      results[i] = { block, ok, stage: ok ? 'passed' : 'run', output: why + r.output, ms: r.ms };
    }
  };
  const n = opts.concurrency ?? Math.max(2, Math.min(4, availableParallelism()));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}

/** A failure as a test prints it: where the block is, what failed, and the output. */
export function describeFailure(r: BlockResult): string {
  const where = `${r.block.file}:${r.block.line} (\`\`\`${r.block.lang} block)`;
  const what =
    r.stage === 'typecheck'
      ? 'does not type-check (strict TypeScript, NodeNext, against the installed packages)'
      : 'failed when run with node (expected exit code 0)';
  return `${where} ${what}:\n${r.output.trimEnd()}`;
}

/** A workspace package that is published: its folder, name and whether its build output exists. */
export interface PublishedPackage {
  dir: string;
  name: string;
  version: string;
}

/** The non-private packages of `<repo>/packages/*`. */
export async function publishedPackages(repo: string): Promise<PublishedPackage[]> {
  const out: PublishedPackage[] = [];
  for (const entry of (await readdir(join(repo, 'packages'), { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const dir = join(repo, 'packages', entry.name);
    if (!entry.isDirectory() || !existsSync(join(dir, 'package.json'))) continue;
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (!pkg.private) out.push({ dir, name: pkg.name, version: pkg.version });
  }
  return out;
}

/**
 * `npm pack`s each package into `dest` (its `prepack` runs, as on publish).
 * @returns package name → tarball path.
 * @throws naming the package when its build output (dist/) is missing or `npm pack` fails.
 */
export async function packPackages(
  packages: readonly PublishedPackage[],
  dest: string,
  env: NodeJS.ProcessEnv = userEnv(),
): Promise<Map<string, string>> {
  await mkdir(dest, { recursive: true });
  const tarballs = new Map<string, string>();
  for (const p of packages) {
    if (!existsSync(join(p.dir, 'dist'))) {
      throw new Error(`${p.name}: ${p.dir}/dist is missing; build the packages first (npx turbo run build)`);
    }
    const r = await exec('npm', ['pack', '--pack-destination', dest], p.dir, env, 120_000);
    if (r.code !== 0) throw new Error(`npm pack of ${p.name} failed:\n${r.output}`);
    // npm's tarball name: the scope's '@' dropped, '/' → '-', then the version.
    const tarball = join(dest, `${p.name.replace(/^@/, '').replace('/', '-')}-${p.version}.tgz`);
    if (!existsSync(tarball)) throw new Error(`npm pack of ${p.name} wrote no ${tarball}:\n${r.output}`);
    tarballs.set(p.name, tarball);
  }
  return tarballs;
}

/** Creates an ES-module npm project in `dir` and installs `specs` (registry names or tarball paths) into it. */
export async function createProject(
  dir: string,
  specs: readonly string[],
  env: NodeJS.ProcessEnv = userEnv(),
) {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'readme-user', version: '0.0.0', private: true, type: 'module' }, null, 2)}\n`,
  );
  const r = await exec(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...specs],
    dir,
    // onnxruntime-node, should anything pull it in, would otherwise try to download CUDA libraries.
    { ...env, ONNXRUNTIME_NODE_INSTALL_CUDA: 'skip' },
    10 * 60_000,
  );
  if (r.code !== 0) throw new Error(`npm install ${specs.join(' ')} in ${dir} failed:\n${r.output}`);
}
