/**
 * The page's ONNX engine: `model.onnx` (the tfjs model exported by @wsss/onnx's `exportOnnx`: input `image`
 * (N,H,W,3), output `last_conv` (N,h,w,K), NHWC) on ONNX Runtime Web, with the wasm or the WebGPU execution
 * provider. This module and onnxruntime-web are imported only when the page asks for the onnx engine, so a tfjs page
 * downloads neither.
 *
 * Each ORT build needs its own .wasm binary (the glue code is inside the bundle): `onnxruntime-web/wasm` the plain
 * SIMD one, `onnxruntime-web/webgpu` the asyncify one with WebGPU. Vite emits both next to the bundle (`?url`) and
 * the page hands the one in use to `env.wasm.wasmPaths`; only that one is fetched.
 */
/// <reference types="vite/client" />
// (the `?url` imports' types, also when this file is type-checked through the tests' tsconfig)
import * as tf from '@tensorflow/tfjs-core';
import ortWebgpuWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import type { Engine, OnnxEp } from './segmenter.js';

type Ort = typeof import('onnxruntime-web/wasm');

/** The names `exportOnnx` gives a WS-FCN's input and its foreground logits (head 'none'). */
const INPUT = 'image';
const OUTPUT = 'last_conv';

/** The part of the WebGPU API the page reads (TypeScript's DOM library has no WebGPU types). */
interface GpuLike {
  requestAdapter(): Promise<{
    info?: { vendor?: string; architecture?: string; description?: string };
  } | null>;
}

/** The adapter's name for the report, or the reason there is no WebGPU adapter. */
async function webgpuAdapter(): Promise<{ name: string } | { missing: string }> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) return { missing: 'this browser has no navigator.gpu' };
  let adapter: Awaited<ReturnType<GpuLike['requestAdapter']>>;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { missing: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { missing: 'no WebGPU adapter' };
  const i = adapter.info ?? {};
  const name = [i.vendor, i.architecture || i.description].filter(Boolean).join(' ');
  return { name: name || 'adapter' };
}

/**
 * WebAssembly threads need SharedArrayBuffer, which a page has only when cross-origin isolated (COOP/COEP
 * headers). Isolated: ONNX Runtime's own default (half the cores, at most 4); otherwise one thread.
 */
function wasmThreads(): { threads: number; note?: string } {
  if (!globalThis.crossOriginIsolated)
    return {
      threads: 1,
      note: '1 thread: the page is not cross-origin isolated (no COOP/COEP headers), so WebAssembly threads are off',
    };
  return { threads: Math.max(1, Math.min(4, Math.ceil((navigator.hardwareConcurrency || 1) / 2))) };
}

async function importOrt(ep: OnnxEp, threads: number): Promise<Ort> {
  const ort: Ort =
    ep === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
  const url = ep === 'webgpu' ? ortWebgpuWasmUrl : ortWasmUrl;
  ort.env.wasm.wasmPaths = { wasm: new URL(url, location.href).href };
  ort.env.wasm.numThreads = threads;
  return ort;
}

/**
 * The gist of an ONNX Runtime error: its ERROR_MESSAGE without the source location and the failed check, e.g.
 * "Provider type for Cast node with name 'Cast_151' is not set." for "Can't create a session. ERROR_CODE: 1,
 * ERROR_MESSAGE: /…/transformer_memcpy.cc:254 bool … was false. Provider type … is not set.".
 */
function ortReason(e: Error): string {
  const message = /ERROR_MESSAGE: ([\s\S]*)$/.exec(e.message)?.[1] ?? e.message;
  return message.replace(/^\S+\.(?:cc|h|cpp):\d+ [\s\S]*? was false\.\s*/, '').trim();
}

async function fetchModel(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok)
    throw new Error(
      `cannot load ${url}: HTTP ${res.status} (the ONNX model is written by \`npm run web:model\`; for assets made ` +
        'before it had one: `node apps/examples/scripts/web-model.mjs --onnx-only`)',
    );
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Loads `model.onnx` into an ONNX Runtime Web session on `ep`. WebGPU is used when the browser has an adapter and
 * the session starts on it; otherwise the engine runs on wasm and its `notes` say why. The forward reads the view
 * back from tfjs, runs the session and hands `last_conv` back as a tfjs tensor, so the page's post-processing is the
 * tfjs engine's.
 */
export async function loadOnnxEngine(modelUrl: string, ep: OnnxEp): Promise<Engine> {
  const notes: string[] = [];
  const bytes = await fetchModel(modelUrl);
  const { threads, note } = wasmThreads();
  let use: OnnxEp = ep;
  let adapterName = '';
  if (use === 'webgpu') {
    const adapter = await webgpuAdapter();
    if ('missing' in adapter) {
      notes.push(`WebGPU unavailable (${adapter.missing}): ONNX Runtime runs on wasm instead`);
      use = 'wasm';
    } else adapterName = adapter.name;
  }
  let ort = await importOrt(use, threads);
  let session: Awaited<ReturnType<Ort['InferenceSession']['create']>>;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: [use] });
  } catch (e) {
    if (use !== 'webgpu') throw e;
    notes.push(
      `WebGPU session failed on ${adapterName} (${ortReason(e as Error)}): ONNX Runtime runs on wasm instead`,
    );
    use = 'wasm';
    ort = await importOrt(use, threads);
    session = await ort.InferenceSession.create(bytes, { executionProviders: [use] });
  }
  if (!session.inputNames.includes(INPUT) || !session.outputNames.includes(OUTPUT)) {
    const io = `inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')}`;
    await session.release();
    throw new Error(`${modelUrl}: expected input '${INPUT}' and output '${OUTPUT}' (exportOnnx), got ${io}`);
  }
  if (use === 'wasm' && note) notes.push(note);
  const where =
    use === 'webgpu'
      ? `webgpu (${adapterName})`
      : `wasm (SIMD, ${threads} thread${threads === 1 ? '' : 's'})`;
  const Tensor = ort.Tensor;

  return {
    name: 'onnx',
    label: `ONNX Runtime Web ${ort.env.versions.web ?? ort.env.versions.common} · ${where}`,
    ep: use,
    notes,
    // the outputs come back to the CPU before run() resolves
    forwardTimed: true,
    async forward(x: tf.Tensor4D): Promise<tf.Tensor4D> {
      const image = new Tensor('float32', (await x.data()) as Float32Array, x.shape);
      let z: InstanceType<typeof Tensor> | undefined;
      try {
        z = (await session.run({ [INPUT]: image }, [OUTPUT]))[OUTPUT]!;
        const [n, h, w, k] = z.dims as readonly number[];
        if (z.dims.length !== 4 || n !== x.shape[0])
          throw new Error(`${OUTPUT}: expected (N,h,w,K) for ${x.shape[0]} image(s), got [${z.dims}]`);
        return tf.tensor4d(z.data as Float32Array, [n, h!, w!, k!]);
      } finally {
        image.dispose();
        z?.dispose();
      }
    },
    dispose: () => void session.release(),
  };
}
