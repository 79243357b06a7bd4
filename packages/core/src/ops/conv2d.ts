/**
 * 2-D convolution with PyTorch semantics (explicit symmetric zero padding, spec §1.4) whose gradients work for
 * every stride and dilation on every backend (DESIGN §3). tfjs refuses gradients for dilation > 1, and its
 * wasm backend lacks a filter-gradient kernel; this op is registered as its own kernel (`WsssConv2D`) with a
 * registered gradient, so that the engine asks only for the gradients a step needs (no dX for the image
 * input, no dW for frozen layers, spec §1.6).
 *
 * Gradient strategy (measured on wasm, 4×64×64, 32→32, 3×3: forward 11 ms, dX 10 ms, dW 13 ms at any
 * dilation; see bench/cases/conv.mjs):
 * - dX, stride 1: a forward dilated conv of dy with the spatially flipped, in/out-swapped filter; the same
 *   fast native conv as the forward pass.
 * - dX, stride > 1: the backend's `Conv2DBackpropInput` (dilation 1; on wasm our replacement, which splits it
 *   into s² stride-1 convs of dy with sub-filters) or, for stride and dilation both > 1, dy zero-inserted by
 *   the stride and correlated with the flipped filter (tf ops, or a heap scatter on wasm; s² more work).
 * - dW: `WsssConv2DBackpropFilter` where a backend registers it (wasm: one XNNPACK GEMM over a transposed
 *   im2col laid out on the heap); elsewhere one GEMM per kernel tap with tf ops (a single GEMM for 1×1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, copyRows } from '../kernels/wasm/heap.js';

/** Kernel names this op dispatches to; the wasm kernels in `kernels/wasm` implement the last two. */
export const WSSS_CONV2D = 'WsssConv2D';
/**
 * Kernel name of the filter gradient (dW) of {@link conv2d}; used when the active backend registers it
 * (wasm), else dW is computed with tf ops.
 */
export const WSSS_CONV2D_BACKPROP_FILTER = 'WsssConv2DBackpropFilter';
/**
 * Kernel name of the input gradient (dX) of {@link conv2d}; used when the active backend registers it (wasm,
 * whose own `Conv2DBackpropInput` is slow), else the backend's transposed conv or tf ops.
 */
export const WSSS_CONV2D_BACKPROP_INPUT = 'WsssConv2DBackpropInput';

/** Geometry shared by the forward kernel and both gradient kernels. All pairs are [height, width]. */
export interface Conv2dGeometry {
  strides: [number, number];
  dilations: [number, number];
  /** Zero padding [top, bottom, left, right] (symmetric for `conv2d`, any for the wasm kernels). */
  pad: [number, number, number, number];
}

/** Options of {@link conv2d}. Scalars apply to both spatial axes; pairs are [height, width]. */
export interface Conv2dOptions {
  /** Stride. Default 1. */
  stride?: number | [number, number];
  /** Explicit symmetric zero padding on each side (PyTorch `padding=`, spec §1.4). Default 0. */
  padding?: number | [number, number];
  /** Dilation. Default 1. */
  dilation?: number | [number, number];
  /** Added to every output channel; shape [outChannels]. */
  bias?: tf.Tensor1D;
}

function pair(
  name: string,
  v: number | [number, number] | undefined,
  dflt: number,
  min: number,
): [number, number] {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((n) => Number.isInteger(n) && n >= min)) {
    throw new Error(
      `conv2d: ${name} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`,
    );
  }
  return p;
}

/** PyTorch output size: floor((in + padBefore + padAfter − d(k−1) − 1)/s) + 1. */
export function convOutSize(
  size: number,
  k: number,
  s: number,
  d: number,
  padBefore: number,
  padAfter: number,
): number {
  return Math.floor((size + padBefore + padAfter - d * (k - 1) - 1) / s) + 1;
}

/** Shape of the output of the forward conv for the given geometry (NHWC in, HWIO filter). */
export function conv2dOutShape(
  xShape: number[],
  fShape: number[],
  g: Conv2dGeometry,
): [number, number, number, number] {
  return [
    xShape[0]!,
    convOutSize(xShape[1]!, fShape[0]!, g.strides[0], g.dilations[0], g.pad[0], g.pad[1]),
    convOutSize(xShape[2]!, fShape[1]!, g.strides[1], g.dilations[1], g.pad[2], g.pad[3]),
    fShape[3]!,
  ];
}

function explicitPad(g: Conv2dGeometry): tf.backend_util.ExplicitPadding {
  return [
    [0, 0],
    [g.pad[0], g.pad[1]],
    [g.pad[2], g.pad[3]],
    [0, 0],
  ];
}

