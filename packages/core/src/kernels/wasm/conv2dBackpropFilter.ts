/**
 * Filter gradient of a 2-D convolution on the wasm backend (which ships none): one XNNPACK GEMM
 * colsᵀ[kh·kw·cin, M] · dy[M, cout] = dW in HWIO order, with M = n·ho·wo. The transposed im2col is laid out
 * by a JS loop straight into the heap, so that the GEMM needs no transposed operand (wasm's transposed
 * matMul is ~14× slower) and its result needs no re-layout.
 *
 * Registered twice: as `WsssConv2DBackpropFilter` (any stride, dilation and padding; used by `ops/conv2d`) and
 * as tfjs' `Conv2DBackpropFilter` (so plain `tf.conv2d` / `tf.layers.conv2d` models train on wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Conv2dGeometry, WSSS_CONV2D_BACKPROP_FILTER } from '../../ops/conv2d.js';
import { type BackendWasm, callWasm, f32, view } from './heap.js';

/** Fills `cols` ([kh·kw·ci, n·ho·wo], row (i, j, c)) with the input values each output position saw. */
function im2colTransposed(
  xv: Float32Array,
  cols: Float32Array,
  xShape: number[],
  outShape: number[],
  kh: number,
  kw: number,
  g: Conv2dGeometry,
): void {
  const [n, h, w, ci] = xShape as [number, number, number, number];
  const [, ho, wo] = outShape as [number, number, number];
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  const m = n * ho * wo;
  for (let i = 0; i < kh; i++) {
    const offY = i * dh - g.pad[0];
    for (let j = 0; j < kw; j++) {
      const offX = j * dw - g.pad[2];
      // Output columns whose input column lies inside x; the rest read zero padding.
      const ox0 = Math.min(wo, Math.max(0, Math.ceil(-offX / sw)));
      const ox1 = Math.max(ox0, Math.min(wo, Math.floor((w - 1 - offX) / sw) + 1));
      const tapBase = (i * kw + j) * ci * m;
      for (let b = 0; b < n; b++) {
        for (let oy = 0; oy < ho; oy++) {
          const iy = oy * sh + offY;
          const dstRow = tapBase + (b * ho + oy) * wo;
          if (iy < 0 || iy >= h) {
            for (let c = 0; c < ci; c++) cols.fill(0, dstRow + c * m, dstRow + c * m + wo);
            continue;
          }
          const srcRow = (b * h + iy) * w * ci;
          const step = sw * ci;
          for (let c = 0; c < ci; c++) {
            const dst = dstRow + c * m;
            if (ox0 > 0) cols.fill(0, dst, dst + ox0);
            let s = srcRow + (ox0 * sw + offX) * ci + c;
            for (let ox = ox0; ox < ox1; ox++, s += step) cols[dst + ox] = xv[s]!;
            if (ox1 < wo) cols.fill(0, dst + ox1, dst + wo);
          }
        }
      }
    }
  }
}

/**
 * Stride 1: the GEMM runs over an extended set of n·ho·wp output positions (wp = padded input width) in which
 * the positions ox ≥ wo get dy = 0. Then each im2col row of one image is a single contiguous slice of the
 * zero-padded, channel-major copy of x, so the whole im2col is ~n·kh·kw·ci memcpy's instead of an element
 * loop (≈ 4× faster at 64×64; the GEMM grows by wp/wo, 3 % at padding 1).
 */
