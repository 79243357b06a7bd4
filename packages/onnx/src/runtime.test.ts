/**
 * OnnxSession: tfjs tensors in and out of ONNX Runtime, on the onnxruntime-node module loaded lazily or a module
 * passed in; its errors; no tfjs tensor left behind.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { useBackend } from '@wsss/core/testing';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx } from './export.js';
import { loadOnnxRuntime, OnnxSession, type OrtModuleLike } from './runtime.js';
import { image, relError, smallDsrgNet, smallWsFcn, tfForward } from './testHelpers.js';

describe('OnnxSession', () => {
  beforeAll(() => useBackend('cpu'));

  it('runs an exported network on tfjs tensors: outputs by name, equal to the tfjs forward, nothing leaked', async () => {
    const model = smallWsFcn({ context: 'fca', fusion: 'sf2', depth: 'light' });
    const s = await OnnxSession.create(exportOnnx(model, { head: 'wsfcn-reference' }), { threads: 1 });
    expect(s.inputNames).toEqual(['image']);
    expect(s.outputNames).toEqual(['last_conv', 'class_scores', 'masks']);
    expect(s.describe()).toEqual({
      runtime: 'onnxruntime-node',
      version: ort.env.versions.node,
      executionProvider: 'cpu',
      threads: 1,
    });
    const x = image(1, 23, 30, 3);
    const ref = tfForward(model, x)[0]!;
    const before = tf.memory().numTensors;
    for (let rep = 0; rep < 3; rep++) {
      const out = await s.run(x);
      expect(Object.keys(out)).toEqual(['last_conv', 'class_scores', 'masks']);
      expect(out['masks']!.shape).toEqual([1, 23, 30, 6]);
      const z = out['last_conv']!;
      expect(relError({ data: z.dataSync() as Float32Array, dims: z.shape }, ref)).toBeLessThan(1e-5);
      // the same by input name
      const named = await s.run({ image: x });
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(named['last_conv']!, z))).dataSync()[0])).toBe(0);
      tf.dispose([...Object.values(out), ...Object.values(named)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    await s.release();
    x.dispose();
    model.dispose();
  });

  it('takes a runtime module of the caller (as onnxruntime-web in a browser) and says which one ran', async () => {
    const calls: string[] = [];
    const wrapped: OrtModuleLike = {
      Tensor: ort.Tensor as unknown as OrtModuleLike['Tensor'],
      env: { versions: { web: '9.9.9' } },
      InferenceSession: {
        create: async (bytes, options) => {
          calls.push(JSON.stringify(options));
          // the wasm provider is onnxruntime-web's; onnxruntime-node runs the same graph on cpu
          return (await ort.InferenceSession.create(bytes, {
            ...options,
            executionProviders: ['cpu'],
          })) as unknown as Awaited<ReturnType<OrtModuleLike['InferenceSession']['create']>>;
        },
      },
    };
    const model = smallDsrgNet('light');
    const s = await OnnxSession.create(exportOnnx(model), { ort: wrapped, threads: 2 });
    expect(s.describe()).toEqual({
      runtime: 'onnxruntime-web',
      version: '9.9.9',
      executionProvider: 'wasm',
      threads: 2,
    });
    expect(JSON.parse(calls[0]!)).toEqual({
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
    });
    const x = image(2, 17, 19, 4);
    const out = await s.run(x);
    const z = out['dsrg_head']!;
    expect(
      relError({ data: z.dataSync() as Float32Array, dims: z.shape }, tfForward(model, x)[0]!),
    ).toBeLessThan(1e-5);
    tf.dispose([x, z]);
    await s.release();
    model.dispose();
  });

  it('runs on the webgpu execution provider where Dawn finds an adapter (lavapipe in CI)', async (ctx) => {
    const model = smallDsrgNet('light');
    let s: OnnxSession;
    try {
      s = await OnnxSession.create(exportOnnx(model), { executionProvider: 'webgpu' });
    } catch (e) {
      model.dispose();
      ctx.skip(`no WebGPU adapter for onnxruntime-node here: ${(e as Error).message.slice(0, 200)}`);
      return;
    }
    expect(s.describe().executionProvider).toBe('webgpu');
    const x = image(1, 21, 26, 6);
    const out = await s.run(x);
    const z = out['dsrg_head']!;
    // GPU arithmetic (software Vulkan in CI) differs from the CPU's in the last bits
    expect(
      relError({ data: z.dataSync() as Float32Array, dims: z.shape }, tfForward(model, x)[0]!),
    ).toBeLessThan(1e-4);
    tf.dispose([x, z]);
    await s.release();
    model.dispose();
  });

  it('loadOnnxRuntime imports onnxruntime-node once', async () => {
    const a = await loadOnnxRuntime();
    expect(a).toBe(await loadOnnxRuntime());
    expect(typeof a.InferenceSession.create).toBe('function');
  });

  it('errors name the execution provider, the threads, the input and the dtype', async () => {
    const model = smallDsrgNet('light');
    const bytes = exportOnnx(model);
    await expect(OnnxSession.create(bytes, { executionProvider: 'tpu' as never })).rejects.toThrow(
      "unknown ONNX execution provider 'tpu'; expected one of cpu, webgpu, cuda, wasm",
    );
    await expect(OnnxSession.create(bytes, { threads: 1.5 })).rejects.toThrow(
      'ONNX threads must be a whole number ≥ 0, got 1.5',
    );
    await expect(OnnxSession.create(bytes, { executionProvider: 'cuda' })).rejects.toThrow(
      /onnxruntime-node \d+\.\d+\.\d+\) could not create a session on execution provider 'cuda'/,
    );
    await expect(OnnxSession.create(new Uint8Array([1, 2, 3]))).rejects.toThrow(
      "could not create a session on execution provider 'cpu'",
    );
    const s = await OnnxSession.create(bytes);
    const x = tf.zeros([1, 8, 8, 3], 'int32');
    await expect(s.run(x)).rejects.toThrow("OnnxSession.run: input 'image' must be float32, got int32");
    await expect(s.run({ picture: x })).rejects.toThrow(
      "OnnxSession.run: no tensor for input 'image' (the graph's inputs: image)",
    );
    x.dispose();
    await s.release();
    // a graph with two inputs needs its tensors by name
    const a = tfl.input({ shape: [null, null, 3], name: 'a' });
    const b = tfl.input({ shape: [null, null, 3], name: 'b' });
    const two = tfl.model({ inputs: [a, b], outputs: [a, b] });
    expect(() => exportOnnx(two)).not.toThrow();
    const s2 = await OnnxSession.create(exportOnnx(two));
    const y = tf.zeros([1, 4, 4, 3]);
    await expect(s2.run(y)).rejects.toThrow(
      'OnnxSession.run: the graph has 2 inputs (a, b); pass tensors by name',
    );
    const ones = tf.ones([1, 4, 4, 3]);
    const both = await s2.run({ a: y, b: ones });
    expect(s2.outputNames).toHaveLength(2);
    expect(both[s2.outputNames[0]!]!.dataSync()[0]).toBe(0);
    expect(both[s2.outputNames[1]!]!.dataSync()[0]).toBe(1);
    tf.dispose([y, ones, ...Object.values(both)]);
    await s2.release();
    model.dispose();
  });
});
