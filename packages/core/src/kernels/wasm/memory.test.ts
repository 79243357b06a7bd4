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
});
