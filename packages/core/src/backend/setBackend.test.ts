import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, describeBackend, setBackend } from './setBackend.js';

describe('setBackend', () => {
  it('sets cpu and wasm by name and returns the name', async () => {
    expect(await setBackend('cpu')).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await setBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(describeBackend().wasm?.simd).toBe(true);
  });

  it('rejects unknown names, listing the valid ones', async () => {
    await expect(setBackend('gpu' as never)).rejects.toThrow(
      /unknown backend 'gpu'; expected one of auto, tensorflow, webgpu, wasm, cpu/,
    );
  });

  it('explains what to install when tensorflow is absent', async () => {
    const err = await setBackend('tensorflow').catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.message).toMatch(/@tensorflow\/tfjs-node-gpu.*CUDA 11\.2/);
  });

  it('auto falls through to a backend that starts (no tfjs-node, no hardware adapter here → wasm)', async () => {
    const name = await setBackend('auto');
    expect(['tensorflow', 'webgpu', 'wasm']).toContain(name);
    expect(tf.getBackend()).toBe(name);
  });
});