function geometryFromAttrs(attrs: tf.NamedAttrMap): Conv2dGeometry {
  return {
    strides: attrs.strides as [number, number],
    dilations: attrs.dilations as [number, number],
    pad: attrs.pad as [number, number, number, number],
  };
}

// ---------------------------------------------------------------------------------------------------------
// Forward kernel: delegates to the backend's own Conv2D kernel (fast everywhere). tfjs' Conv2D cannot do
// stride > 1 together with dilation > 1, so that rare case runs at stride 1 and subsamples (costs s² more).
// ---------------------------------------------------------------------------------------------------------

function forwardKernel({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { x, bias } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo };
  let { filter } = inputs as { filter: tf.TensorInfo };
  const g = geometryFromAttrs(attrs!);
  const name = tf.getBackend();
  // wasm's Conv2D keeps an XNNPACK operator, with its own packed copy of the weights, for every filter buffer until
  // that buffer is freed. In a training step the weights change after the step anyway, so the cache never hits
  // across steps and only holds a second copy of every filter of the network until the update (565 MiB for the
  // full WS-FCN): there the convolution reads a copy of the filter, freed — with its operator — right after.
  const transient = attrs!['transientFilter'] === true && name === 'wasm';
  if (transient) filter = copyRows(backend as unknown as BackendWasm, filter);
  try {
    return forwardWith(x, filter, bias, g, name, backend);
  } finally {
    if (transient) backend.disposeData(filter.dataId);
  }
}

function forwardWith(
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  g: Conv2dGeometry,
  name: string,
  backend: tf.KernelBackend,
): tf.TensorInfo {
  // With a bias: the backend's FusedConv2D (XNNPACK adds it inside the convolution on wasm), else Conv2D.
  const fused = bias ? tf.getKernel('FusedConv2D', name) : undefined;
  const conv = fused ?? tf.getKernel('Conv2D', name)!;
  const both = g.strides.some((s) => s > 1) && g.dilations.some((d) => d > 1);
  const convAttrs = {
    strides: both ? [1, 1] : g.strides,
    dilations: g.dilations,
    pad: explicitPad(g),
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    ...(fused ? { activation: 'linear', leakyreluAlpha: 0 } : {}),
  } as unknown as tf.NamedAttrMap;
  let y = conv.kernelFunc({
    inputs: fused ? { x, filter, bias: bias! } : { x, filter },
    backend,
    attrs: convAttrs,
  }) as tf.TensorInfo;
  if (bias && !fused) {
    const add = tf.getKernel('Add', name)!;
    const biased = add.kernelFunc({ inputs: { a: y, b: bias }, backend }) as tf.TensorInfo;
    backend.disposeData(y.dataId);
    y = biased;
  }
  if (!both) return y;
  const out = conv2dOutShape(x.shape, filter.shape, g);
  const sliced = tf.getKernel('StridedSlice', name)!.kernelFunc({
    inputs: { x: y },
    backend,
    attrs: {
      begin: [0, 0, 0, 0],
      end: [out[0], (out[1] - 1) * g.strides[0] + 1, (out[2] - 1) * g.strides[1] + 1, out[3]],
      strides: [1, g.strides[0], g.strides[1], 1],
      beginMask: 0,
      endMask: 0,
      ellipsisMask: 0,
      newAxisMask: 0,
      shrinkAxisMask: 0,
    },
  }) as tf.TensorInfo;
  backend.disposeData(y.dataId);
  return sliced;
}

