/**
 * Running exported graphs on ONNX Runtime with tfjs tensors in and out. `onnxruntime-node` is an optional peer
 * dependency (about 290 MB installed): it is imported only when a session is created without a runtime module of
 * the caller's own (`onnxruntime-web` in a browser), and a missing or unloadable runtime is an error with the
 * install line.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The execution providers {@link OnnxSession} accepts; which ones a runtime build offers depends on the build. */
export const ONNX_EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda', 'wasm'] as const;

/** An ONNX Runtime execution provider (`wasm` is onnxruntime-web's CPU provider). */
export type OnnxExecutionProvider = (typeof ONNX_EXECUTION_PROVIDERS)[number];

/** The part of an onnxruntime `Tensor` that {@link OnnxSession} reads. */
export interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}

/** The part of an onnxruntime `InferenceSession` that {@link OnnxSession} uses. */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the graph on tensors by input name; resolves to every output by name. */
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  /** Frees the session. */
  release(): Promise<void>;
}

/**
 * The part of an onnxruntime module (`onnxruntime-node`, `onnxruntime-web`) that {@link OnnxSession} uses; pass
 * your own as {@link OnnxSessionOptions.ort}.
 */
export interface OrtModuleLike {
  InferenceSession: {
    /** Creates a session from the bytes of an ONNX model with session options (execution providers, threads). */
    create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSessionLike>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensorLike;
  env?: { versions?: Record<string, string | undefined> };
}

/** The install line printed when onnxruntime-node cannot be loaded. */
export const ONNXRUNTIME_INSTALL =
  'npm install onnxruntime-node   (ONNXRUNTIME_NODE_INSTALL_CUDA=skip skips its optional CUDA download)';

let nodeRuntime: Promise<OrtModuleLike> | null = null;

/**
 * Imports `onnxruntime-node` (once; later calls share the module). The specifier is computed so that bundlers
 * leave it alone: browser builds pass `onnxruntime-web` to {@link OnnxSession.create} instead.
 *
 * @throws an Error naming the package and the install line when it is missing or its native binding does not
 *   load (the cause is kept).
 */
export function loadOnnxRuntime(): Promise<OrtModuleLike> {
  if (!nodeRuntime) {
    const name = ['onnxruntime', 'node'].join('-');
    nodeRuntime = (import(/* @vite-ignore */ name) as Promise<OrtModuleLike & { default?: OrtModuleLike }>)
      .then((m) => (m.InferenceSession ? m : (m.default ?? m)))
      .catch((e: unknown) => {
        nodeRuntime = null;
        const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND';
        throw new Error(
          `the ONNX engine needs onnxruntime-node, which ${missing ? 'is not installed' : `could not be loaded (${(e as Error).message})`}; install it with: ${ONNXRUNTIME_INSTALL}`,
          { cause: e },
        );
      });
  }
  return nodeRuntime;
}

/** Options of {@link OnnxSession.create}. */
export interface OnnxSessionOptions {
  /** Execution provider. Default `cpu` (`wasm` with a runtime module that has no `cpu`, such as onnxruntime-web). */
  executionProvider?: OnnxExecutionProvider;
  /** Intra-op threads of the CPU provider; 0 or undefined: ONNX Runtime's default (one per physical core). */
  threads?: number;
  /** The runtime module to use (e.g. `import * as ort from 'onnxruntime-web'`). Default: onnxruntime-node. */
  ort?: OrtModuleLike;
}

/** What {@link OnnxSession.describe} reports. */
export interface OnnxSessionInfo {
  /** `onnxruntime-node` or `onnxruntime-web` (or `onnxruntime` when the module does not say). */
  runtime: string;
  /** The runtime's version, when the module reports it. */
  version?: string;
  executionProvider: OnnxExecutionProvider;
  /** Intra-op threads asked for (0: the runtime's default). */
  threads: number;
}

/**
 * An ONNX Runtime session over an exported graph (`exportOnnx`) that takes and returns tfjs tensors: inputs are
 * read with `data()`, outputs become new tfjs tensors on the current backend (the caller disposes them).
 */
export class OnnxSession {
  private constructor(
    private readonly session: OrtSessionLike,
    private readonly ort: OrtModuleLike,
    private readonly info: OnnxSessionInfo,
  ) {}

