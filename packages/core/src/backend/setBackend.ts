/**
 * Backend selection (DESIGN §3). `setBackend('auto')` tries tensorflow → webgpu (hardware adapters only) →
 * wasm → cpu and returns the name it set. Optional backends are imported only when asked for, through a
 * non-literal specifier so bundlers do not require packages the user did not install; in a browser bundle,
 * import the backend package yourself (it registers itself) and `setBackend` will use it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { guardWasmHeap, registerWasmTrainingKernels } from '../kernels/wasm/index.js';
import { ensureGradients } from './gradients.js';
import { enableWasmThreadsInNode, wasmThreadsState } from './wasmThreads.js';

/** A backend wsss can run on: `tensorflow` (tfjs-node, Node.js only), `webgpu`, `wasm` or `cpu`. */
export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
/**
 * What {@link setBackend} accepts: a {@link BackendName}, or `auto` for the first of tensorflow → webgpu
 * (hardware adapters only) → wasm → cpu that starts.
 */
export type BackendChoice = 'auto' | BackendName;
/** Every {@link BackendChoice}, `auto` first; {@link setBackend} rejects any other name. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

/**
 * Options of {@link setBackend}: settings of the wasm and webgpu backends, used when that backend is
 * initialised.
 */
export interface SetBackendOptions {
  /** For `wasm` in a browser: where the `.wasm` binaries are served (passed to `setWasmPaths`). */
  wasmPaths?: string;
  /** For `webgpu`: accept a software adapter (e.g. Mesa lavapipe). `auto` never does. Default true when asked by name. */
  allowSoftwareAdapter?: boolean;
  /**
   * For `wasm` in Node: XNNPACK threads through the threaded-SIMD build (`enableWasmThreadsInNode`): a number ≥ 2,
   * `'auto'` (os.availableParallelism(), at most 8) or 1. Default: WSSS_WASM_THREADS from the environment, else 1.
   * Worth it only when the process has the cores to itself; when threads cannot start, wasm runs single-threaded.
   */
  wasmThreads?: number | 'auto';
}

/** What `describeBackend()` reports about the active backend. */
export interface BackendInfo {
  name: string;
  /** For webgpu: the adapter's vendor/architecture/device/description, and whether it is a software adapter. */
  adapter?: { vendor: string; architecture: string; device: string; description: string; software: boolean };
  /** For wasm: SIMD and thread count in use. */
  wasm?: { simd: boolean; threads: number };
}

/** Thrown when a named backend cannot start; `message` says why and what to install. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: BackendName,
    reason: string,
  ) {
    super(`backend '${backend}' is unavailable: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

const providers = new Map<string, () => Promise<unknown>>();

/**
 * Tells `setBackend` how to load an optional package (`@tensorflow/tfjs-backend-webgpu`, `webgpu`, …) in a build
 * where a runtime `import(specifier)` cannot resolve it — a bundle. Give a loader that imports it lazily, e.g.
 * `provideModule('@tensorflow/tfjs-backend-webgpu', () => import('@tensorflow/tfjs-backend-webgpu'))`: the webgpu
 * backend registers itself only if `navigator.gpu` exists when its module runs, which setBackend arranges first.
 */
export function provideModule(specifier: string, load: () => Promise<unknown>): void {
  providers.set(specifier, load);
}

/** A provided loader, else a dynamic import hidden from bundlers' static analysis. */
async function importOptional(specifier: string): Promise<any> {
  const provided = providers.get(specifier);
  if (provided) return provided();
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
}

let lastAdapterInfo: BackendInfo['adapter'] | undefined;

async function ensureCpu(): Promise<void> {
  if (!tf.findBackendFactory('cpu')) {
    try {
      await importOptional('@tensorflow/tfjs-backend-cpu');
    } catch (e) {
      throw new BackendUnavailableError(
        'cpu',
        `cannot import @tensorflow/tfjs-backend-cpu (${(e as Error).message}); npm install @tensorflow/tfjs-backend-cpu`,
      );
    }
  }
}

