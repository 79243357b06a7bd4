/**
 * setBackend with the backend packages missing (simulated with `provideModule` loaders that fail as an absent
 * package does, in a test file of its own so that no backend is registered yet): the error names the backend asked
 * for and every package to install, once.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { provideModule, setBackend } from './setBackend.js';

const absent = (name: string) => () =>
  Promise.reject(new Error(`Cannot find package '${name}' imported from /app/index.js`));

describe('setBackend without backend packages', () => {
  beforeAll(() => {
    expect(tf.findBackendFactory('cpu')).toBeFalsy(); // a fresh registry, as in a new project
    for (const p of ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm'])
      provideModule(p, absent(p));
  });

  it("'wasm' names wasm and both packages to install", async () => {
    const e = await setBackend('wasm').catch((err: Error) => err);
    expect((e as Error).message).toMatch(
      /^backend 'wasm' is unavailable: cannot import @tensorflow\/tfjs-backend-wasm \(Cannot find package .*\); npm install @tensorflow\/tfjs-backend-wasm; it also needs the cpu backend's kernels: cannot import @tensorflow\/tfjs-backend-cpu \(.*\); npm install @tensorflow\/tfjs-backend-cpu$/,
    );
  });

  it("'cpu' names cpu; 'auto' says what to install once, not once per backend", async () => {
    await expect(setBackend('cpu')).rejects.toThrow(
      /^backend 'cpu' is unavailable: cannot import @tensorflow\/tfjs-backend-cpu .*; npm install @tensorflow\/tfjs-backend-cpu$/,
    );
    const e = (await setBackend('auto').catch((err: Error) => err)) as Error;
    expect(e.message.split('\n')).toHaveLength(3); // the headline, tensorflow's reason, the cpu kernels
    expect(e.message.match(/npm install @tensorflow\/tfjs-backend-cpu/g)).toHaveLength(1);
    expect(e.message).toContain("webgpu, wasm and cpu all need the cpu backend's kernels");
  });
});
