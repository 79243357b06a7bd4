/**
 * Gates and heads at inference (dropout is the identity):
 * - `WsssStochasticGate` (@wsss/core): inputs [deep, shallow] → (1 − ψ)·deep + ψ·shallow.
 * - `WsssSegHead` (@wsss/core): conv3×3 → BN → ReLU → conv3×3 → BN → ReLU → conv1×1 + bias.
 * - `WsssDsrgHead` (@wsss/ficklenet): per dilation d, conv3×3 (dilation d) → ReLU → 1×1 → ReLU → 1×1, summed.
 */
import type { Converter } from './context.js';

const stochasticGate: Converter = (ctx) => {
  const [deep, shallow] = ctx.expectInputs(2, 'deep, shallow');
  const psi = ctx.option<number>(
    'psi',
    (v) => typeof v === 'number' && v >= 0 && v <= 1,
    'a number in [0, 1]',
  );
  const g = ctx.g;
  const out = ctx.op(
    'Add',
    [
      ctx.op('Mul', [deep!.name, g.constFloat([1 - psi], [])], 'deep'),
      ctx.op('Mul', [shallow!.name, g.constFloat([psi], [])], 'shallow'),
    ],
    'out',
  );
  return [ctx.value(out, deep)];
};

const segHead: Converter = (ctx) => {
  const [x] = ctx.expectInputs(1, 'x');
  const y = ctx.cbr('4', '5', ctx.cbr('0', '1', x!.name, { padding: 1 }), { padding: 1 });
  return [ctx.value(ctx.conv('8', y), x)];
};

const dsrgHead: Converter = (ctx) => {
  const [x] = ctx.expectInputs(1, 'x');
  const dilations = ctx.option<number[]>(
    'dilations',
    (v) => Array.isArray(v) && v.length > 0 && v.every((d) => Number.isInteger(d) && d >= 1),
    'a non-empty list of positive integers',
  );
  const outs = dilations.map((d, i) => {
    const k = i + 1;
    let y = ctx.op('Relu', [ctx.conv(`fc6_${k}`, x!.name, { padding: d, dilation: d })], `fc6_${k}/relu`);
    y = ctx.op('Relu', [ctx.conv(`fc7_${k}`, y)], `fc7_${k}/relu`);
    return ctx.conv(`fc8-SEC_${k}`, y);
  });
  return [ctx.value(outs.length === 1 ? outs[0]! : ctx.op('Sum', outs, 'sum'), x)];
};

/** Converters of the gate and the heads. */
export const headConverters: Record<string, Converter> = {
  WsssStochasticGate: stochasticGate,
  WsssSegHead: segHead,
  WsssDsrgHead: dsrgHead,
};