async function ensureWasm(opts: SetBackendOptions): Promise<void> {
  if (!tf.findBackendFactory('wasm')) {
    try {
      const wasm = await importOptional('@tensorflow/tfjs-backend-wasm');
      if (opts.wasmPaths) wasm.setWasmPaths(opts.wasmPaths);
    } catch (e) {
      throw new BackendUnavailableError(
        'wasm',
        `cannot import @tensorflow/tfjs-backend-wasm (${(e as Error).message}); npm install @tensorflow/tfjs-backend-wasm` +
          (isNode ? '' : ", and import it in your bundle before calling setBackend('wasm')"),
      );
    }
  }
  const threads = opts.wasmThreads ?? wasmThreadsFromEnv();
  if (isNode && threads !== 1 && !tf.engine().registry['wasm']) {
    // Initialises the wasm backend threaded; on failure it stays single-threaded (reason in wasmThreadsState()).
    if (!(await enableWasmThreadsInNode(threads))) {
      console.warn(`wsss: wasm runs single-threaded: ${wasmThreadsState().reason}`);
    }
  }
}

function wasmThreadsFromEnv(): number | 'auto' {
  const v = isNode ? process.env['WSSS_WASM_THREADS'] : undefined;
  if (!v) return 1;
  if (v === 'auto') return 'auto';
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

async function ensureTensorflow(): Promise<void> {
  if (tf.findBackendFactory('tensorflow')) return;
  if (!isNode)
    throw new BackendUnavailableError('tensorflow', 'the tensorflow backend exists only in Node.js');
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await importOptional(pkg);
      if (tf.findBackendFactory('tensorflow')) return;
    } catch (e) {
      errors.push(`${pkg}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new BackendUnavailableError(
    'tensorflow',
    `neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node could be loaded (${errors.join('; ')}). ` +
      'Install @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (NVIDIA GPU with CUDA 11.2 and cuDNN 8.1) ' +
      'at the same version as @tensorflow/tfjs-core; their install downloads libtensorflow.',
  );
}

function isSoftwareAdapter(
  info: { vendor?: string; architecture?: string; device?: string; description?: string },
  adapter: any,
): boolean {
  if (adapter?.isFallbackAdapter || adapter?.info?.isFallbackAdapter) return true;
  const text =
    `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`.toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|software|cpu/.test(text);
}

async function ensureWebgpu(allowSoftware: boolean): Promise<void> {
  let gpu: any = (globalThis as any).navigator?.gpu;
  if (!gpu && isNode) {
    let dawn: any;
    try {
      dawn = await importOptional('webgpu');
    } catch (e) {
      throw new BackendUnavailableError(
        'webgpu',
        `cannot load the 'webgpu' package (Dawn for Node: ${(e as Error).message.split('\n')[0]}); npm install webgpu`,
      );
    }
    Object.assign(globalThis, dawn.globals);
    gpu = dawn.create([]);
    const nav = (globalThis as any).navigator;
    if (nav) {
      try {
        Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
      } catch {
        (globalThis as any).navigator = { ...nav, gpu };
      }
    } else {
      (globalThis as any).navigator = { gpu };
    }
  }
  if (!gpu) throw new BackendUnavailableError('webgpu', 'this environment has no navigator.gpu (WebGPU)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new BackendUnavailableError(
      'webgpu',
      'no WebGPU adapter found. In Node, Dawn needs a Vulkan driver: libvulkan1 plus a GPU driver, or Mesa ≥ 25 ' +
        "(lavapipe, from Debian's mesa-vulkan-drivers in bookworm-backports) for a software adapter",
    );
  }
  const info = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : {});
  const software = isSoftwareAdapter(info, adapter);
  lastAdapterInfo = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    software,
  };
  if (software && !allowSoftware) {
    throw new BackendUnavailableError(
      'webgpu',
      `only a software adapter is available (${lastAdapterInfo.description || lastAdapterInfo.device}); it is slower than wasm`,
    );
  }
  if (!tf.findBackendFactory('webgpu')) {
    try {
      await importOptional('@tensorflow/tfjs-backend-webgpu');
    } catch (e) {
      throw new BackendUnavailableError(
        'webgpu',
        `cannot import @tensorflow/tfjs-backend-webgpu (${(e as Error).message.split('\n')[0]}); npm install @tensorflow/tfjs-backend-webgpu`,
      );
    }
  }
}

async function activate(name: BackendName): Promise<void> {
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new BackendUnavailableError(name, `initialisation failed: ${(e as Error).message}`);
  }
  if (!ok) throw new BackendUnavailableError(name, 'initialisation failed (tf.setBackend returned false)');
  await tf.ready();
  if (name === 'wasm') {
    registerWasmTrainingKernels();
    guardWasmHeap(tf.backend() as never);
  }
  // The cpu backend advertises tfjs-node on its first tensor in Node. wsss chose it on purpose (the reference
  // backend, or a command that computes nothing) and says what else to install itself: no banner.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}

/** The backend's own packages and driver, by name (cpu and tensorflow need nothing else). */
async function ensureOwn(name: BackendName, opts: SetBackendOptions, auto: boolean): Promise<void> {
  if (name === 'wasm') await ensureWasm(opts);
  else if (name === 'tensorflow') await ensureTensorflow();
  else if (name === 'webgpu') await ensureWebgpu(auto ? false : (opts.allowSoftwareAdapter ?? true));
}

/** Why the cpu backend's package cannot load (every backend but tensorflow runs some ops on it), or null. */
async function cpuProblem(): Promise<string | null> {
  return ensureCpu().then(
    () => null,
    (e: BackendUnavailableError) => e.message.replace(/^backend 'cpu' is unavailable: /, ''),
  );
}

async function trySet(name: BackendName, opts: SetBackendOptions, auto: boolean): Promise<void> {
  // the asked-for backend's own package first, so that its name is what a user reads; then the cpu kernels
  // every backend but tensorflow falls back to for some ops — one message naming everything to install
  let own: BackendUnavailableError | null = null;
  await ensureOwn(name, opts, auto).catch((e) => {
    if (!(e instanceof BackendUnavailableError)) throw e;
    own = e;
  });
  const cpu = name === 'tensorflow' ? null : await cpuProblem();
  if (own || cpu) {
    const reasons = [
      ...(own
        ? [(own as BackendUnavailableError).message.replace(/^backend '\w+' is unavailable: /, '')]
        : []),
      ...(cpu ? [name === 'cpu' ? cpu : `it also needs the cpu backend's kernels: ${cpu}`] : []),
    ];
    throw new BackendUnavailableError(name, reasons.join('; '));
  }
  await activate(name);
}

