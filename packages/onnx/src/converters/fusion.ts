/**
 * The fusion modules of @wsss/sf2 at inference:
 * - `WsssAlign`: `flow = flow_make([resize(down_h(high)), down_l(low)])`, then the deep feature warped onto the low
 *   grid: grid = base + flow/(W, H), base = −1 + 2i/(n − 1) per axis, rounded once to float32 (wsss's
 *   `unitGrid`), GridSample bilinear, zero padding, align_corners = 1.
 * - `WsssSf2`: two conv-BN-ReLU streams, multiplicative fusion, residual refinement; outputs [shallow, deep].
 * - `WsssGciFusion`: the skip connection + Global Cue Injection; outputs [shallow, deep].
 */
import { DataType } from '../proto.js';
import type { Converter, ConverterContext } from './context.js';

/**
 * The align-corners base grid of one axis of size `n` (an int64 vector [n]) as float32 (n): −1 + 2i/max(n − 1, 1)
 * written as (2i − d)/d with d = max(n − 1, 1): numerator and denominator are whole numbers, exact in float32, so the
 * one division rounds the exact value once — wsss's `unitGrid` to the last bit (n = 1 gives −1), in float32 only
 * (onnxruntime-web's builds have no float64 kernels).
 */
function unitGrid(ctx: ConverterContext, n: string, axis: string): string {
  const g = ctx.g;
  const scalar = ctx.op('Squeeze', [n, g.constInt64([0])], `grid/${axis}/n`);
  const index = ctx.op('Range', [g.constInt64([0], []), scalar, g.constInt64([1], [])], `grid/${axis}/i`);
  const i = ctx.op('Cast', [index], `grid/${axis}/if`, { to: DataType.FLOAT });
  const nf = ctx.op('Cast', [n], `grid/${axis}/nf`, { to: DataType.FLOAT });
  const den = ctx.op(
    'Max',
    [ctx.op('Sub', [nf, g.constFloat([1], [])], `grid/${axis}/n1`), g.constFloat([1], [])],
    `grid/${axis}/den`,
  );
  const num = ctx.op(
    'Sub',
    [ctx.op('Mul', [i, g.constFloat([2], [])], `grid/${axis}/2i`), den],
    `grid/${axis}/num`,
  );
  return ctx.op('Div', [num, den], `grid/${axis}`);
}

/** `flowWarp(high, flow)`: high (N,C,h,w) sampled at the H×W grid displaced by flow (N,2,H,W). */
function flowWarp(ctx: ConverterContext, high: string, flow: string): string {
  const g = ctx.g;
  const h = ctx.op('Shape', [flow], 'grid/H', { start: 2, end: 3 });
  const w = ctx.op('Shape', [flow], 'grid/W', { start: 3, end: 4 });
  const gx = ctx.op('Reshape', [unitGrid(ctx, w, 'x'), g.constInt64([1, 1, 1, -1])], 'grid/bx');
  const gy = ctx.op('Reshape', [unitGrid(ctx, h, 'y'), g.constInt64([1, 1, -1, 1])], 'grid/by');
  const wh = ctx.op(
    'Reshape',
    [
      ctx.op('Cast', [ctx.op('Concat', [w, h], 'grid/wh_i', { axis: 0 })], 'grid/wh_f', {
        to: DataType.FLOAT,
      }),
      g.constInt64([1, 2, 1, 1]),
    ],
    'grid/wh',
  );
  const scaled = ctx.op('Div', [flow, wh], 'grid/flow');
  const axes = g.constInt64([1]);
  const fx = ctx.op('Slice', [scaled, g.constInt64([0]), g.constInt64([1]), axes], 'grid/fx');
  const fy = ctx.op('Slice', [scaled, g.constInt64([1]), g.constInt64([2]), axes], 'grid/fy');
  const grid = ctx.op(
    'Transpose',
    [
      ctx.op(
        'Concat',
        [ctx.op('Add', [gx, fx], 'grid/gx'), ctx.op('Add', [gy, fy], 'grid/gy')],
        'grid/nchw',
        { axis: 1 },
      ),
    ],
    'grid',
    { perm: [0, 2, 3, 1] },
  );
  return ctx.op('GridSample', [high, grid], 'warped', {
    mode: 'bilinear',
    padding_mode: 'zeros',
    align_corners: 1,
  });
}

