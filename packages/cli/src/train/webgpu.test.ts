import * as tf from '@tensorflow/tfjs-core';
import { seedRandom, setBackend } from '@wsss/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createWsFcn } from '../model/wsfcn.js';
import { WSFCN_LOSS_DEFAULTS, wsFcnLosses } from './step.js';

/** Loss and gradients of one WS-FCN step (mask phase on) on `backend`, from seeded weights, dropout and batch. */
async function stepOn(
  backend: 'wasm' | 'webgpu',
): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
  await setBackend(backend);
  seedRandom(5);
  const net = createWsFcn({
    numClasses: 3,
    backbone: { channels: [4, 4, 8, 8, 8, 8, 8], depth: 'light', bnMode: 'batch', freezeStem: false },
    fcaBranches: [
      { kernel: 1, dilation: 1, padding: 0 },
      { kernel: 3, dilation: 2, padding: 2 },
    ],
    contextBnMode: 'batch',
  });
  seedRandom(9);
  const raw = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const batch = {
    raw,
    images: tf.sub(raw, 0.5) as tf.Tensor4D,
    labels: tf.tensor2d([
      [1, 0, 1],
      [0, 1, 0],
    ]),
  };
  const { value, grads } = tf.variableGrads(
    () => wsFcnLosses(net, batch, 1, { ...WSFCN_LOSS_DEFAULTS, pamrIterations: 3 }).loss,
    net.model.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  const out: Record<string, Float32Array> = {};
  for (const w of net.model.trainableWeights)
    out[w.originalName] = (await grads[(w.read() as tf.Variable).name]!.data()) as Float32Array;
  const loss = (await value.data())[0]!;
  tf.dispose([value, grads, raw, batch.images, batch.labels]);
  net.model.dispose();
  seedRandom(null);
  return { loss, grads: out };
}

let webgpu = '';
try {
  await setBackend('webgpu');
} catch (e) {
  webgpu = (e as Error).message.split('.')[0]!;
}

describe.skipIf(webgpu !== '')(
  `WS-FCN training step on webgpu vs wasm${webgpu ? ` (skipped: ${webgpu})` : ''}`,
  () => {
    afterAll(() => setBackend('wasm'));

    it('losses and gradients agree to 1e-3 relative from the same weights, dropout draws and batch', async () => {
      const a = await stepOn('wasm');
      const b = await stepOn('webgpu');
      expect(Math.abs(a.loss - b.loss) / Math.abs(a.loss)).toBeLessThan(1e-3);
      const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      // Relative to the gradient's own norm, or to 1e-3 of the largest one: a conv bias followed by batch-statistics
      // BN has an exactly zero gradient, which both backends return as ~1e-8 of rounding noise.
      const largest = Math.max(...Object.values(a.grads).map(norm));
      for (const [name, g] of Object.entries(a.grads)) {
        const h = b.grads[name]!;
        const diff = norm(g.map((v, i) => v - h[i]!));
        expect(diff / Math.max(norm(g), 1e-3 * largest), name).toBeLessThan(1e-3);
      }
    }, 180_000);
  },
);
