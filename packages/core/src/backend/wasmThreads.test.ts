import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { bnSimdFor } from '../kernels/batchNorm/simd.js';
import { batchNorm } from '../ops/batchNorm.js';
import { seededTensor } from '../testing/index.js';
import { ensureGradients } from './gradients.js';
import { enableWasmThreadsInNode, wasmThreadsState } from './wasmThreads.js';

/** A training-mode BN + ReLU forward and its input gradient, as one plain array. */
function bnStep(): Float32Array {
  return tf.tidy(() => {
    const x = seededTensor([2, 5, 7, 8], 3, 2);
    const p = {
      gamma: seededTensor([8], 4, 1) as tf.Tensor1D,
      beta: seededTensor([8], 5, 1) as tf.Tensor1D,
      movingMean: tf.zeros([8]) as tf.Tensor1D,
      movingVariance: tf.ones([8]) as tf.Tensor1D,
    };
    const f = (xx: tf.Tensor) => batchNorm(xx, p, { mode: 'batch', training: true, relu: true }).y;
    const dx = tf.grad((xx) => tf.sum(tf.mul(f(xx), seededTensor([2, 5, 7, 8], 6, 1))))(x);
    return Float32Array.from([...f(x).dataSync(), ...dx.dataSync()]);
  });
}

async function missingFeature(): Promise<string | undefined> {
  if (typeof SharedArrayBuffer === 'undefined') return 'no SharedArrayBuffer';
  try {
    const wt = await import('node:worker_threads');
    if (typeof wt.Worker !== 'function') return 'no worker_threads.Worker';
  } catch {
    return 'no worker_threads';
  }
  return undefined;
}
const missing = await missingFeature();
if (missing) console.warn(`wasmThreads tests skipped: this environment has ${missing}`);

describe.skipIf(!!missing)('enableWasmThreadsInNode', () => {
  it('runs the threaded-SIMD build with 2 threads and matches the cpu backend', async () => {
    await tf.setBackend('cpu');
    await ensureGradients();
    const bnRef = bnStep();
    const x = tf.randomNormal<tf.Rank.R4>([2, 32, 32, 16], 0, 1, 'float32', 1);
    const w = tf.randomNormal<tf.Rank.R4>([3, 3, 16, 24], 0, 1, 'float32', 2);
    const ref = tf.conv2d(x, w, 1, 'same');
    const refData = ref.dataSync().slice();
    ref.dispose();

    expect(await enableWasmThreadsInNode(2)).toBe(true);
    expect(wasmThreadsState()).toEqual({ enabled: true, requested: 2, threads: 2 });
    expect(tf.getBackend()).toBe('cpu'); // left as it was
    expect(wasm.getThreadsCount()).toBe(2); // XNNPACK's pool in the wasm module
    expect(tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')).toBe(true);

    await tf.setBackend('wasm');
    const y = tf.conv2d(x, w, 1, 'same');
    const got = y.dataSync();
    y.dispose();
    expect(got.length).toBe(refData.length);
    let maxErr = 0;
    for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - refData[i]!));
    expect(maxErr).toBeLessThan(1e-4);

    // Custom JS kernels read and write the (now SharedArrayBuffer-backed) heap through typedArrayFromHeap.
    tf.registerKernel({
      kernelName: 'WsssTestAxpb',
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as any;
        const xi = inputs['x'] as tf.TensorInfo;
        const out = b.makeOutput(xi.shape, 'float32');
        const src = b.typedArrayFromHeap(xi) as Float32Array;
        const dst = b.typedArrayFromHeap(out) as Float32Array;
        expect(src.buffer).toBeInstanceOf(SharedArrayBuffer);
        for (let i = 0; i < src.length; i++) dst[i] = 2 * src[i]! + 1;
        return out;
      },
    });
    const v = tf.tensor1d([1, -2, 3.5]);
    const r = tf.engine().runKernel('WsssTestAxpb', { x: v }, {}) as tf.Tensor;
    expect(Array.from(r.dataSync())).toEqual([3, -3, 8]);
    tf.unregisterKernel('WsssTestAxpb', 'wasm');

    // BatchNorm's SIMD loops import the shared heap (their build for the multithreaded binary): the cpu bits
    expect(bnSimdFor(tf.backend() as never, 8)).not.toBeNull();
    expect(Array.from(bnStep())).toEqual(Array.from(bnRef));
    tf.dispose([x, w, v, r]);

    // A second call with the same count is a no-op; a wasm backend holding tensors is not replaced.
    expect(await enableWasmThreadsInNode(2)).toBe(true);
    const keep = tf.ones([2]);
    expect(await enableWasmThreadsInNode(3)).toBe(false);
    expect(wasmThreadsState()).toMatchObject({ enabled: true, requested: 3, threads: 2 });
    expect(wasmThreadsState().reason).toMatch(/holds tensors/);
    expect(wasm.getThreadsCount()).toBe(2);
    keep.dispose();
  });

  it('rejects a thread count below 2 without touching the backend', async () => {
    expect(await enableWasmThreadsInNode(1)).toBe(false);
    expect(wasmThreadsState().reason).toMatch(/≥ 2/);
  });

  it('does not keep the process alive: a script that enables threads and runs a conv exits by itself', async () => {
    // Run wasmThreads.ts (transpiled, its package imports pointed at absolute URLs) in a fresh Node process.
    const require = createRequire(import.meta.url);
    const ts = (await import('typescript')).default;
    const here = fileURLToPath(new URL('./wasmThreads.ts', import.meta.url));
    const coreUrl = pathToFileURL(require.resolve('@tensorflow/tfjs-core')).href;
    const wasmUrl = pathToFileURL(require.resolve('@tensorflow/tfjs-backend-wasm')).href;
    const cpuUrl = pathToFileURL(require.resolve('@tensorflow/tfjs-backend-cpu')).href;
    const js = ts
      .transpileModule(readFileSync(here, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      })
      .outputText.replaceAll("'@tensorflow/tfjs-core'", JSON.stringify(coreUrl))
      .replaceAll("'@tensorflow/tfjs-backend-wasm'", JSON.stringify(wasmUrl));
    const script = `${js}
const tfc = await import(${JSON.stringify(coreUrl)});
await import(${JSON.stringify(cpuUrl)});
const ok = await enableWasmThreadsInNode(2);
await tfc.setBackend('wasm');
const y = tfc.conv2d(tfc.ones([1, 16, 16, 8]), tfc.ones([3, 3, 8, 8]), 1, 'same');
console.log(JSON.stringify({ ok, threads: wasmThreadsState().threads, v: y.dataSync()[0], reason: wasmThreadsState().reason }));`;
    const started = Date.now();
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { timeout: 45_000, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? null) : 0, stdout, stderr }),
      );
      child.stdin?.end();
    });
    expect(code, `stderr: ${stderr}`).toBe(0);
    const last = stdout.trim().split('\n').pop()!;
    expect(JSON.parse(last)).toEqual({ ok: true, threads: 2, v: 4 * 8 }); // 4 taps × 8 channels at the corner
    expect(Date.now() - started).toBeLessThan(45_000);
  });
});
