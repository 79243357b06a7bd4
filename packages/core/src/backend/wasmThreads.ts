/**
 * Multithreaded wasm backend in Node.js (DESIGN §3).
 *
 * `@tensorflow/tfjs-backend-wasm` ships `tfjs-backend-wasm-threaded-simd.wasm` (emscripten pthreads + XNNPACK
 * thread pool) but never uses it in Node, for two reasons:
 *
 * 1. `WASM_HAS_MULTITHREAD_SUPPORT` is hard-wired to `false` when `IS_NODE` (flags_wasm.js, tfjs issue #3830).
 * 2. Forcing the flag fails in `PThread.allocateUnusedWorker`: tfjs's `locateFile` answers the pthread worker
 *    script with `URL.createObjectURL(new Blob([wasmWorkerContents]))`, and the emscripten glue (built for
 *    `web,worker,node`) has replaced `globalThis.Worker` with `require('worker_threads').Worker`, which rejects
 *    the URL: `TypeError [ERR_WORKER_PATH]: The worker script or module filename must be an absolute path or a
 *    relative path starting with './' or '../'. Received "blob:nodedata:…"`. Behind that, the worker's `load`
 *    command receives the main script as a Blob (`mainScriptUrlOrBlob`, the factory's `toString()`), which the
 *    worker's Node `importScripts` (`fs.readFileSync`) cannot read either, and that source refers to names of the
 *    rollup bundle's scope (`require$$0`, `commonjsGlobal`, tslib's `__values`, …).
 *
 * `enableWasmThreadsInNode(n)` patches this at run time, without touching node_modules: it installs a `Worker`
 * global (kept against the glue's reassignment) that runs blob: scripts in `worker_threads` with `eval: true` and a
 * bootstrap providing what the script needs, sets the flag and `setThreadsCount(n)`, and initialises the backend.
 * The pthread workers never hold the event loop open (the process exits normally).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Where the multithreaded wasm backend stands in this process. */
export interface WasmThreadsState {
  /** True when the wasm backend was initialised from the threaded build with more than one thread. */
  enabled: boolean;
  /** Threads asked for in the last call of `enableWasmThreadsInNode` (0 if never called). */
  requested: number;
  /** Threads XNNPACK uses (`getThreadsCount()` of the wasm package); 1 when threads are not enabled. */
  threads: number;
  /** Why threads are not enabled, when a call failed. */
  reason?: string;
}