function ensureForwardKernel(): void {
  const name = tf.getBackend();
  if (!tf.getKernel(WSSS_CONV2D, name)) {
    tf.registerKernel({
      kernelName: WSSS_CONV2D,
      backendName: name,
      kernelFunc: forwardKernel as tf.KernelFunc,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Gradients.
// ---------------------------------------------------------------------------------------------------------

/** Filter [kh, kw, cin, cout] → spatially flipped, in/out swapped [kh, kw, cout, cin]. */
function flipSwap(filter: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
}

/**
 * dX with tf ops. Zero-inserts dy (stride), pads it by d(k−1) − padBefore before and by what reaches the
 * input's far edge after (negative amounts crop), and correlates with the flipped filter at the forward
 * dilation: dxp[a] = Σ_i u[a − i·d]·w[i] with u the zero-inserted dy.
 */
function inputGradComposite(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  xShape: number[],
  g: Conv2dGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, ho, wo, co] = dy.shape;
    const [kh, kw] = filter.shape;
    const [sh, sw] = g.strides;
    let u: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      // Zero insertion with rank-4 pads only (tfjs-backend-webgpu emits invalid shaders for rank-6 pads):
      // along the width [n·ho, wo, 1, c] → [n·ho, wo, sw, c], then along the height [n, ho, 1, wo·sw·c] →
      // [n, ho, sh, wo·sw·c]; finally the trailing zeros of the last row/col are cut.
      const alongW = tf.pad(tf.reshape(dy, [n * ho, wo, 1, co]), [
        [0, 0],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]);
      const zeroed = tf.pad(tf.reshape(alongW, [n, ho, 1, wo * sw * co]), [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
      ]);
      u = tf.slice(
        tf.reshape(zeroed, [n, ho * sh, wo * sw, co]),
        [0, 0, 0, 0],
        [n, (ho - 1) * sh + 1, (wo - 1) * sw + 1, co],
      ) as tf.Tensor4D;
    }
    const lenH = u.shape[1];
    const lenW = u.shape[2];
    const before = [g.dilations[0] * (kh - 1) - g.pad[0], g.dilations[1] * (kw - 1) - g.pad[2]];
    const after = [xShape[1]! + g.pad[0] - lenH, xShape[2]! + g.pad[2] - lenW];
    const pos = (v: number) => Math.max(0, v);
    const dx = tf.conv2d(
      u,
      flipSwap(filter),
      1,
      [
        [0, 0],
        [pos(before[0]!), pos(after[0]!)],
        [pos(before[1]!), pos(after[1]!)],
        [0, 0],
      ],
      'NHWC',
      g.dilations,
    );
    if (before.every((v) => v >= 0) && after.every((v) => v >= 0)) return dx;
    // Padding larger than the dilated kernel's reach: the conv above produced extra border rows/cols.
    return tf.slice(dx, [0, pos(-before[0]!), pos(-before[1]!), 0], [n, xShape[1]!, xShape[2]!, xShape[3]!]);
  });
}

function inputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, xShape: number[], g: Conv2dGeometry): tf.Tensor4D {
  const backend = tf.getBackend();
  if (tf.getKernel(WSSS_CONV2D_BACKPROP_INPUT, backend)) {
    return tf.engine().runKernel(WSSS_CONV2D_BACKPROP_INPUT, { dy, filter }, {
      ...g,
      inputShape: xShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  }
  const strided = g.strides.some((s) => s > 1);
  if (strided && g.dilations.every((d) => d === 1)) {
    // The backend's transposed conv (native on cpu, webgpu, tensorflow) handles explicit asymmetric padding.
    return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, {
      strides: g.strides,
      pad: explicitPad(g),
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
      inputShape: xShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  }
  return inputGradComposite(dy, filter, xShape, g);
}

/**
 * dW with tf ops: for each tap (i, j), the strided window of the padded input it saw, as an [M, cin] matrix
 * (M = n·ho·wo), times dy as [M, cout]. Used on backends without a `WsssConv2DBackpropFilter` kernel.
 */
function filterGradComposite(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: number[],
  g: Conv2dGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, ci, co] = filterShape as [number, number, number, number];
    const [n, ho, wo] = dy.shape;
    const xp = tf.pad(x, explicitPad(g));
    const dy2 = tf.reshape(dy, [n * ho * wo, co]);
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const top = i * g.dilations[0];
        const left = j * g.dilations[1];
        const win = tf.stridedSlice(
          xp,
          [0, top, left, 0],
          [n, top + (ho - 1) * g.strides[0] + 1, left + (wo - 1) * g.strides[1] + 1, ci],
          [1, g.strides[0], g.strides[1], 1],
        );
        taps.push(tf.matMul(tf.reshape(win, [n * ho * wo, ci]), dy2, true, false));
      }
    }
    return tf.reshape(tf.stack(taps), [kh, kw, ci, co]);
  });
}

function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], g: Conv2dGeometry): tf.Tensor4D {
  if (tf.getKernel(WSSS_CONV2D_BACKPROP_FILTER, tf.getBackend())) {
    return tf.engine().runKernel(WSSS_CONV2D_BACKPROP_FILTER, { x, dy }, {
      ...g,
      filterShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  }
  const [kh, kw] = filterShape;
  if (kh === 1 && kw === 1 && g.pad.every((p) => p === 0)) {
    // 1×1 conv: dW is a single GEMM (no windows to cut when the stride is 1).
    const [n, ho, wo, co] = dy.shape;
    return tf.tidy(() => {
      const xs = g.strides.every((s) => s === 1)
        ? x
        : tf.stridedSlice(
            x,
            [0, 0, 0, 0],
            [n, (ho - 1) * g.strides[0] + 1, (wo - 1) * g.strides[1] + 1, x.shape[3]],
            [1, g.strides[0], g.strides[1], 1],
          );
      const m = n * ho * wo;
      return tf.reshape(
        tf.matMul(tf.reshape(xs, [m, x.shape[3]]), tf.reshape(dy, [m, co]), true, false),
        filterShape as [number, number, number, number],
      ) as tf.Tensor4D;
    });
  }
  return filterGradComposite(x, dy, filterShape, g);
}

let gradientRegistered = false;
function ensureGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: WSSS_CONV2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const g = geometryFromAttrs(attrs);
      const d = dy as tf.Tensor4D;
      // Lazy: the engine calls only the closures for inputs on the path to what is differentiated.
      return {
        x: () => inputGrad(d, filter, x.shape, g),
        filter: () => filterGrad(x, d, filter.shape, g),
        bias: () => tf.sum(d, [0, 1, 2]),
      };
    },
  });
}

