/**
 * One-pass optimiser updates for `cpu` and `wasm`: the update of a variable in a single kernel over typed arrays
 * instead of ~10 element-wise kernels (SGD with momentum, Adam; PyTorch's rules, see GroupedOptimizer). A WS-FCN
 * step updates ~120 variables: the per-kernel overhead of ~1,400 small kernels was a visible share of a demo-sized
 * training step on the CPU. The arithmetic is done in float64 and stored as float32.
 */
import * as tf from '@tensorflow/tfjs-core';
import { onTypedArrays } from '../typedArrays.js';

export const OPTIMIZER_UPDATE = 'WsssOptimizerUpdate';
const BACKENDS = ['cpu', 'wasm'] as const;

/** Attributes of one update. */
export interface UpdateAttrs {
  kind: 'sgd' | 'adam';
  /** Learning rate (already multiplied by the group's multiplier). */
  lr: number;
  /** L2 weight decay added to the gradient. */
  weightDecay: number;
  /** SGD momentum (0: plain SGD, no slot). */
  momentum: number;
  /** SGD: whether the momentum buffer holds a gradient already (PyTorch starts it at the first gradient). */
  started: boolean;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Adam: step number (1-based) for the bias corrections. */
  step: number;
}

/** SGD: d = g + wd·w; buf = started ? μ·buf + d : d; w −= lr·buf (μ = 0: w −= lr·d). */
export function sgdUpdate(
  w: Float32Array,
  g: Float32Array,
  buf: Float32Array | null,
  a: UpdateAttrs,
  outW: Float32Array,
  outBuf: Float32Array | null,
): void {
  const { lr, weightDecay: wd, momentum: mom, started } = a;
  for (let i = 0; i < w.length; i++) {
    const d = g[i]! + wd * w[i]!;
    if (buf && outBuf) {
      const b = started ? mom * buf[i]! + d : d;
      outBuf[i] = b;
      outW[i] = w[i]! - lr * b;
    } else outW[i] = w[i]! - lr * d;
  }
}

/** Adam: d = g + wd·w; m = β1·m + (1−β1)·d; v = β2·v + (1−β2)·d²; w −= lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε). */
export function adamUpdate(
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  a: UpdateAttrs,
  outW: Float32Array,
  outM: Float32Array,
  outV: Float32Array,
): void {
  const { lr, weightDecay: wd, beta1: b1, beta2: b2, epsilon: eps, step } = a;
  const c1 = 1 - b1 ** step;
  const c2 = 1 - b2 ** step;
  for (let i = 0; i < w.length; i++) {
    const d = g[i]! + wd * w[i]!;
    const mi = b1 * m[i]! + (1 - b1) * d;
    const vi = b2 * v[i]! + (1 - b2) * d * d;
    outM[i] = mi;
    outV[i] = vi;
    outW[i] = w[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
  }
}

let registered = false;

/** Registers the update kernel on cpu and wasm (idempotent). */
export function registerOptimizerKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of BACKENDS) {
    tf.registerKernel({
      kernelName: OPTIMIZER_UPDATE,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const a = attrs as unknown as UpdateAttrs;
        const { w, g, s0, s1 } = inputs as Record<string, tf.TensorInfo | undefined>;
        const slots = [s0, s1].filter((t): t is tf.TensorInfo => !!t);
        const ins = [w!, g!, ...slots];
        return onTypedArrays(
          backendName,
          backend,
          OPTIMIZER_UPDATE,
          ins,
          ins.map(() => w!.shape).slice(0, 1 + slots.length),
          (i, o) => {
            if (a.kind === 'adam') adamUpdate(i[0]!, i[1]!, i[2]!, i[3]!, a, o[0]!, o[1]!, o[2]!);
            else sgdUpdate(i[0]!, i[1]!, i[2] ?? null, a, o[0]!, o[1] ?? null);
          },
        );
      },
    });
  }
}

/** Whether the active backend has the fused update. */
export function hasOptimizerKernels(): boolean {
  return (BACKENDS as readonly string[]).includes(tf.getBackend());
}
