/**
 * The webgpu backend (DESIGN §3): core's ops and a tiny WS-FCN-like training step, run on webgpu and compared
 * with cpu (ops) and wasm (training step). In Node this needs the `webgpu` package (Dawn) and a Vulkan driver;
 * on a CPU-only machine Mesa's lavapipe gives a software adapter (scripts/install-lavapipe.sh). Without them
 * the suite is skipped and its title says why. Shapes are tiny: lavapipe compiles every shader with LLVM.
 *
 * On webgpu the ops take their composite paths (gridSampleComposite, padReplicateComposite,
 * resizeBilinearGradComposite, conv2d's tf-ops gradients, batchNorm through tf.moments); cpu runs core's kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pamr } from '@wsss/pamr';
import { describe, expect, it } from 'vitest';
import { backgroundSoftmax, classScores, multiLabelSoftMarginLoss } from '../heads/scores.js';
import { batchNorm } from '../ops/batchNorm.js';
import { conv2d } from '../ops/conv2d.js';
import { gridSample } from '../ops/gridSample.js';
import { padReplicate } from '../ops/padReplicate.js';
import { resizeBilinear } from '../ops/resize.js';
import { expectClose, seededTensor, seededValues } from '../testing/index.js';
import { type CompareBackend, maxAbs, runOn, webgpuUnavailableReason } from '../webgpu/compare.js';
import { describeBackend, setBackend } from './setBackend.js';

const skipReason = await webgpuUnavailableReason();
const adapter = skipReason === null ? describeBackend().adapter : undefined;
const title =
  skipReason === null
    ? `webgpu backend (adapter: ${adapter?.description || adapter?.device || 'unknown'})`
    : `webgpu backend (skipped: ${skipReason})`;

/** Per-element weights so every output element and channel enters the scalar loss differently. */
function weighted(y: tf.Tensor, seed = 99): tf.Scalar {
  return tf.sum(tf.mul(y, seededTensor(y.shape, seed)));
}

/** Runs `fn` on webgpu and on `ref`, and compares output by output (atol scales with each output's largest magnitude). */
async function compare(
  what: string,
  names: string[],
  fn: () => tf.Tensor[],
  opts: { ref?: CompareBackend; rtol?: number; atolScale?: number } = {},
): Promise<void> {
  const { ref = 'cpu', rtol = 1e-4, atolScale = 1e-4 } = opts;
  const expected = await runOn(ref, fn);
  const actual = await runOn('webgpu', fn);
  expect(actual.length).toBe(names.length);
  for (let i = 0; i < names.length; i++) {
    expect(actual[i]!.length, `${what} ${names[i]} size`).toBe(expected[i]!.length);
    expectClose(actual[i]!, expected[i]!, {
      rtol,
      atol: 1e-6 + atolScale * maxAbs(expected[i]!),
      what: `${what}: ${names[i]} (webgpu vs ${ref})`,
    });
  }
}

/** A grid (n,ho,wo,2) of points a fraction 0.15–0.85 px off the pixel lattice, some of them outside x. */
function offLatticeGrid(n: number, ho: number, wo: number, h: number, w: number, ac: boolean, seed: number) {
  const r = seededValues(n * ho * wo * 4, seed);
  const g = new Float32Array(n * ho * wo * 2);
  for (let i = 0; i < n * ho * wo; i++) {
    const u = Math.floor(((r[4 * i]! + 1) / 2) * (w + 1)) - 1 + 0.5 + 0.35 * r[4 * i + 2]!;
    const v = Math.floor(((r[4 * i + 1]! + 1) / 2) * (h + 1)) - 1 + 0.5 + 0.35 * r[4 * i + 3]!;
    g[2 * i] = ac ? (2 * u) / (w - 1) - 1 : (2 * u + 1) / w - 1;
    g[2 * i + 1] = ac ? (2 * v) / (h - 1) - 1 : (2 * v + 1) / h - 1;
  }
  return g;
}