/**
 * 2-D convolution, NHWC input and HWIO filter, with PyTorch's explicit symmetric zero padding (spec §1.4)
 * and output size `floor((H + 2p − d(k−1) − 1)/s) + 1`. Differentiable w.r.t. `x`, `w` and `bias` for every
 * stride and dilation (tfjs' own `conv2d` refuses gradients for dilation > 1).
 *
 * @param x input [batch, height, width, inChannels], float32.
 * @param w filter [kh, kw, inChannels, outChannels], float32.
 * @param opts stride, padding, dilation (number or [h, w]) and optional bias [outChannels].
 * @returns [batch, outHeight, outWidth, outChannels].
 * @throws Error naming the argument when ranks, channels, dtypes or sizes do not fit.
 */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, opts: Conv2dOptions = {}): tf.Tensor4D {
  const known = new Set(['stride', 'padding', 'dilation', 'bias']);
  for (const k of Object.keys(opts)) {
    if (!known.has(k))
      throw new Error(`conv2d: unknown option '${k}'; expected one of ${[...known].join(', ')}`);
  }
  if (!(x instanceof tf.Tensor)) throw new Error(`conv2d: x must be a tf.Tensor, got ${typeof x}`);
  if (!(w instanceof tf.Tensor)) throw new Error(`conv2d: w must be a tf.Tensor, got ${typeof w}`);
  if (x.rank !== 4)
    throw new Error(`conv2d: x must be rank 4 (NHWC), got rank ${x.rank} with shape [${x.shape}]`);
  if (w.rank !== 4)
    throw new Error(`conv2d: w must be rank 4 (HWIO), got rank ${w.rank} with shape [${w.shape}]`);
  if (x.dtype !== 'float32') throw new Error(`conv2d: x must be float32, got ${x.dtype}`);
  if (w.dtype !== 'float32') throw new Error(`conv2d: w must be float32, got ${w.dtype}`);
  const [, h, wd, ci] = x.shape;
  const [kh, kw, wci, co] = w.shape;
  if (wci !== ci) {
    throw new Error(
      `conv2d: w's input channels (w.shape[2] = ${wci}) must equal x's channels (x.shape[3] = ${ci})`,
    );
  }
  const strides = pair('stride', opts.stride, 1, 1);
  const padding = pair('padding', opts.padding, 0, 0);
  const dilations = pair('dilation', opts.dilation, 1, 1);
  const g: Conv2dGeometry = { strides, dilations, pad: [padding[0], padding[0], padding[1], padding[1]] };
  const extH = dilations[0] * (kh - 1) + 1;
  const extW = dilations[1] * (kw - 1) + 1;
  if (extH > h + 2 * padding[0] || extW > wd + 2 * padding[1]) {
    throw new Error(
      `conv2d: the dilated kernel (${extH}×${extW}) is larger than the padded input ` +
        `(${h + 2 * padding[0]}×${wd + 2 * padding[1]} from x [${x.shape}] and padding [${padding}])`,
    );
  }
  if (opts.bias !== undefined) {
    const b = opts.bias;
    if (!(b instanceof tf.Tensor) || b.rank !== 1 || b.shape[0] !== co || b.dtype !== 'float32') {
      throw new Error(
        `conv2d: bias must be a float32 rank-1 tensor of ${co} (output channels), got ${b?.dtype} shape [${b?.shape}]`,
      );
    }
  }
  ensureForwardKernel();
  ensureGradient();
  const bias = opts.bias;
  // Inside a gradient computation (a training step) the filter is about to change: no cached operator for it. Not
  // `isTapeOn()`: a checkpointed segment's first forward runs untaped inside a custom gradient, in the step all the same
  const transientFilter =
    (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
  // The bias goes into the kernel (a fused add where the backend has FusedConv2D); its gradient is Σ dy over
  // batch and space.
  const inputs: tf.NamedTensorMap = bias === undefined ? { x, filter: w } : { x, filter: w, bias };
  const attrs = { ...g, transientFilter } as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel(WSSS_CONV2D, inputs, attrs) as tf.Tensor4D;
}
