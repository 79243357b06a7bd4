/**
 * Input gradient of a 2-D convolution on the wasm backend, built on XNNPACK's forward conv. wasm's own
 * `Conv2DBackpropInput` is a naive loop (~127 ms for a 3×3, 32→32 conv on 4×64×64, against ~11 ms for the
 * forward conv), so this replaces it.
 *
 * dX is the full correlation of dy, zero-inserted by the stride, with the spatially flipped, in/out-swapped
 * filter at the forward dilation: dxp[a] = Σ_i u[a − i·d]·w[i]. At stride 1 with padding ≤ d(k−1) that is the
 * native conv with explicit padding d(k−1) − p (no copy of dy). At stride > 1 with dilation 1 it splits into
 * s² stride-1 convs by output phase (`inputGradByPhases`: 3.8 ms against 11.4 ms for the zero-inserted grid
 * at 4×64×64 → 32×32, 32→32). Otherwise dy is scattered onto a zeroed grid of the size the 'valid' conv
 * needs (s² extra work, still far cheaper than wasm's naive kernel).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Conv2dGeometry, WSSS_CONV2D_BACKPROP_INPUT } from '../../ops/conv2d.js';
import { type BackendWasm, callWasm, f32, tfjsConvGeometry } from './heap.js';
import { simdCopyBlocks } from './layoutWasm.js';

/** [kh, kw, ci, co] → spatially flipped, in/out swapped [kh, kw, co, ci], on the heap. */
function flipSwapFilter(backend: BackendWasm, filter: tf.TensorInfo): tf.TensorInfo {
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  const out = backend.makeOutput([kh, kw, co, ci], 'float32');
  const src = f32(backend, filter);
  const dst = f32(backend, out);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const s0 = ((kh - 1 - i) * kw + (kw - 1 - j)) * ci * co;
      const d0 = (i * kw + j) * co * ci;
      for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) dst[d0 + o * ci + c] = src[s0 + c * co + o]!;
    }
  }
  return out;
}

/**
 * dy laid out for a stride-1 correlation with the flipped filter that yields dX [n, h, w, ·]: either dy itself
 * with explicit padding (stride 1, padding ≤ d(k−1): no copy), or dy scattered onto a zeroed grid of
 * (h + dh(kh−1)) × (w + dw(kw−1)) for a 'valid' correlation. `owned`: the caller must dispose `input`.
 */
export function gradInputLayout(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  kh: number,
  kw: number,
  inputShape: number[],
  g: Conv2dGeometry,
): { input: tf.TensorInfo; pad: number[][] | 'valid'; owned: boolean } {
  const [, h, w] = inputShape as [number, number, number, number];
  const [n, ho, wo, co] = dy.shape as [number, number, number, number];
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  // Padding of the zero-inserted dy before/after (negative: crop), so that a 'valid' conv yields h × w.
  const beforeH = dh * (kh - 1) - g.pad[0];
  const beforeW = dw * (kw - 1) - g.pad[2];
  const afterH = h + g.pad[0] - ((ho - 1) * sh + 1);
  const afterW = w + g.pad[2] - ((wo - 1) * sw + 1);
  if (sh === 1 && sw === 1 && Math.min(beforeH, beforeW, afterH, afterW) >= 0) {
    const pad = [
      [0, 0],
      [beforeH, afterH],
      [beforeW, afterW],
      [0, 0],
    ];
    return { input: dy, pad, owned: false };
  }
  const hu = h + dh * (kh - 1);
  const wu = w + dw * (kw - 1);
  const u = backend.makeOutput([n, hu, wu, co], 'float32');
  const uv = f32(backend, u);
  uv.fill(0);
  const heap = new Float32Array(uv.buffer);
  const uBase = uv.byteOffset >>> 2;
  const dBase = f32(backend, dy).byteOffset >>> 2;
  // the dy rows and columns that land inside u: one strided block copy per image where SIMD is there
  const oy0 = Math.max(0, Math.ceil(-beforeH / sh));
  const oy1 = Math.min(ho, Math.floor((hu - 1 - beforeH) / sh) + 1);
  const ox0 = Math.max(0, Math.ceil(-beforeW / sw));
  const ox1 = Math.min(wo, Math.floor((wu - 1 - beforeW) / sw) + 1);
  const simd =
    oy1 <= oy0 ||
    ox1 <= ox0 ||
    Array.from({ length: n }).every((_, b) =>
      simdCopyBlocks(
        backend,
        dBase + ((b * ho + oy0) * wo + ox0) * co,
        uBase + ((b * hu + oy0 * sh + beforeH) * wu + ox0 * sw + beforeW) * co,
        [oy1 - oy0, wo * co, sh * wu * co],
        [ox1 - ox0, co, sw * co, co],
      ),
    );
  if (!simd)
    for (let b = 0; b < n; b++) {
      for (let oy = 0; oy < ho; oy++) {
        const r = oy * sh + beforeH;
        if (r < 0 || r >= hu) continue;
        for (let ox = 0; ox < wo; ox++) {
          const c = ox * sw + beforeW;
          if (c < 0 || c >= wu) continue;
          const s = dBase + ((b * ho + oy) * wo + ox) * co;
          heap.copyWithin(uBase + ((b * hu + r) * wu + c) * co, s, s + co);
        }
      }
    }
  return { input: u, pad: 'valid', owned: true };
}