const align: Converter = (ctx) => {
  const [low, high] = ctx.expectInputs(2, 'low, high');
  const l = ctx.conv('down_l', low!.name);
  const h = ctx.g.resizeLike(ctx.conv('down_h', high!.name), low!.name, false, ctx.scoped('down_h/resized'));
  const flow = ctx.conv('flow_make', ctx.op('Concat', [h, l], 'concat', { axis: 1 }), { padding: 1 });
  return [ctx.value(flowWarp(ctx, high!.name, flow), low)];
};

const sf2: Converter = (ctx) => {
  const [left, down] = ctx.expectInputs(2, 'left, down');
  // wsss resizes `down` to left's size when they differ (align-corners false); a same-size resize is the identity.
  const sameSize = (left!.sizeKey ?? left!.name) === (down!.sizeKey ?? down!.name);
  const d = sameSize
    ? down!.name
    : ctx.g.resizeLike(down!.name, left!.name, false, ctx.scoped('down/resized'));
  const cbr = (k: string, x: string) => ctx.cbr(`conv${k}`, `bn${k}`, x, { padding: 1 });
  const h1 = cbr('1h', left!.name);
  const h2 = cbr('2h', h1);
  const v1 = cbr('1v', d);
  const v2 = cbr('2v', v1);
  const f = ctx.op('Mul', [h2, v2], 'fused');
  const h4 = cbr('4h', ctx.op('Add', [cbr('3h', f), h1], 'h3'));
  const v4 = cbr('4v', ctx.op('Add', [cbr('3v', f), v1], 'v3'));
  return [ctx.value(h4, left), ctx.value(v4, left)];
};

const gciFusion: Converter = (ctx) => {
  const [conv3, context] = ctx.expectInputs(2, 'conv3, context');
  const c = ctx.option<number>(
    'channels',
    (v) => Number.isInteger(v) && (v as number) > 0,
    'a positive integer',
  );
  const g = ctx.g;
  const cbr = (name: string, x: string, padding = 0) => ctx.cbr(`${name}/conv`, `${name}/bn`, x, { padding });
  const skip = cbr('fc8_skip', conv3!.name);
  const up = g.resizeLike(context!.name, conv3!.name, true, ctx.scoped('context/resized'));
  const deep = cbr('fc8_x', ctx.op('Concat', [up, skip], 'concat', { axis: 1 }), 1);
  const pooled = ctx.op('ReduceMax', [cbr('gci/fc_deep', deep)], 'gci/max', { axes: [2, 3], keepdims: 1 });
  const axes = g.constInt64([1]);
  const gamma = ctx.op('Slice', [pooled, g.constInt64([0]), g.constInt64([c]), axes], 'gci/gamma');
  const beta = ctx.op('Slice', [pooled, g.constInt64([c]), g.constInt64([2 * c]), axes], 'gci/beta');
  const s0 = ctx.bn('gci/fc_skip/bn', ctx.conv('gci/fc_skip/conv', conv3!.name));
  const scaled = ctx.op('Mul', [s0, ctx.op('Add', [gamma, g.constFloat([1])], 'gci/gamma1')], 'gci/scaled');
  const s = ctx.op('Relu', [ctx.op('Add', [scaled, beta], 'gci/shifted')], 'gci/s');
  return [ctx.value(cbr('gci/fc_out', s), conv3), ctx.value(deep, conv3)];
};

/** Converters of @wsss/sf2's layers. */
export const fusionConverters: Record<string, Converter> = {
  WsssAlign: align,
  WsssSf2: sf2,
  WsssGciFusion: gciFusion,
};
