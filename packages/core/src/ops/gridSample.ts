/**
 * `gridSample(x, grid, opts)`: PyTorch `F.grid_sample(mode='bilinear', padding_mode='zeros')` for NHWC
 * tensors, differentiable in both x and grid. The WS-FCN AlignModule warps the FCA output onto the conv3
 * grid with it (spec §4.3, align_corners=True; spec §1.3).
 */
import * as tf from '@tensorflow/tfjs-core';
import { GRID_SAMPLE, GRID_SAMPLE_GRAD, hasSamplingKernels } from '../kernels/sampling/index.js';

/** Options of {@link gridSample}. */
export interface GridSampleOptions {
  /**
   * PyTorch's `align_corners`. true: −1 and 1 are the centres of the corner pixels, u = (g+1)/2·(W−1);
   * false: they are the outer edges of the corner pixels, u = ((g+1)·W − 1)/2. Required: the two conventions
   * differ by up to half a pixel and the method uses both (spec §1.3).
   */
  alignCorners: boolean;
  /** Only `'zeros'` (taps outside x contribute 0). Default `'zeros'`. */
  padding?: 'zeros';
}

const OPTION_KEYS = new Set(['alignCorners', 'padding']);

function checkOptions(opts: GridSampleOptions): void {
  if (opts == null || typeof opts !== 'object') {
    throw new Error(`gridSample: opts must be an object { alignCorners: boolean }, got ${String(opts)}`);
  }
  for (const k of Object.keys(opts)) {
    if (!OPTION_KEYS.has(k))
      throw new Error(`gridSample: unknown option '${k}'; expected alignCorners, padding`);
  }
  if (typeof opts.alignCorners !== 'boolean') {
    throw new Error(`gridSample: opts.alignCorners must be a boolean, got ${String(opts.alignCorners)}`);
  }
  if (opts.padding !== undefined && opts.padding !== 'zeros') {
    throw new Error(`gridSample: opts.padding must be 'zeros', got '${String(opts.padding)}'`);
  }
}

/**
 * Samples x bilinearly at the points of grid.
 *
 * @param x (N,H,W,C) input.
 * @param grid (N,Ho,Wo,2) sampling points, last dim (gx, gy) normalised to [−1, 1]: gx runs along the width,
 *   gy along the height (PyTorch's convention). Points outside [−1, 1] are allowed; their taps outside x
 *   contribute 0.
 * @param opts `alignCorners` (required), `padding: 'zeros'`.
 * @returns (N,Ho,Wo,C). The gradient in grid is the derivative of the bilinear weights, with PyTorch's
 *   one-sided convention on integer pixel coordinates.
 */
export function gridSample(
  x: tf.Tensor4D | tf.TensorLike,
  grid: tf.Tensor4D | tf.TensorLike,
  opts: GridSampleOptions,
): tf.Tensor4D {
  checkOptions(opts);
  const owned: tf.Tensor[] = []; // tensors made here from TensorLikes or casts, disposed on the way out
  try {
    const $x = toFloat4D(x, 'x', owned);
    const $grid = toFloat4D(grid, 'grid', owned);
    if ($grid.shape[3] !== 2) {
      throw new Error(`gridSample: grid must have shape (N,Ho,Wo,2), got [${$grid.shape}]`);
    }
    if ($grid.shape[0] !== $x.shape[0]) {
      throw new Error(`gridSample: grid batch ${$grid.shape[0]} must equal x batch ${$x.shape[0]}`);
    }
    const { alignCorners } = opts;
    return hasSamplingKernels()
      ? gridSampleKernel($x, $grid, alignCorners)
      : gridSampleComposite($x, $grid, alignCorners);
  } finally {
    tf.dispose(owned);
  }
}

function toFloat4D(t: tf.Tensor | tf.TensorLike, name: string, owned: tf.Tensor[]): tf.Tensor4D {
  let $t = t instanceof tf.Tensor ? t : tf.tensor(t as any);
  if ($t !== t) owned.push($t);
  if ($t.rank !== 4) {
    throw new Error(`gridSample: ${name} must be rank 4, got rank ${$t.rank} (shape [${$t.shape}])`);
  }
  if ($t.dtype !== 'float32') {
    $t = tf.cast($t, 'float32');
    owned.push($t);
  }
  return $t as tf.Tensor4D;
}

