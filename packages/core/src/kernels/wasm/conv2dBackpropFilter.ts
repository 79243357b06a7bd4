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
import { type BackendWasm, callWasm, copyRows, f32, tfjsConvGeometry, view } from './heap.js';
import { simdIm2colRuns, simdToChannelMajor } from './layoutWasm.js';

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
 * Stride 1: x is first copied channel-major and zero-padded (xt[c][b][hp][wp]); every im2colᵀ row is then
 * ho runs of wo contiguous floats of xt, moved by memmove (copyWithin on the heap) instead of an element loop
 * over NHWC x (which reads with a stride of ci floats: ~2× slower overall). A 1×1 kernel needs no im2col:
 * xt is the matrix. One large GEMM is kept on purpose: 36 per-image, per-tap GEMMs
 * reading x in place measured 27 ms against 15 ms for this path (4×64×64, 32→32, 3×3), XNNPACK's per-call
 * setup dominating. Running the GEMM over the padded width (each (tap, channel, image) block one memmove) cost
 * 33 % more at dilation 12 and saved nothing at dilation 1 on 64-wide maps, but on narrow maps (≤ 32 wide) the
 * per-row copies dominate: there it cut the filter gradients of the demo's training step by ~30 %, so it is used
 * where wo ≤ 32 and the extra columns are at most a quarter.
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
  const k = kh * kw * ci;
  const direct = plane === ho * wo; // 1×1 kernel: xt is already colsᵀ
  // Narrow maps: each colsᵀ row block (tap, channel, image) is one run of ho·wp floats of xt, the GEMM running
  // over the padded width against dy padded with zero columns. Fewer, longer copies win where rows are short;
  // the extra GEMM columns ((kw−1)·dw per row) must stay a small share.
  const paddedWidth = !direct && wo <= 32 && 4 * (kw - 1) * dw <= wo;
  const rowLen = paddedWidth ? wp : wo;
  const m = n * ho * rowLen;
  // slack: a padded-width run of the last image may read (kw−1)·dw floats past its plane (into zero dy columns)
  const slack = paddedWidth ? (kw - 1) * dw : 0;
  const xt = backend.makeOutput([ci * n * plane + slack], 'float32');
  const cols = direct ? xt : backend.makeOutput([k, m], 'float32');
  const dyPad = paddedWidth ? backend.makeOutput([m, co], 'float32') : null;
  {
    // Views taken after the allocations: allocating may grow (and so detach) the heap.
    const xv = f32(backend, x);
    const tv = f32(backend, xt);
    if (hp !== h || wp !== w || slack) tv.fill(0); // padding present (else every element is written below)
    // Rows/cols of x beyond hp/wp (padding < d(k−1) on the far side) are never read.
    const yEnd = Math.min(h, hp - pt);
    const xEnd = Math.min(w, wp - pl);
    const cStride = n * plane;
    if (!simdToChannelMajor(backend, xv, tv, [n, h, w, ci], plane, wp, pt, pl, yEnd, xEnd))
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
    if (!direct) {
      // colsᵀ row (i, j, c), image b, output row oy = xt[c][b][oy + i·dh][j·dw … j·dw + rowLen).
      const cv = f32(backend, cols);
      const heap = new Float32Array(cv.buffer);
      const tBase = tv.byteOffset >>> 2;
      let dst = cv.byteOffset >>> 2;
      const block = ho * wp;
      const runs: [number, number, number] = paddedWidth ? [1, block, block] : [ho, wo, wp];
      if (!simdIm2colRuns(backend, tv, cv, [kh, kw, dh, dw], ci, n, plane, wp, ...runs))
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const tapOff = i * dh * wp + j * dw;
            for (let c = 0; c < ci; c++) {
              for (let b = 0; b < n; b++) {
                let src = tBase + (c * n + b) * plane + tapOff;
                if (paddedWidth) {
                  heap.copyWithin(dst, src, src + block);
                  dst += block;
                } else
                  for (let oy = 0; oy < ho; oy++, src += wp, dst += wo) heap.copyWithin(dst, src, src + wo);
              }
            }
          }
        }
    }
    if (dyPad) {
      // dy [n·ho, wo, co] → [n·ho, wp, co] with zero columns wo … wp
      const dv = f32(backend, dy);
      const pv = f32(backend, dyPad);
      const runIn = wo * co;
      const runOut = wp * co;
      for (let r = 0; r < n * ho; r++) {
        pv.set(dv.subarray(r * runIn, (r + 1) * runIn), r * runOut);
        pv.fill(0, r * runOut + runIn, (r + 1) * runOut);
      }
    }
  }
  if (!direct) backend.disposeData(xt.dataId);
  const dwt = callWasm(
    'BatchMatMul',
    backend,
    { a: view(cols, [1, k, m]), b: view(dyPad ?? dy, [1, m, co]) },
    { transposeA: false, transposeB: false },
  );
  if (dyPad) backend.disposeData(dyPad.dataId);
  backend.disposeData(cols.dataId);
  return view(dwt, filterShape);
}

