import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../testing/index.js';
import { memoryUsage } from './memory.js';

describe('memoryUsage', () => {
  it('wasm: tensor bytes count exactly; the heap holds them and does not shrink', async () => {
    await useBackend('wasm');
    const before = memoryUsage();
    expect(before.backend).toBe('wasm');
    expect(before.gpuBufferBytes).toBeNull();
    const t = tf.zeros([4, 1024, 1024]); // 16 MiB
    const during = memoryUsage();
    expect(during.tensorBytes - before.tensorBytes).toBe(16 * 2 ** 20);
    expect(during.wasmHeapBytes!).toBeGreaterThanOrEqual(during.tensorBytes);
    t.dispose();
    const after = memoryUsage();
    expect(after.tensorBytes).toBe(before.tensorBytes);
    expect(after.wasmHeapBytes).toBe(during.wasmHeapBytes);
  });

  it('cpu: tensor bytes only', async () => {
    await useBackend('cpu');
    const t = tf.ones([3, 5], 'int32');
    const m = memoryUsage();
    expect(m).toMatchObject({ backend: 'cpu', wasmHeapBytes: null, gpuBufferBytes: null });
    expect(m.tensorBytes).toBeGreaterThanOrEqual(60);
    t.dispose();
  });
});