describe.skipIf(skipReason !== null)(title, () => {
  it("setBackend('webgpu') reports the adapter; software adapters are flagged", async () => {
    expect(await setBackend('webgpu')).toBe('webgpu');
    const info = describeBackend();
    expect(info.name).toBe('webgpu');
    expect(info.adapter).toBeDefined();
    for (const k of ['vendor', 'architecture', 'device', 'description'] as const) {
      expect(typeof info.adapter![k]).toBe('string');
    }
    if (/llvmpipe|lavapipe|swiftshader/i.test(JSON.stringify(info.adapter))) {
      expect(info.adapter!.software).toBe(true);
    }
  });

  it.each([
    { stride: 1, dilation: 1 },
    { stride: 1, dilation: 2 },
    { stride: 2, dilation: 1 },
  ])(
    'conv2d forward and gradients (x, w, bias) match cpu: stride $stride, dilation $dilation',
    async ({ stride, dilation }) => {
      await compare(`conv2d s${stride} d${dilation}`, ['y', 'dx', 'dw', 'db'], () => {
        const x = seededTensor([2, 7, 6, 3], 1) as tf.Tensor4D;
        const w = seededTensor([3, 3, 3, 4], 2, 0.5) as tf.Tensor4D;
        const b = seededTensor([4], 3, 0.1) as tf.Tensor1D;
        const f = (a: tf.Tensor, k: tf.Tensor, c: tf.Tensor) =>
          conv2d(a as tf.Tensor4D, k as tf.Tensor4D, {
            stride,
            dilation,
            padding: dilation,
            bias: c as tf.Tensor1D,
          });
        return [f(x, w, b), ...tf.grads((a, k, c) => weighted(f(a, k, c)))([x, w, b])];
      });
    },
  );

  it('conv2d stride 2 + dilation 2: forward and dW, db match cpu', async () => {
    await compare('conv2d s2 d2', ['y', 'dw', 'db'], () => {
      const x = seededTensor([2, 7, 6, 3], 1) as tf.Tensor4D;
      const w = seededTensor([3, 3, 3, 4], 2, 0.5) as tf.Tensor4D;
      const b = seededTensor([4], 3, 0.1) as tf.Tensor1D;
      const f = (k: tf.Tensor, c: tf.Tensor) =>
        conv2d(x, k as tf.Tensor4D, { stride: 2, dilation: 2, padding: 2, bias: c as tf.Tensor1D });
      return [f(w, b), ...tf.grads((k, c) => weighted(f(k, c)))([w, b])];
    });
  });

  // Stride > 1 with dilation > 1: dX zero-inserts dy; rank-6 pads there produced invalid WGSL in
  // tfjs-backend-webgpu 4.22 (Dawn dropped the command buffer silently), so the op uses rank-4 pads only.
  it('conv2d stride 2 + dilation 2: dX matches cpu', async () => {
    await compare('conv2d s2 d2', ['dx'], () => {
      const x = seededTensor([2, 7, 6, 3], 1) as tf.Tensor4D;
      const w = seededTensor([3, 3, 3, 4], 2, 0.5) as tf.Tensor4D;
      const f = (a: tf.Tensor) => conv2d(a as tf.Tensor4D, w, { stride: 2, dilation: 2, padding: 2 });
      return [tf.grad((a) => weighted(f(a)))(x)];
    });
  });

  it.each([true, false])(
    'gridSample forward and gradients (x, grid) match cpu: alignCorners=%s',
    async (ac) => {
      await compare(`gridSample ac=${ac}`, ['y', 'dx', 'dgrid'], () => {
        const x = seededTensor([2, 4, 5, 3], 4) as tf.Tensor4D;
        const grid = tf.tensor4d(offLatticeGrid(2, 3, 4, 4, 5, ac, 5), [2, 3, 4, 2]);
        const f = (a: tf.Tensor, g: tf.Tensor) =>
          gridSample(a as tf.Tensor4D, g as tf.Tensor4D, { alignCorners: ac });
        return [f(x, grid), ...tf.grads((a, g) => weighted(f(a, g)))([x, grid])];
      });
    },
  );

  it.each([
    { ac: true, size: [5, 7] as [number, number] },
    { ac: false, size: [5, 7] as [number, number] },
    { ac: false, size: [2, 3] as [number, number] },
  ])('resizeBilinear forward and gradient match cpu: alignCorners=$ac → $size', async ({ ac, size }) => {
    await compare(`resizeBilinear ac=${ac} ${size}`, ['y', 'dx'], () => {
      const x = seededTensor([2, 3, 4, 2], 6) as tf.Tensor4D;
      const f = (a: tf.Tensor) => resizeBilinear(a as tf.Tensor4D, size, { alignCorners: ac });
      return [f(x), tf.grad((a) => weighted(f(a)))(x)];
    });
  });

  it('padReplicate forward and gradient match cpu', async () => {
    await compare('padReplicate', ['y', 'dx'], () => {
      const x = seededTensor([2, 3, 4, 2], 7) as tf.Tensor4D;
      const f = (a: tf.Tensor) => padReplicate(a as tf.Tensor4D, { top: 1, bottom: 2, left: 3, right: 0 });
      return [f(x), tf.grad((a) => weighted(f(a)))(x)];
    });
  });

  it('batchNorm (batch mode, training) output, running statistics and gradients match cpu', async () => {
    await compare('batchNorm batch', ['y', 'newMean', 'newVar', 'dx', 'dgamma', 'dbeta'], () => {
      const x = tf.add(seededTensor([2, 3, 3, 4], 8, 2), 0.5);
      const gamma = tf.add(seededTensor([4], 9, 0.2), 1) as tf.Tensor1D;
      const beta = seededTensor([4], 10, 0.1) as tf.Tensor1D;
      const movingMean = seededTensor([4], 11, 0.1) as tf.Tensor1D;
      const movingVariance = tf.add(seededTensor([4], 12, 0.5), 1) as tf.Tensor1D;
      const run = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        batchNorm(
          a,
          { gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D, movingMean, movingVariance },
          { mode: 'batch', training: true },
        );
      const r = run(x, gamma, beta);
      const grads = tf.grads((a, g, b) => weighted(run(a, g, b).y))([x, gamma, beta]);
      return [r.y, r.newMovingMean!, r.newMovingVariance!, ...grads];
    });
  });

  it('pamr (@wsss/pamr, composite path on webgpu) matches cpu', async () => {
    await compare('pamr', ['refined'], () => {
      const image = seededTensor([1, 6, 7, 3], 13) as tf.Tensor4D;
      const masks = tf.softmax(seededTensor([1, 6, 7, 3], 14, 3), -1) as tf.Tensor4D;
      return [pamr(image, masks, { iterations: 3, dilations: [1, 2] })];
    });
  });

  it('a WS-FCN-like training step gives the same loss and gradients on webgpu and wasm (1e-3 relative)', async () => {
    const names = ['loss', 'w1', 'gamma', 'beta', 'w2', 'w3', 'wFlow', 'w4', 'b4'];
    const step = (): tf.Tensor[] => {
      const image = seededTensor([2, 8, 8, 3], 20);
      const labels = tf.tensor2d([1, 0, 1, 0, 1, 0], [2, 3]);
      const weights = [
        seededTensor([3, 3, 3, 8], 21, 0.47), // w1: 3×3 conv, padding 1
        tf.add(seededTensor([8], 23, 0.2), 1), // gamma
        seededTensor([8], 24, 0.1), // beta
        seededTensor([3, 3, 8, 8], 25, 0.29), // w2: 3×3, dilation 2, padding 2
        seededTensor([3, 3, 8, 8], 29, 0.29), // w3: 3×3, stride 2, padding 1
        seededTensor([1, 1, 8, 2], 26, 0.3), // wFlow: 1×1 → grid offsets
        seededTensor([1, 1, 8, 3], 27, 0.6), // w4: 1×1 classifier
        seededTensor([3], 28, 0.1), // b4
      ];
      // Identity sampling grid of a 4×4 output over the 8×8 stride-1 features (alignCorners=true).
      const base = new Float32Array(2 * 4 * 4 * 2);
      for (let p = 0; p < 2 * 16; p++) {
        base[2 * p] = -1 + (2 * (p % 4)) / 3;
        base[2 * p + 1] = -1 + (2 * (Math.floor(p / 4) % 4)) / 3;
      }
      const baseGrid = tf.tensor4d(base, [2, 4, 4, 2]);
      const lossFn = (...ws: tf.Tensor[]): tf.Scalar => {
        const [w1, gamma, beta, w2, w3, wFlow, w4, b4] = ws as [
          tf.Tensor4D,
          tf.Tensor1D,
          tf.Tensor1D,
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor1D,
        ];
        const c1 = conv2d(image as tf.Tensor4D, w1, { padding: 1 }); // no bias before a batch-mode BN
        const bn = batchNorm(
          c1,
          { gamma, beta, movingMean: tf.zeros([8]), movingVariance: tf.ones([8]) },
          { mode: 'batch', training: true },
        );
        const h1 = tf.relu(bn.y) as tf.Tensor4D; // (2,8,8,8)
        // Stride and dilation in separate convs: stride 2 with dilation 2 is broken on webgpu (test above).
        const d2 = tf.relu(conv2d(h1, w2, { dilation: 2, padding: 2 })) as tf.Tensor4D; // (2,8,8,8)
        const h2 = tf.relu(conv2d(d2, w3, { stride: 2, padding: 1 })); // (2,4,4,8)
        const flow = tf.mul(tf.tanh(conv2d(h2, wFlow)), 0.2);
        const aligned = gridSample(h1, tf.add(baseGrid, flow) as tf.Tensor4D, { alignCorners: true });
        const z = conv2d(tf.add(h2, aligned) as tf.Tensor4D, w4, { bias: b4 }); // (2,4,4,3)
        const { logits, masks } = backgroundSoftmax(z);
        return multiLabelSoftMarginLoss(classScores(logits, masks), labels as tf.Tensor2D);
      };
      const { value, grads } = tf.valueAndGrads(lossFn)(weights);
      return [value, ...grads];
    };
    const onWasm = await runOn('wasm', step);
    const onWebgpu = await runOn('webgpu', step);
    expect(Number.isFinite(onWasm[0]![0]!)).toBe(true);
    for (let i = 0; i < names.length; i++) {
      expectClose(onWebgpu[i]!, onWasm[i]!, {
        rtol: 1e-3,
        atol: 1e-3 * maxAbs(onWasm[i]!),
        what: `training step ${names[i]} (webgpu vs wasm)`,
      });
    }
  });
});
