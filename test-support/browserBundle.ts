/**
 * Test support shared by the packages' browser-bundle tests: bundles an entry with esbuild for the browser and
 * returns the modules it imports statically, so a test can assert that no Node built-in (or other Node-only
 * package) reaches a browser bundle. Not part of any published package.
 */
import { builtinModules } from 'node:module';
import { build } from 'esbuild';

export interface BrowserBundle {
  errors: unknown[];
  /** Paths of the bundled input files (sources of sibling packages come through tsconfig paths). */
  inputs: string[];
  /** Every module a bundled file imports statically (dynamic imports excluded). */
  staticImports: string[];
}

/** Node built-ins under both their bare and `node:` names. */
export const NODE_BUILTINS: ReadonlySet<string> = new Set([
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
]);

/** Bundles `entry` (a file path) with platform=browser, tfjs and webgpu external. */
export async function browserBundle(entry: string): Promise<BrowserBundle> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'browser',
    format: 'esm',
    external: ['@tensorflow/*', 'webgpu'],
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile!.inputs);
  const staticImports = Object.values(result.metafile!.inputs).flatMap((i) =>
    i.imports.filter((d) => d.kind !== 'dynamic-import').map((d) => d.path),
  );
  return { errors: result.errors, inputs, staticImports };
}