  /**
   * Creates a session from the bytes of an ONNX model.
   *
   * @throws an Error naming the execution provider when the runtime build does not offer it (e.g. `cuda` without
   *   the CUDA provider installed, `webgpu` without an adapter), or onnxruntime-node is missing (see
   *   {@link loadOnnxRuntime}).
   */
  static async create(model: Uint8Array, opts: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const ep = opts.executionProvider ?? (opts.ort ? 'wasm' : 'cpu');
    if (!ONNX_EXECUTION_PROVIDERS.includes(ep))
      throw new Error(
        `unknown ONNX execution provider '${String(ep)}'; expected one of ${ONNX_EXECUTION_PROVIDERS.join(', ')}`,
      );
    const threads = opts.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0)
      throw new Error(`ONNX threads must be a whole number ≥ 0, got ${String(opts.threads)}`);
    const ort = opts.ort ?? (await loadOnnxRuntime());
    const versions = ort.env?.versions ?? {};
    const runtime = versions['node']
      ? 'onnxruntime-node'
      : versions['web']
        ? 'onnxruntime-web'
        : 'onnxruntime';
    const version = versions['node'] ?? versions['web'] ?? versions['common'];
    let session: OrtSessionLike;
    try {
      session = await ort.InferenceSession.create(model, {
        executionProviders: [ep],
        graphOptimizationLevel: 'all',
        // warnings (e.g. which nodes a GPU provider hands back to the CPU) would flood the terminal; errors stay
        logSeverityLevel: 3,
        ...(threads > 0 ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
      });
    } catch (e) {
      throw new Error(
        `ONNX Runtime (${runtime}${version ? ` ${version}` : ''}) could not create a session on execution provider '${ep}': ${(e as Error).message}`,
        { cause: e },
      );
    }
    return new OnnxSession(session, ort, {
      runtime,
      ...(version ? { version } : {}),
      executionProvider: ep,
      threads,
    });
  }

  /** The graph's input names, in order. */
  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** The graph's output names, in order. */
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Which runtime, version, execution provider and thread count run this session. */
  describe(): OnnxSessionInfo {
    return { ...this.info };
  }

  /**
   * Runs the graph. `inputs` is one tensor for a single-input graph (the exported `image`) or tensors by input
   * name. Returns every output by name, as float32 tfjs tensors with the graph's output shapes.
   */
  async run(inputs: tf.Tensor | Record<string, tf.Tensor>): Promise<Record<string, tf.Tensor>> {
    const named: Record<string, tf.Tensor> =
      inputs instanceof tf.Tensor ? { [this.singleInput()]: inputs } : inputs;
    const feeds: Record<string, OrtTensorLike> = {};
    for (const name of this.inputNames) {
      const t = named[name];
      if (!t)
        throw new Error(
          `OnnxSession.run: no tensor for input '${name}' (the graph's inputs: ${this.inputNames.join(', ')})`,
        );
      if (t.dtype !== 'float32')
        throw new Error(`OnnxSession.run: input '${name}' must be float32, got ${t.dtype}`);
      feeds[name] = new this.ort.Tensor('float32', (await t.data()) as Float32Array, t.shape);
    }
    const results = await this.session.run(feeds);
    const out: Record<string, tf.Tensor> = {};
    for (const name of this.outputNames) {
      const r = results[name]!;
      if (!(r.data instanceof Float32Array))
        throw new Error(`OnnxSession.run: output '${name}' is ${r.type}, expected float32`);
      // CPU-located outputs own a fresh buffer each run: tfjs may keep it without a copy
      out[name] = tf.tensor(r.data, [...r.dims], 'float32');
    }
    return out;
  }

  /** Releases the runtime's session (its copy of the weights). */
  async release(): Promise<void> {
    await this.session.release();
  }

  private singleInput(): string {
    if (this.inputNames.length !== 1)
      throw new Error(
        `OnnxSession.run: the graph has ${this.inputNames.length} inputs (${this.inputNames.join(', ')}); pass tensors by name`,
      );
    return this.inputNames[0]!;
  }
}