/** The cpu/wasm path: one forward kernel, one backward kernel that returns both gradients. */
function gridSampleKernel(x: tf.Tensor4D, grid: tf.Tensor4D, alignCorners: boolean): tf.Tensor4D {
  const attrs = { alignCorners } as unknown as tf.NamedAttrMap;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xx, gg, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([xx, gg]);
    const value = tf.engine().runKernel(GRID_SAMPLE, { x: xx, grid: gg }, attrs) as tf.Tensor4D;
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg] = saved as [tf.Tensor4D, tf.Tensor4D];
        return tf.engine().runKernel(GRID_SAMPLE_GRAD, { dy, x: sx, grid: sg }, attrs) as tf.Tensor[];
      },
    };
  });
  return op(x, grid) as tf.Tensor4D;
}

/**
 * Gathers rows of a (R, C) matrix at float32-coded row indices. tf.gather's own gradient would also be asked
 * for a gradient of its int32 indices (they are computed from grid, so they sit on the tape) and fails; here
 * the indices arrive as float32 and get a zero gradient. Float32 codes rows exactly up to 2^24.
 */
const gatherRows = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [table, rowsF, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  const rows = tf.cast(rowsF, 'int32');
  save([rows]);
  return {
    value: tf.gather(table, rows),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      tf.unsortedSegmentSum(dy, saved[0] as tf.Tensor1D, table.shape[0]),
      tf.zerosLike(rowsF),
    ],
  };
});

/**
 * Composite of tfjs ops for backends without the kernels (webgpu, tensorflow): four gathers of C-vectors
 * from x viewed as (N·H·W, C), weighted by the bilinear weights masked to in-range taps. Autodiff gives both
 * gradients (x through the gather's gradient; grid through the weights, floor() having zero gradient —
 * the same one-sided convention as PyTorch).
 * @internal exported for tests
 */
export function gridSampleComposite(x: tf.Tensor4D, grid: tf.Tensor4D, alignCorners: boolean): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [, ho, wo] = grid.shape;
  if (n * h * w > 2 ** 24) {
    throw new Error(
      `gridSample: x has ${n * h * w} pixels (N·H·W); the composite path supports at most 2^24`,
    );
  }
  return tf.tidy(() => {
    // Same arithmetic as the kernels: u = (g + 1)·scale − shift.
    const sx = alignCorners ? (w - 1) / 2 : w / 2;
    const sy = alignCorners ? (h - 1) / 2 : h / 2;
    const shift = alignCorners ? 0 : 0.5;
    const [gx, gy] = tf.split(grid, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
    const ix = tf.sub(tf.mul(tf.add(gx, 1), sx), shift);
    const iy = tf.sub(tf.mul(tf.add(gy, 1), sy), shift);
    const x0 = tf.floor(ix);
    const y0 = tf.floor(iy);
    const fw = tf.sub(ix, x0);
    const fe = tf.sub(1, fw);
    const fn = tf.sub(iy, y0);
    const fs = tf.sub(1, fn);
    const xFlat = tf.reshape(x, [n * h * w, c]);
    const batchBase = tf.reshape(tf.range(0, n * h * w, h * w, 'float32'), [n, 1, 1, 1]);
    const taps: [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor][] = [
      [x0, y0, fe, fs],
      [tf.add(x0, 1), y0, fw, fs],
      [x0, tf.add(y0, 1), fe, fn],
      [tf.add(x0, 1), tf.add(y0, 1), fw, fn],
    ];
    let out: tf.Tensor | null = null;
    for (const [xi, yi, wx, wy] of taps) {
      // In-range mask from step() (zero gradient; comparison ops have no gradient and sit on the tape here).
      const inside = tf.mul(
        tf.mul(tf.step(tf.add(xi, 0.5)), tf.step(tf.sub(w - 0.5, xi))),
        tf.mul(tf.step(tf.add(yi, 0.5)), tf.step(tf.sub(h - 0.5, yi))),
      );
      // Row index (float-coded) of the tap, clamped into x; out-of-range taps are then masked by `inside`.
      const row = tf.add(
        tf.add(tf.mul(tf.clipByValue(yi, 0, h - 1), w), tf.clipByValue(xi, 0, w - 1)),
        batchBase,
      );
      const vals = tf.reshape(gatherRows(xFlat, tf.reshape(row, [-1])), [n, ho, wo, c]);
      const term = tf.mul(vals, tf.mul(tf.mul(wx, wy), inside));
      out = out ? tf.add(out, term) : term;
    }
    return out as tf.Tensor4D;
  });
}
