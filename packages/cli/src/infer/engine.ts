/**
 * Inference engines: what runs the network's eval-mode forward (image batch → logits) for `wsss infer`, `eval`
 * and `pseudo-labels`. `tfjs` runs the LayersModel on the chosen tfjs backend; `onnx` exports the very same
 * network with @wsss/onnx and runs it on ONNX Runtime (onnxruntime-node, loaded only when asked for). Everything
 * around the forward (views, merges, PAMR, CRF, writing) stays in tfjs and is shared.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { applyModel } from '@wsss/core';
import { exportOnnx, ONNX_EXECUTION_PROVIDERS, type OnnxExecutionProvider, OnnxSession } from '@wsss/onnx';
import { EngineUnavailableError } from '../commands/errors.js';
import { ConfigError } from '../config/schema.js';
import type { Output } from '../run/output.js';

/** The engines `--engine` accepts. */
export const ENGINES = ['tfjs', 'onnx'] as const;
export type EngineName = (typeof ENGINES)[number];

/** The network's eval-mode forward: (N,H,W,3) normalised images → its single output (logits); caller disposes. */
export type NetForward = (images: tf.Tensor4D) => Promise<tf.Tensor4D>;

/** A forward plus what it is, for messages and results. */
export interface InferenceEngine {
  name: EngineName;
  /** e.g. `tfjs (wasm)` or `onnx (onnxruntime-node 1.30.0, cpu, 2 threads)`. */
  description: string;
  forward: NetForward;
  /** Releases what the engine holds beyond the tfjs model (the ONNX session). */
  release(): Promise<void>;
}

/** What the user asked for: `--engine` and `--ep`. */
export interface EngineRequest {
  engine?: string;
  executionProvider?: string;
}

/** Validates `--engine` / `--ep` before anything is loaded. */
export function parseEngineRequest(r: EngineRequest): {
  engine: EngineName;
  executionProvider?: OnnxExecutionProvider;
} {
  const engine = (r.engine ?? 'tfjs') as EngineName;
  if (!ENGINES.includes(engine))
    throw new ConfigError(`--engine ${JSON.stringify(r.engine)}: expected ${ENGINES.join(' or ')}`);
  if (r.executionProvider === undefined) return { engine };
  if (engine !== 'onnx')
    throw new ConfigError('--ep chooses an ONNX Runtime execution provider: it needs --engine onnx');
  const ep = r.executionProvider as OnnxExecutionProvider;
  const offered: readonly string[] = ONNX_EXECUTION_PROVIDERS.filter((e) => e !== 'wasm');
  if (!offered.includes(ep))
    throw new ConfigError(
      `--ep ${JSON.stringify(r.executionProvider)}: expected one of ${offered.join(', ')}`,
    );
  return { engine, executionProvider: ep };
}

/** The tfjs engine: `applyModel` in eval mode on the current backend. */
export function tfjsEngine(model: LayersModel, backend: string): InferenceEngine {
  return {
    name: 'tfjs',
    description: `tfjs (${backend})`,
    forward: async (x) => tf.tidy(() => applyModel(model, x, { training: false }) as tf.Tensor4D),
    release: async () => {},
  };
}

/**
 * The ONNX engine: the model exported in memory (`exportOnnx`, NHWC, its own output only) and run by an ONNX
 * Runtime session. `threads` follows `--threads` (`auto`: ONNX Runtime's default, one per physical core).
 */
export async function onnxEngine(
  model: LayersModel,
  opts: { executionProvider?: OnnxExecutionProvider; threads: number | 'auto' },
): Promise<InferenceEngine> {
  const bytes = exportOnnx(model, { metadata: { 'wsss.source': 'wsss --engine onnx' } });
  let session: OnnxSession;
  try {
    session = await OnnxSession.create(bytes, {
      executionProvider: opts.executionProvider ?? 'cpu',
      threads: opts.threads === 'auto' ? 0 : opts.threads,
    });
  } catch (e) {
    throw new EngineUnavailableError(`--engine onnx: ${(e as Error).message}`, { cause: e });
  }
  const [output] = session.outputNames;
  const d = session.describe();
  const threads =
    d.executionProvider === 'cpu' ? `, ${d.threads || 'default'} thread${d.threads === 1 ? '' : 's'}` : '';
  return {
    name: 'onnx',
    description: `onnx (${d.runtime}${d.version ? ` ${d.version}` : ''}, ${d.executionProvider}${threads})`,
    forward: async (x) => {
      const out = await session.run(x);
      for (const [k, t] of Object.entries(out)) if (k !== output) t.dispose();
      return out[output!] as tf.Tensor4D;
    },
    release: () => session.release(),
  };
}

/** Builds the requested engine for an opened network and prints which one runs. */
export async function startEngine(
  model: LayersModel,
  request: EngineRequest,
  ctx: { backend: string; threads: number | 'auto'; out: Output },
): Promise<InferenceEngine> {
  const r = parseEngineRequest(request);
  const started = Date.now();
  const engine =
    r.engine === 'onnx'
      ? await onnxEngine(model, {
          threads: ctx.threads,
          ...(r.executionProvider ? { executionProvider: r.executionProvider } : {}),
        })
      : tfjsEngine(model, ctx.backend);
  if (r.engine === 'onnx') {
    ctx.out.info(
      `engine: ${engine.description}; graph exported and loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  ctx.out.event('engine', { engine: engine.name, description: engine.description });
  return engine;
}