/** One axis of the phase decomposition: which taps and dy rows phase φ uses, and where its outputs go. */
interface Phase {
  /** First tap of the phase (φ) and number of taps (φ, φ + s, …). */
  phi: number;
  taps: number;
  /** Output t ranges over [t0, t0 + count); it lands at input index s·t + φ − padBefore. */
  t0: number;
  count: number;
  /** Explicit zero padding of dy before/after for the stride-1 'valid' correlation. */
  before: number;
  after: number;
}

function phases(size: number, k: number, s: number, padBefore: number, outSize: number): Phase[] | null {
  const list: Phase[] = [];
  for (let phi = 0; phi < s; phi++) {
    const taps = Math.max(0, Math.ceil((k - phi) / s));
    const t0 = Math.ceil((padBefore - phi) / s);
    const count = Math.floor((padBefore + size - 1 - phi) / s) - t0 + 1;
    if (count <= 0) continue;
    // stride > kernel (e.g. a strided 1×1 projection): these inputs are read by no tap, their gradient is zero
    if (taps === 0) {
      list.push({ phi, taps, t0, count, before: 0, after: 0 });
      continue;
    }
    const before = taps - 1 - t0;
    const after = count + taps - 1 - before - outSize;
    if (before < 0 || after < 0) return null; // would need cropping dy: left to the general path
    list.push({ phi, taps, t0, count, before, after });
  }
  return list;
}

/**
 * Strided dX (dilation 1) by phases: the inputs a with a + padBefore ≡ φ (mod s) receive only the taps
 * φ, φ + s, …, so dX splits into s² stride-1 correlations of dy with sub-filters, whose outputs interleave.
 * Same FLOPs as the forward conv, against s² times more for correlating a zero-inserted dy (≈ 3× faster at
 * stride 2). Returns null where the geometry needs the general path.
 */