/**
 * Selects and initialises a backend. Returns the name that was set.
 * @throws BackendUnavailableError naming the reason and what to install, when a named backend cannot start.
 */
export async function setBackend(
  choice: BackendChoice = 'auto',
  opts: SetBackendOptions = {},
): Promise<BackendName> {
  await ensureGradients();
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new Error(`unknown backend '${String(choice)}'; expected one of ${BACKEND_CHOICES.join(', ')}`);
  }
  if (choice !== 'auto') {
    if (tf.getBackend() === choice && tf.engine().backend) {
      if (choice === 'wasm') {
        registerWasmTrainingKernels();
        guardWasmHeap(tf.backend() as never);
      }
      return choice;
    }
    await trySet(choice, opts, false);
    return choice;
  }
  const reasons: string[] = [];
  // without the cpu kernels only tensorflow can start: say so once, not once per backend
  const cpu = await cpuProblem();
  for (const name of cpu ? (['tensorflow'] as const) : (['tensorflow', 'webgpu', 'wasm', 'cpu'] as const)) {
    try {
      await trySet(name, opts, true);
      return name;
    } catch (e) {
      reasons.push((e as Error).message);
    }
  }
  if (cpu) reasons.push(`webgpu, wasm and cpu all need the cpu backend's kernels: ${cpu}`);
  throw new Error(`no backend could start:\n  ${reasons.join('\n  ')}`);
}

/** Describes the active backend (adapter for webgpu, SIMD/threads for wasm), for logs and CLI output. */
export function describeBackend(): BackendInfo {
  const name = tf.getBackend();
  const info: BackendInfo = { name };
  if (name === 'webgpu' && lastAdapterInfo) info.adapter = lastAdapterInfo;
  if (name === 'wasm') {
    const flags = tf.env().getFlags();
    info.wasm = {
      simd: !!flags['WASM_HAS_SIMD_SUPPORT'],
      threads: wasmThreadsState().threads,
    };
  }
  return info;
}
