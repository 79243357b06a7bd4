import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../testing/index.js';
import { measurePeakTensorBytes, memoryUsage } from './memory.js';

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

describe.each(['cpu', 'wasm'] as const)('measurePeakTensorBytes on %s', (backend) => {
  it('counts each buffer once, net of what is freed, at its highest point', async () => {
    await useBackend(backend);
    const MiB = 2 ** 20;
    const keep = tf.zeros([MiB / 4]); // 1 MiB alive before and after
    const start = tf.memory().numBytes;
    const { result, peakBytes } = await measurePeakTensorBytes(() => {
      const a = tf.ones([2, MiB / 4]); // +2 MiB
      const views = [tf.reshape(a, [MiB / 2]), tf.clone(a), tf.clone(a)]; // share a's buffer: +0
      const b = tf.add(a, 1); // +2 MiB (and 4 bytes for the 1) → 4 MiB on top: the peak
      tf.dispose([a, b, ...views]);
      keep.dispose(); // −1 MiB (from before)
      const c = tf.ones([3, MiB / 4]); // +3 MiB → 2 MiB on top
      return c;
    });
    expect(peakBytes).toBe(start + 4 * MiB + 4); // + the scalar 1
    // tfjs's own count sees the three views as 6 MiB more
    result.dispose();
    expect(tf.memory().numBytes).toBe(start - MiB);
  });
});