/** Options of {@link enableWasmThreadsInNode}. */
export interface EnableWasmThreadsOptions {
  /** Give up (and leave the single-threaded backend usable) when initialisation takes longer. Default 60 s. */
  timeoutMs?: number;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

let state: WasmThreadsState = { enabled: false, requested: 0, threads: 1 };
let inFlight: Promise<boolean> | null = null;

/** The state of the multithreaded wasm backend (for `describeBackend` and logs). */
export function wasmThreadsState(): WasmThreadsState {
  return { ...state };
}

/** Dynamic import hidden from bundlers' static analysis (this module is also part of browser bundles). */
async function importOptional(specifier: string): Promise<any> {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
}

/**
 * Source of each pthread worker (runs as a CommonJS script in a `worker_threads` worker, `eval: true`).
 * `workerData.script` is the Blob behind tfjs's blob: URL (the emscripten `*.worker.js`, `wasmWorkerContents`).
 */
const BOOTSTRAP = `'use strict';
const { workerData, parentPort } = require('worker_threads');
const g = globalThis;
// Names that the emscripten factory's source (posted as a Blob built from Function.prototype.toString in the
// rollup bundle tf-backend-wasm.node.js) takes from the bundle's scope.
g.require$$0 = require('fs');
g.require$$1 = require('path');
g.require$$3 = require('perf_hooks');
g.require$$4 = require('os');
g.commonjsGlobal = g;
g.__values = (o) => o[Symbol.iterator]();
g.__read = (o, n) => { const a = []; for (const v of o) { if (n !== undefined && a.length >= n) break; a.push(v); } return a; };
g.__spreadArray = (to, from) => to.concat(Array.prototype.slice.call(from));
const fail = (e) => {
  // No 'cmd' field: the glue's message handler ignores it.
  try { parentPort.postMessage({ wsssBootstrapError: String((e && e.message) || e) }); } catch {}
};
(async () => {
  const source = await workerData.script.text();
  // The worker script sets up self/importScripts/postMessage for Node and listens on parentPort; messages that
  // arrive before then stay queued in the port.
  (0, eval)(source + '\\n//# sourceURL=tfjs-backend-wasm-threaded-simd.worker.js');
  const sources = new Map();
  const importFile = g.importScripts;
  g.importScripts = (url) => {
    const src = sources.get(url);
    if (src === undefined) return importFile(url);
    (0, eval)(src + '\\n//# sourceURL=tfjs-backend-wasm-threaded-simd.js');
  };
  const handle = g.onmessage;
  let queue = Promise.resolve();
  let pending = 0;
  g.onmessage = (e) => {
    const d = e && e.data;
    const blob = d && d.cmd === 'load' && d.urlOrBlob && typeof d.urlOrBlob !== 'string' ? d.urlOrBlob : null;
    if (!blob && pending === 0) return handle(e);
    pending++;
    queue = queue.then(async () => {
      try {
        if (blob) {
          const key = 'wsss-pthread-main:' + sources.size;
          sources.set(key, await blob.text());
          d.urlOrBlob = key;
        }
        handle(e);
      } catch (err) {
        fail(err);
        throw err;
      } finally {
        pending--;
      }
    });
  };
})().catch((e) => { fail(e); throw e; });
`;

interface Attempt {
  failed: Promise<never>;
  fail(reason: string): void;
  workers: Set<any>;
}
let attempt: Attempt | null = null;
/** pthread workers of the current threaded module. */
let liveWorkers = new Set<any>();

let shimInstalled = false;

/** Installs `globalThis.Worker` = a `worker_threads.Worker` subclass that can start tfjs's blob: worker scripts. */
function installWorkerShim(wt: any, resolveObjectURL: (url: string) => Blob | undefined): void {
  if (shimInstalled) return;
  const Base = wt.Worker;
  class NodeBlobWorker extends Base {
    isPthread = false;
    loaded = false;
    attempt: Attempt | null = null;
    constructor(url: string | URL, options?: any) {
      const href = typeof url === 'string' ? url : url instanceof URL ? url.href : '';
      const script = href.startsWith('blob:') ? resolveObjectURL(href) : undefined;
      if (href.startsWith('blob:') && !script) throw new Error(`cannot resolve ${href} (revoked?)`);
      // Other URLs and paths: a plain worker_threads.Worker. For blob: scripts, no inherited execArgv:
      // --input-type=module / --experimental-default-type=module would make the eval'd bootstrap an ES module
      // (no require), and loaders (--import …) have no business in a pthread.
      super(
        ...(script
          ? [BOOTSTRAP, { eval: true, execArgv: [], workerData: { script }, name: 'tfjs-wasm-pthread' }]
          : [url, options]),
      );
      if (!script) return;
      // pthreads (XNNPACK's pool) live as long as the module: never let them hold the event loop open.
      super.unref();
      const current = attempt;
      this.isPthread = true;
      this.attempt = current;
      current?.workers.add(this);
      super.on('message', (m: any) => {
        if (m?.cmd === 'loaded') this.loaded = true;
        else if (m?.wsssBootstrapError)
          current?.fail(`a pthread worker failed to start: ${m.wsssBootstrapError}`);
      });
      super.on('exit', (code: number) => {
        if (!this.loaded)
          current?.fail(`a pthread worker exited (code ${code}) before loading the wasm module`);
      });
    }
    ref(): void {
      // The glue refs a worker while it runs a pthread; XNNPACK's threads never end, so that would keep Node alive.
      if (!this.isPthread) super.ref();
    }
    on(event: string | symbol, listener: (...args: any[]) => void): this {
      if (event !== 'error' || !this.isPthread) return super.on(event, listener);
      // The glue rethrows worker errors on the main thread (crashing the process). For a pool worker of an
      // initialisation that has not loaded yet (it then never ran any thread), fail the initialisation instead.
      return super.on('error', (e: any) => {
        if (this.loaded || !this.attempt) listener(e);
        else this.attempt.fail(`a pthread worker failed: ${e?.message ?? e}`);
      });
    }
  }
  const g = globalThis as any;
  const previous = Object.getOwnPropertyDescriptor(g, 'Worker');
  let other: unknown = previous && 'value' in previous ? previous.value : undefined;
  Object.defineProperty(g, 'Worker', {
    configurable: true,
    enumerable: false,
    get: () => (other === undefined ? NodeBlobWorker : other),
    // The emscripten glue assigns worker_threads.Worker here when the factory runs; keep the shim instead.
    set: (v: unknown) => {
      other = v === Base ? undefined : v;
    },
  });
  shimInstalled = true;
}

function sharedMemoryReason(): string | undefined {
  if (typeof SharedArrayBuffer === 'undefined') return 'SharedArrayBuffer is not available';
  if (typeof Atomics === 'undefined' || typeof Atomics.wait !== 'function')
    return 'Atomics.wait is not available';
  try {
    const m = new WebAssembly.Memory({
      initial: 1,
      maximum: 1,
      shared: true,
    } as WebAssembly.MemoryDescriptor);
    if (!(m.buffer instanceof SharedArrayBuffer))
      return 'WebAssembly shared memory is not backed by a SharedArrayBuffer';
  } catch (e) {
    return `WebAssembly shared memory is not supported (${(e as Error).message})`;
  }
  return undefined;
}

/** The threaded module in use (null when the wasm backend is not threaded). */
let live: { requested: number; threads: number } | null = null;

function failWith(requested: number, reason: string): false {
  // A call that fails without replacing the backend leaves a threaded one running.
  const running = live && tf.engine().registry['wasm'] ? live : null;
  state = { enabled: !!running, requested, threads: running?.threads ?? 1, reason };
  return false;
}

/**
 * Makes the wasm backend use the threaded-SIMD build with `threads` XNNPACK threads in Node.js (`'auto'`:
 * `autoThreads()`), and initialises it. The active backend is left as it was (wasm becomes active if none was);
 * `tf.setBackend('wasm')` then switches without re-initialising. Concurrent calls share the first call's result.
 * XNNPACK caps threads at 8.
 *
 * Call it before the wasm backend is first initialised; a wasm backend already initialised single-threaded is
 * replaced only while it holds no tensors. Returns false, with the reason in `wasmThreadsState().reason`, when
 * threads cannot be used (not Node, no SharedArrayBuffer/worker_threads, no SIMD, backend busy, worker failure,
 * timeout); the wasm backend then stays usable single-threaded. Never throws.
 */
export function enableWasmThreadsInNode(
  threads: number | 'auto',
  opts: EnableWasmThreadsOptions = {},
): Promise<boolean> {
  if (inFlight) return inFlight;
  inFlight = (threads === 'auto' ? autoThreads() : Promise.resolve(threads))
    .then((n) => enable(n, opts))
    .catch((e) =>
      failWith(typeof threads === 'number' ? threads : 0, `unexpected error: ${(e as Error)?.message ?? e}`),
    )
    .finally(() => {
      inFlight = null;
    });
  return inFlight;
}

/** `os.availableParallelism()` (CPU affinity aware, not cgroup-quota aware), capped at XNNPACK's 8; 1 outside Node. */
export async function autoThreads(): Promise<number> {
  if (!isNode) return 1;
  try {
    const os = await importOptional('node:os');
    const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    return Math.max(1, Math.min(8, n));
  } catch {
    return 1;
  }
}

async function enable(threads: number, opts: EnableWasmThreadsOptions): Promise<boolean> {
  if (!Number.isInteger(threads) || threads < 2)
    return failWith(threads, `threads must be an integer ≥ 2 (got ${threads})`);
  if (!isNode)
    return failWith(threads, 'not running in Node.js (in browsers tfjs-backend-wasm detects threads itself)');
  if (live && live.requested === threads && tf.engine().registry['wasm']) {
    state = { enabled: true, requested: threads, threads: live.threads };
    return true;
  }
  const noShared = sharedMemoryReason();
  if (noShared) return failWith(threads, noShared);

  let wt: any;
  let nodeBuffer: any;
  let wasm: any;
  try {
    wt = await importOptional('node:worker_threads');
    nodeBuffer = await importOptional('node:buffer');
  } catch (e) {
    return failWith(threads, `worker_threads is not available (${(e as Error).message})`);
  }
  if (typeof wt.Worker !== 'function' || typeof nodeBuffer.resolveObjectURL !== 'function') {
    return failWith(
      threads,
      'worker_threads.Worker or buffer.resolveObjectURL is missing (Node ≥ 16.7 needed)',
    );
  }
  try {
    wasm = await importOptional('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    return failWith(threads, `cannot import @tensorflow/tfjs-backend-wasm (${(e as Error).message})`);
  }
  const entry = tf.engine().registryFactory['wasm'];
  if (!entry || typeof wasm.setThreadsCount !== 'function' || typeof wasm.getThreadsCount !== 'function') {
    return failWith(
      threads,
      '@tensorflow/tfjs-backend-wasm did not register a wasm backend with setThreadsCount',
    );
  }
  if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) {
    return failWith(threads, 'WebAssembly SIMD is not supported (the threaded build needs it)');
  }

  const engine = tf.engine();
  const existing = engine.registry['wasm'];
  if (existing && existing.numDataIds() > 0) {
    return failWith(
      threads,
      'the wasm backend is already initialised and holds tensors; call enableWasmThreadsInNode before setBackend("wasm")',
    );
  }
  const active = tf.getBackend();
  const { factory, priority } = entry;
  if (existing) {
    // Empty: drop it (and its pthreads, if it was threaded) so that the next initialisation uses the new settings.
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', factory, priority);
    for (const w of liveWorkers) w.terminate();
    liveWorkers = new Set();
    live = null;
    state = { enabled: false, requested: 0, threads: 1 };
  }

  installWorkerShim(wt, nodeBuffer.resolveObjectURL);

  let failure: string | undefined;
  let rejectFailed!: (e: Error) => void;
  const current: Attempt = {
    failed: new Promise<never>((_, reject) => {
      rejectFailed = reject;
    }),
    fail: (reason) => {
      failure ??= reason;
      rejectFailed(new Error(reason));
    },
    workers: new Set(),
  };
  current.failed.catch(() => {});
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const timer = setTimeout(() => current.fail(`initialisation took longer than ${timeoutMs} ms`), timeoutMs);
  timer.unref?.();

  // Initialise through a factory that gives up when a pthread worker fails or the time is up (emscripten would
  // wait forever for the worker), so that the engine never keeps a pending initialisation that cannot end.
  engine.registryFactory['wasm'] = {
    factory: () => Promise.race([Promise.resolve(factory()), current.failed]),
    priority,
  };
  attempt = current;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  // tfjs's init_with_threads_count caps the pool at emscripten_num_logical_cores() / 2, read once by a static
  // constructor: os.cpus().length / 2 in Node, i.e. 1 on a 2-core machine. Answer 2 × threads to this module's
  // instantiation only (the import is also what workers would call, but they never run static constructors).
  const wasmApi = WebAssembly as any;
  const instantiate = wasmApi.instantiate;
  let coresPatched = false;
  wasmApi.instantiate = function (this: unknown, source: unknown, imports?: any) {
    const env = imports?.env;
    if (env && typeof env.emscripten_num_logical_cores === 'function') {
      coresPatched = true;
      imports = { ...imports, env: { ...env, emscripten_num_logical_cores: () => 2 * threads } };
    }
    return instantiate.call(WebAssembly, source, imports);
  };
  let reason: string | undefined;
  try {
    if (!(await tf.setBackend('wasm')))
      reason = failure ?? 'tf.setBackend("wasm") failed (see the warning above)';
  } catch (e) {
    reason = failure ?? (e as Error).message;
  } finally {
    clearTimeout(timer);
    wasmApi.instantiate = instantiate;
    attempt = null;
    engine.registryFactory['wasm'] = { factory, priority };
  }
  if (!reason && current.workers.size === 0) {
    reason =
      'the wasm backend did not load the threaded build (was setWasmPaths given a full path to a .wasm file?)';
  }
  let actual = 1;
  if (!reason) {
    try {
      actual = wasm.getThreadsCount();
    } catch (e) {
      reason = (e as Error).message;
    }
  }
  if (reason) {
    if (engine.registry['wasm']) {
      tf.removeBackend('wasm');
      tf.registerBackend('wasm', factory, priority);
    }
    for (const w of current.workers) w.terminate();
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    wasm.setThreadsCount(-1);
  } else {
    liveWorkers = current.workers;
    live = actual > 1 ? { requested: threads, threads: actual } : null;
  }
  if (active && active !== 'wasm' && tf.getBackend() !== active) await tf.setBackend(active);
  if (reason) return failWith(threads, reason);
  state = { enabled: actual > 1, requested: threads, threads: actual };
  if (actual < 2) {
    state.reason = coresPatched
      ? `XNNPACK reports ${actual} thread(s)`
      : `XNNPACK reports ${actual} thread(s): its pool is capped at half of os.cpus().length, and the core count could not be overridden`;
  }
  return state.enabled;
}
