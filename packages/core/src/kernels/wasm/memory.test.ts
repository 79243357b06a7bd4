import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, useBackend } from '../../testing/index.js';
import { guardWasmHeap } from './heapGuard.js';

describe('wasm memory', () => {
  beforeAll(() => useBackend('wasm'));

  it('clones share the buffer (no copy) and each holder keeps it alive', () => {
    const backend = tf.backend() as unknown as { getMemoryOffset(id: object): number };
    const x = tf.tensor1d([1, 2, 3]);
    const y = x.clone();
    expect(backend.getMemoryOffset(y.dataId)).toBe(backend.getMemoryOffset(x.dataId));
    x.dispose();
    expectClose(y, [1, 2, 3]);
    const before = tf.memory().numBytes;
    y.dispose();
    expect(tf.memory().numBytes).toBe(before - 12);
  });

  it('gradients through saved (cloned) tensors are unchanged', () => {
    const g = tf.grad((t) => tf.sum(tf.mul(tf.square(t), t)))(tf.tensor1d([1, -2]));
    expectClose(g, [3, 12]);
  });

  it('turns a failed heap allocation (offset 0) into an explained error', () => {
    const map = new Map<object, { memoryOffset: number }>();
    const fake = {
      wasm: { HEAPU8: new Uint8Array(16) },
      dataIdMap: map,
      write(_v: unknown, _s: number[], _d: string) {
        const id = {};
        map.set(id, { memoryOffset: 0 });
        return id;
      },
    };
    guardWasmHeap(fake as never);
    expect(() => fake.write(null, [1024, 1024], 'float32')).toThrow(
      /wasm backend out of memory: could not allocate a \[1024,1024\] float32 tensor/,
    );
  });

  it('WSSS_WASM_HEAP_LIMIT_MB: an allocation that takes the heap past the limit fails the same way', () => {
    const heap = { length: 3 * 2 ** 20 }; // 3 MiB
    const map = new Map<object, { memoryOffset: number }>();
    const fake = {
      wasm: { HEAPU8: heap },
      dataIdMap: map,
      write(_v: unknown, _s: number[], _d: string) {
        const id = {};
        map.set(id, { memoryOffset: 64 });
        return id;
      },
    };
    const saved = process.env['WSSS_WASM_HEAP_LIMIT_MB'];
    try {
      process.env['WSSS_WASM_HEAP_LIMIT_MB'] = '4';
      guardWasmHeap(fake as never);
      expect(() => fake.write(null, [2, 3], 'float32')).not.toThrow(); // 3 MiB ≤ 4
      heap.length = 4 * 2 ** 20 + 1;
      expect(() => fake.write(null, [2, 3], 'float32')).toThrow(
        /a \[2,3\] float32 tensor took the heap to 4 MB, past the 4 MB that WSSS_WASM_HEAP_LIMIT_MB allows/,
      );
      process.env['WSSS_WASM_HEAP_LIMIT_MB'] = 'lots';
      expect(() => guardWasmHeap({ ...fake } as never)).toThrow(
        /WSSS_WASM_HEAP_LIMIT_MB="lots": expected a positive/,
      );
    } finally {
      if (saved === undefined) delete process.env['WSSS_WASM_HEAP_LIMIT_MB'];
      else process.env['WSSS_WASM_HEAP_LIMIT_MB'] = saved;
    }
  });
});
