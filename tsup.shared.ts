import type { Options } from 'tsup';

/**
 * The `dts` option of every package's tsup config: declaration files, unless `WSSS_BUILD_DTS=0` (set by
 * `npm run demo`, which only runs the CLI and saves most of the build's time by skipping them; turbo hashes the
 * variable, so a later full build does not reuse those outputs).
 */
export function declarations(options: Exclude<Options['dts'], boolean | string | undefined>): Options['dts'] {
  return process.env.WSSS_BUILD_DTS === '0' ? false : options;
}
