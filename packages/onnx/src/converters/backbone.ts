/**
 * WideResNet-38 (`WsssWideResNet38`, @wsss/backbone-wrn38) and its residual unit (`WsssWrn38Unit`) at inference:
 * pre-activation units (BN → ReLU → conv), projection shortcuts on the activated input, channel dropout as the
 * identity, taps conv2…conv6 as the layer outputs them. BatchNorms use their stored statistics in every mode.
 */
import type { Value } from '../graph.js';
import type { Converter, ConverterContext } from './context.js';

/** The fields of a unit spec (`WideResNet38.units`) the conversion reads. */
interface UnitLike {
  name: string;
  stage: number;
  kind: 'basic' | 'bottleneck';
  stride: number;
  firstDilation: number;
  dilation: number;
}

function isUnit(u: unknown): u is UnitLike {
  const o = u as Record<string, unknown>;
  return (
    typeof o?.['name'] === 'string' &&
    (o['kind'] === 'basic' || o['kind'] === 'bottleneck') &&
    ['stage', 'stride', 'firstDilation', 'dilation'].every((k) => Number.isInteger(o[k]))
  );
}

/**
 * One pre-activation unit on NCHW x with the weights under `prefix` (`b4_3/` in the backbone, empty in a unit
 * layer). Returns the output and `a` = ReLU(BN_2a(x)) (the conv4/conv5 taps).
 */
function residualUnit(
  ctx: ConverterContext,
  prefix: string,
  u: UnitLike,
  x: string,
): { y: string; a: string } {
  const p = (n: string) => `${prefix}${n}`;
  const a = ctx.bn(p('bn_branch2a'), x, true);
  const shortcut = ctx.has(p('conv_branch1/kernel'))
    ? ctx.conv(p('conv_branch1'), a, { stride: u.stride })
    : x;
  let r: string;
  if (u.kind === 'basic') {
    r = ctx.conv(p('conv_branch2a'), a, {
      stride: u.stride,
      padding: u.firstDilation,
      dilation: u.firstDilation,
    });
    r = ctx.bn(p('bn_branch2b1'), r, true);
    r = ctx.conv(p('conv_branch2b1'), r, { padding: u.dilation, dilation: u.dilation });
  } else {
    r = ctx.conv(p('conv_branch2a'), a, { stride: u.stride });
    r = ctx.bn(p('bn_branch2b1'), r, true);
    r = ctx.conv(p('conv_branch2b1'), r, { padding: u.dilation, dilation: u.dilation });
    r = ctx.bn(p('bn_branch2b2'), r, true);
    r = ctx.conv(p('conv_branch2b2'), r);
  }
  return { y: ctx.op('Add', [shortcut, r], `${prefix}out`), a };
}

const TAPS = ['conv2', 'conv3', 'conv4', 'conv5', 'conv6'];

const wideResNet38: Converter = (ctx) => {
  const [image] = ctx.expectInputs(1, 'image');
  const units = (ctx.layer as unknown as { units?: unknown }).units;
  if (!Array.isArray(units) || units.length === 0 || !units.every(isUnit))
    throw new Error(`exportOnnx: ${ctx.what} does not list its residual units ('units')`);
  const taps = ctx.option<string[]>(
    'taps',
    (v) => Array.isArray(v) && v.length > 0 && v.every((t) => TAPS.includes(t as string)),
    `a non-empty list of ${TAPS.join(', ')}`,
  );
  const wanted = new Set(taps);
  const lastOf = (stage: number) => units.filter((u) => u.stage === stage).pop();
  const last2 = lastOf(2);
  const last3 = lastOf(3);
  const out: Record<string, string> = {};
  let x = ctx.conv('conv1a', image!.name, { padding: 1 });
  for (const u of units) {
    const { y, a } = residualUnit(ctx, `${u.name}/`, u, x);
    if (u.name === 'b5' && wanted.has('conv4')) out['conv4'] = a;
    if (u.name === 'b6' && wanted.has('conv5')) out['conv5'] = a;
    x = y;
    if (u === last2 && wanted.has('conv2')) out['conv2'] = x;
    if (u === last3 && wanted.has('conv3')) out['conv3'] = x;
  }
  if (wanted.has('conv6')) out['conv6'] = ctx.bn('bn7', x, true);
  return taps.map((t): Value => {
    const v = out[t];
    if (!v) throw new Error(`exportOnnx: ${ctx.what} computed no tap '${t}'`);
    return ctx.value(v);
  });
};

const wrn38Unit: Converter = (ctx) => {
  const [x] = ctx.expectInputs(1, 'x');
  const int = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
  const u: UnitLike = {
    name: ctx.layer.name,
    stage: 0,
    kind: ctx.option('kind', (v) => v === 'basic' || v === 'bottleneck', "'basic' or 'bottleneck'"),
    stride: ctx.option('stride', int, 'a positive integer'),
    firstDilation: ctx.option('firstDilation', int, 'a positive integer'),
    dilation: ctx.option('dilation', int, 'a positive integer'),
  };
  return [ctx.value(residualUnit(ctx, '', u, x!.name).y)];
};

/** Converters of @wsss/backbone-wrn38's layers. */
export const backboneConverters: Record<string, Converter> = {
  WsssWideResNet38: wideResNet38,
  WsssWrn38Unit: wrn38Unit,
};
