/**
 * Scale-out plumbing shared by the producer (`wsss <command> --redis <url>`) and `wsss worker` (DESIGN §7): BullMQ
 * and ioredis loaded only here and only when asked for, a Redis connection that fails fast on a wrong or
 * unreachable URL and then reconnects for ever, the registry of active runs, and queue names per run.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { EngineUnavailableError } from '../commands/errors.js';
import { ConfigError } from '../config/schema.js';

export type BullMq = typeof import('bullmq');
type IORedisModule = typeof import('ioredis');
export type RedisClient = InstanceType<IORedisModule['default']>;

/** The Redis set of active run queues: a worker serves every queue listed there. */
export const RUNS_KEY = 'wsss:runs';

/** Queue names start with this; the rest identifies the run. */
export const QUEUE_PREFIX = 'wsss-run-';

/** The count of a run's shard retries (starts beyond a shard's first), for the producer's progress line. */
export const retriesKey = (queue: string) => `wsss:retries:${queue}`;

let modules: Promise<{ bullmq: BullMq; IORedis: IORedisModule['default'] }> | null = null;

/** bullmq and ioredis, imported on first use (single-process commands never load them). */
export function loadQueueModules(): Promise<{ bullmq: BullMq; IORedis: IORedisModule['default'] }> {
  modules ??= Promise.all([import('bullmq'), import('ioredis')])
    .then(([bullmq, ioredis]) => ({
      bullmq,
      IORedis: (ioredis.default ?? ioredis) as IORedisModule['default'],
    }))
    .catch((e: unknown) => {
      modules = null;
      throw new EngineUnavailableError(
        `--redis needs the bullmq and ioredis packages (dependencies of @wsss/cli): ${(e as Error).message}`,
        { cause: e },
      );
    });
  return modules;
}

/** Checks a `--redis` URL's form: `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS). */
export function parseRedisUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`--redis ${JSON.stringify(url)} is not a URL; expected redis://host:port[/db]`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new ConfigError(`--redis ${JSON.stringify(url)}: expected a redis:// or rediss:// URL`);
  if (u.pathname.length > 1 && !/^\/\d+$/.test(u.pathname))
    throw new ConfigError(`--redis ${JSON.stringify(url)}: the path must be a database number (/0 … /15)`);
  return u;
}

/**
 * Connects to Redis: the first connection must succeed within `timeoutMs` (a wrong host or port fails fast with
 * the URL and the reason); after that the client reconnects for ever, so a Redis restart only pauses the work.
 * BullMQ needs `maxRetriesPerRequest: null` on connections that block.
 */
export async function connectRedis(url: string, timeoutMs = 5000): Promise<RedisClient> {
  parseRedisUrl(url);
  const { IORedis } = await loadQueueModules();
  const client = new IORedis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // ioredis reports every failed reconnect as an 'error' event; without a listener Node would throw it
  client.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    client.disconnect();
    throw new EngineUnavailableError(`cannot reach Redis at ${url}: ${(e as Error).message}`, { cause: e });
  } finally {
    clearTimeout(timer);
  }
  return client;
}

/** SHA-256 of a file (the checkpoint's identity in jobs: workers check it before they use the file). */
export function fileChecksum(file: string): Promise<string> {
  return new Promise((done, fail) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (b) => h.update(b))
      .on('error', fail)
      .on('end', () => done(h.digest('hex')));
  });
}

/** A run's queue name: the command and everything that decides its outputs, hashed. */
export function runQueueName(parts: unknown): string {
  return QUEUE_PREFIX + createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 20);
}