/**
 * The most bytes one call's column matrix (im2col, [kh·kw·ci, images·ho·wo]) may take before the batch is done in
 * parts, each part's dW added up: at full size one 3×3×256 convolution at 81×81 needs 60 MiB a image, and one
 * contiguous block of a few hundred MiB is what a fragmented 4 GiB wasm heap fails to find first.
 */
export const FILTER_GRAD_COLUMN_BYTES = 64 * 2 ** 20;

/** dW [kh, kw, ci, co] of a conv with geometry `g`, from x [n, h, w, ci] and dy [n, ho, wo, co]. */
export function conv2dFilterGradWasm(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: number[],
  g: Conv2dGeometry,
  maxColumnBytes = FILTER_GRAD_COLUMN_BYTES,
): tf.TensorInfo {
  const [kh, kw, ci, co] = filterShape as [number, number, number, number];
  const [n, ho, wo] = dy.shape as [number, number, number, number];
  if (x.shape[3] !== ci || dy.shape[3] !== co || x.shape[0] !== n) {
    throw new Error(
      `Conv2DBackpropFilter (wasm): x [${x.shape}] and dy [${dy.shape}] do not fit filterShape [${filterShape}]`,
    );
  }
  // dW = Σ over images: a batch whose columns would be too large runs a few images at a time
  const perImage = kh * kw * ci * ho * wo * 4;
  const part = Math.max(1, Math.floor(maxColumnBytes / perImage));
  if (n > 1 && part < n) {
    let sum: tf.TensorInfo | null = null;
    for (let b = 0; b < n; b += part) {
      const count = Math.min(part, n - b);
      const xs = copyRows(backend, x, b, count);
      const dys = copyRows(backend, dy, b, count);
      const dw = conv2dFilterGradWasm(backend, xs, dys, filterShape, g, Number.POSITIVE_INFINITY);
      backend.disposeData(xs.dataId);
      backend.disposeData(dys.dataId);
      if (!sum) {
        sum = dw;
        continue;
      }
      const acc = f32(backend, sum);
      const add = f32(backend, dw);
      for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + add[i]!;
      backend.disposeData(dw.dataId);
    }
    return sum!;
  }
  if (g.strides[0] === 1 && g.strides[1] === 1) return filterGradStride1(backend, x, dy, filterShape, g);
  const m = n * ho * wo;
  const k = kh * kw * ci;
  const cols = backend.makeOutput([k, m], 'float32');
  // Views taken after makeOutput: allocation may grow (and so detach) the heap.
  im2colTransposed(f32(backend, x), f32(backend, cols), x.shape, dy.shape, kh, kw, g);
  const dw = callWasm(
    'BatchMatMul',
    backend,
    { a: view(cols, [1, k, m]), b: view(dy, [1, m, co]) },
    {
      transposeA: false,
      transposeB: false,
    },
  );
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
  const g = tfjsConvGeometry('Conv2DBackpropFilter', x.shape as number[], filterShape, {
    strides,
    pad,
    dataFormat,
    dimRoundingMode,
  });
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