function filterGradStride1(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: number[],
  g: Conv2dGeometry,
): tf.TensorInfo {
  const [kh, kw, ci, co] = filterShape as [number, number, number, number];
  const [n, h, w] = x.shape as [number, number, number, number];
  const [, ho, wo] = dy.shape as [number, number, number, number];
  const [dh, dw] = g.dilations;
  const [pt, , pl] = g.pad;
  const hp = ho + (kh - 1) * dh;
  const wp = wo + (kw - 1) * dw;
  const plane = hp * wp;
  const slack = (kw - 1) * dw; // the last tap's last row reads this far past the last plane (into ignored columns)
  const xt = backend.makeOutput([ci * n * plane + slack], 'float32');
  const m = n * ho * wp;
  const k = kh * kw * ci;
  const cols = backend.makeOutput([k, m], 'float32');
  const dye = backend.makeOutput([m, co], 'float32');
  const P: any = ((globalThis as any).__prof ??= {}); let t0 = performance.now();
  {
    // Channel-major, zero-padded copy of x: xt[c][b][y + pt][x + pl] = x[b][y][x][c]. Rows/cols of x beyond
    // hp/wp (padding < d(k−1) on the far side never reaches them) are simply not copied.
    const xv = f32(backend, x);
    const tv = f32(backend, xt);
    tv.fill(0);
    const yEnd = Math.min(h, hp - pt);
    const xEnd = Math.min(w, wp - pl);
    const cStride = n * plane;
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < yEnd; y++) {
        const dstRow = b * plane + (y + pt) * wp + pl;
        let s = (b * h + y) * w * ci;
        for (let xx = 0; xx < xEnd; xx++, s += ci) {
          const dst = dstRow + xx;
          for (let c = 0; c < ci; c++) tv[dst + c * cStride] = xv[s + c]!;
        }
      }
    }
    P.tr = (P.tr ?? 0) + performance.now() - t0; t0 = performance.now();
    // im2colᵀ: row (i, j, c), image b = xt[c][b] from (i·dh, j·dw), ho·wp long.
    const cv = f32(backend, cols);
    const run = ho * wp;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const tapOff = i * dh * wp + j * dw;
        for (let c = 0; c < ci; c++) {
          const rowBase = ((i * kw + j) * ci + c) * m;
          for (let b = 0; b < n; b++) {
            const src = (c * n + b) * plane + tapOff;
            cv.set(tv.subarray(src, src + run), rowBase + b * run);
          }
        }
      }
    }
    P.cols = (P.cols ?? 0) + performance.now() - t0; t0 = performance.now();
    // dy widened to wp columns, zeros in the extra ones.
    const dv = f32(backend, dy);
    const ev = f32(backend, dye);
    const rowIn = wo * co;
    const rowOut = wp * co;
    for (let r = 0; r < n * ho; r++) {
      ev.set(dv.subarray(r * rowIn, (r + 1) * rowIn), r * rowOut);
      ev.fill(0, r * rowOut + rowIn, (r + 1) * rowOut);
    }
  }
  P.dye = (P.dye ?? 0) + performance.now() - t0; t0 = performance.now();
  backend.disposeData(xt.dataId);
  const dwt = callWasm('BatchMatMul', backend, { a: view(cols, [1, k, m]), b: view(dye, [1, m, co]) }, {
    transposeA: false,
    transposeB: false,
  });
  P.gemm = (P.gemm ?? 0) + performance.now() - t0; P.calls = (P.calls ?? 0) + 1;
  backend.disposeData(cols.dataId);
  backend.disposeData(dye.dataId);
  return view(dwt, filterShape);
}

/** dW [kh, kw, ci, co] of a conv with geometry `g`, from x [n, h, w, ci] and dy [n, ho, wo, co]. */
export function conv2dFilterGradWasm(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: number[],
  g: Conv2dGeometry,
): tf.TensorInfo {
  const [kh, kw, ci, co] = filterShape as [number, number, number, number];
  const [n, ho, wo] = dy.shape as [number, number, number, number];
  if (x.shape[3] !== ci || dy.shape[3] !== co || x.shape[0] !== n) {
    throw new Error(
      `Conv2DBackpropFilter (wasm): x [${x.shape}] and dy [${dy.shape}] do not fit filterShape [${filterShape}]`,
    );
  }
  if (g.strides[0] === 1 && g.strides[1] === 1) return filterGradStride1(backend, x, dy, filterShape, g);
  const m = n * ho * wo;
  const k = kh * kw * ci;
  const cols = backend.makeOutput([k, m], 'float32');
  // Views taken after makeOutput: allocation may grow (and so detach) the heap.
  im2colTransposed(f32(backend, x), f32(backend, cols), x.shape, dy.shape, kh, kw, g);
  const dw = callWasm('BatchMatMul', backend, { a: view(cols, [1, k, m]), b: view(dy, [1, m, co]) }, {
    transposeA: false,
    transposeB: false,
  });
  backend.disposeData(cols.dataId);
  return view(dw, filterShape);
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
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as Conv2dGeometry & { filterShape: number[] };
  return conv2dFilterGradWasm(backend as BackendWasm, x, dy, a.filterShape, a);
}

/** tfjs' Conv2DBackpropFilter: dilation 1, padding given as tfjs conv padding ('same', 'valid', number, explicit). */
function tfjsKernel({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}) {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (dataFormat !== 'NHWC') {
    throw new Error(`Conv2DBackpropFilter (wasm): dataFormat must be 'NHWC', got '${dataFormat}'`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const g: Conv2dGeometry = {
    strides: [info.strideHeight, info.strideWidth],
    dilations: [1, 1],
    pad: [info.padInfo.top, info.padInfo.bottom, info.padInfo.left, info.padInfo.right],
  };
  return conv2dFilterGradWasm(backend as BackendWasm, x, dy, filterShape, g);
}

export const wsssConv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: WSSS_CONV2D_BACKPROP_FILTER,
  backendName: 'wasm',
  kernelFunc: wsssKernel as unknown as tf.KernelFunc,
};

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: tfjsKernel as unknown as tf.KernelFunc,
};