function inputGradByPhases(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  inputShape: number[],
  g: Conv2dGeometry,
): tf.TensorInfo | null {
  const [n, h, w, ci] = inputShape as [number, number, number, number];
  const [kh, kw, , co] = filter.shape as [number, number, number, number];
  const [, ho, wo] = dy.shape as [number, number, number, number];
  const [sh, sw] = g.strides;
  const py = phases(h, kh, sh, g.pad[0], ho);
  const px = phases(w, kw, sw, g.pad[2], wo);
  if (!py || !px) return null;
  const dx = backend.makeOutput(inputShape, 'float32');
  // inputs no tap reads (a phase without taps) get zero; every other element is written below
  if (py.some((p) => p.taps === 0) || px.some((p) => p.taps === 0)) f32(backend, dx).fill(0);
  for (const fy of py) {
    for (const fx of px) {
      if (fy.taps === 0 || fx.taps === 0) continue;
      // Sub-filter, flipped and in/out swapped: [fy.taps, fx.taps, co, ci].
      const sub = backend.makeOutput([fy.taps, fx.taps, co, ci], 'float32');
      {
        const src = f32(backend, filter);
        const dst = f32(backend, sub);
        for (let my = 0; my < fy.taps; my++) {
          for (let mx = 0; mx < fx.taps; mx++) {
            const i = fy.phi + (fy.taps - 1 - my) * sh;
            const j = fx.phi + (fx.taps - 1 - mx) * sw;
            const s0 = (i * kw + j) * ci * co;
            const d0 = (my * fx.taps + mx) * co * ci;
            for (let c = 0; c < ci; c++)
              for (let o = 0; o < co; o++) dst[d0 + o * ci + c] = src[s0 + c * co + o]!;
          }
        }
      }
      const part = callWasm(
        'Conv2D',
        backend,
        { x: dy, filter: sub },
        {
          strides: [1, 1],
          dilations: [1, 1],
          pad: [
            [0, 0],
            [fy.before, fy.after],
            [fx.before, fx.after],
            [0, 0],
          ],
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
        },
      );
      backend.disposeData(sub.dataId);
      // Interleave: part[b][u][v] → dx[b][s·(u + t0) + φ − pad][…], one memmove of ci floats per pixel on the
      // heap (a subarray view per pixel cost more than the copy).
      const pv = f32(backend, part);
      const heap = new Float32Array(pv.buffer);
      const pBase = pv.byteOffset >>> 2;
      const xBase = f32(backend, dx).byteOffset >>> 2;
      const x0 = sw * fx.t0 + fx.phi - g.pad[2];
      const y0 = sh * fy.t0 + fy.phi - g.pad[0];
      const simd = Array.from({ length: n }).every((_, b) =>
        simdCopyBlocks(
          backend,
          pBase + b * fy.count * fx.count * ci,
          xBase + ((b * h + y0) * w + x0) * ci,
          [fy.count, fx.count * ci, sh * w * ci],
          [fx.count, ci, sw * ci, ci],
        ),
      );
      if (!simd)
        for (let b = 0; b < n; b++) {
          for (let u = 0; u < fy.count; u++) {
            const y = sh * (u + fy.t0) + fy.phi - g.pad[0];
            let src = pBase + (b * fy.count + u) * fx.count * ci;
            let dst = xBase + ((b * h + y) * w + x0) * ci;
            for (let v = 0; v < fx.count; v++, src += ci, dst += sw * ci) heap.copyWithin(dst, src, src + ci);
          }
        }
      backend.disposeData(part.dataId);
    }
  }
  return dx;
}

/** dX [n, h, w, ci] of a conv with geometry `g`, from dy [n, ho, wo, co] and filter [kh, kw, ci, co]. */
export function conv2dInputGradWasm(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  inputShape: number[],
  g: Conv2dGeometry,
): tf.TensorInfo {
  const [n, , , ci] = inputShape as [number, number, number, number];
  const [kh, kw, fci, co] = filter.shape as [number, number, number, number];
  if (fci !== ci || dy.shape[3] !== co || dy.shape[0] !== n) {
    throw new Error(
      `Conv2DBackpropInput (wasm): dy [${dy.shape}] and filter [${filter.shape}] do not fit inputShape [${inputShape}]`,
    );
  }
  if ((g.strides[0] > 1 || g.strides[1] > 1) && g.dilations[0] === 1 && g.dilations[1] === 1) {
    const dx = inputGradByPhases(backend, dy, filter, inputShape, g);
    if (dx) return dx;
  }
  const wf = flipSwapFilter(backend, filter);
  const { input, pad, owned } = gradInputLayout(backend, dy, kh, kw, inputShape, g);
  const dx = callWasm(
    'Conv2D',
    backend,
    { x: input, filter: wf },
    {
      strides: [1, 1],
      dilations: g.dilations,
      pad,
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
    },
  );
  if (owned) backend.disposeData(input.dataId);
  backend.disposeData(wf.dataId);
  return dx;
}

function wsssKernel({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}) {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as Conv2dGeometry & { inputShape: number[] };
  return conv2dInputGradWasm(backend as BackendWasm, dy, filter, a.inputShape, a);
}

/** tfjs' Conv2DBackpropInput (what `tf.conv2dTranspose` and tfjs' conv2d gradient call). */
function tfjsKernel({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}) {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const g = tfjsConvGeometry('Conv2DBackpropInput', inputShape, filter.shape as number[], {
    strides,
    pad,
    dataFormat,
    dimRoundingMode,
  });
  return conv2dInputGradWasm(backend as BackendWasm, dy, filter, inputShape, g);
}

export const wsssConv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: WSSS_CONV2D_BACKPROP_INPUT,
  backendName: 'wasm',
  kernelFunc: wsssKernel as unknown as tf.KernelFunc,
};

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: tfjsKernel as unknown as tf.KernelFunc,
};
