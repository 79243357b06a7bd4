/**
 * The context modules of @wsss/fca at inference (dropout is the identity):
 * - `WsssFca`: strip-convolution branches, one shared channel attention, the image-pool branch, the 1×1 embedding
 *   with BatchNorm (no ReLU) and the spatial attention `s·e + e`. wsss slices off strip-kernel taps that can only
 *   read zero padding on small maps; the ONNX graph keeps every tap (those add exact zeros), so it serves any size.
 * - `WsssAspp`: 1×1 and dilated 3×3 branches and the image pool, each conv → BN → ReLU, concatenated, 1×1 → BN → ReLU.
 */
import type { Converter } from './context.js';

interface Branch {
  kernel: number;
  dilation: number;
  padding: number;
}

const isBranch = (b: unknown): b is Branch => {
  const o = b as Record<string, unknown>;
  return ['kernel', 'dilation', 'padding'].every((k) => Number.isInteger(o?.[k]));
};

const fca: Converter = (ctx) => {
  const [input] = ctx.expectInputs(1, 'x');
  const x = input!.name;
  const branches = ctx.option<Branch[]>(
    'branches',
    (v) => Array.isArray(v) && v.length > 0 && v.every(isBranch),
    'a non-empty list of { kernel, dilation, padding }',
  );
  const sk = ctx.option<number>(
    'spatialKernel',
    (v) => Number.isInteger(v) && (v as number) % 2 === 1,
    'odd',
  );
  const mlp = (v: string) =>
    ctx.conv('ca/sharedMLP/2', ctx.op('Relu', [ctx.conv('ca/sharedMLP/0', v)], 'ca/relu'));
  const outs = branches.map((b, i) => {
    const name = `fca${i + 1}`;
    const alongH = {
      padding: [b.padding, 0] as [number, number],
      dilation: [b.dilation, 1] as [number, number],
    };
    const alongW = {
      padding: [0, b.padding] as [number, number],
      dilation: [1, b.dilation] as [number, number],
    };
    const pathA = ctx.conv(`${name}/conv1_2`, ctx.conv(`${name}/conv1_1`, x, alongH), alongW);
    const pathB = ctx.conv(`${name}/conv2_2`, ctx.conv(`${name}/conv2_1`, x, alongW), alongH);
    const y = ctx.op('Add', [pathA, pathB], `${name}/sum`);
    const avg = ctx.op('ReduceMean', [y], `${name}/avg`, { axes: [2, 3], keepdims: 1 });
    const max = ctx.op('ReduceMax', [y], `${name}/max`, { axes: [2, 3], keepdims: 1 });
    const att = ctx.op('Sigmoid', [ctx.op('Add', [mlp(avg), mlp(max)], `${name}/att_sum`)], `${name}/att`);
    return ctx.op('Mul', [y, att], name);
  });
  const gap = ctx.op('ReduceMean', [x], 'gap', { axes: [2, 3], keepdims: 1 });
  const pooled = ctx.bn('global_avg_pool/2', ctx.conv('global_avg_pool/1', gap), true);
  outs.push(ctx.g.broadcastLike(pooled, x, ctx.scoped('pool')));
  const e = ctx.bn('bn1', ctx.conv('conv1', ctx.op('Concat', outs, 'concat', { axis: 1 })));
  const desc = ctx.op(
    'Concat',
    [
      ctx.op('ReduceMean', [e], 'sa/mean', { axes: [1], keepdims: 1 }),
      ctx.op('ReduceMax', [e], 'sa/max', { axes: [1], keepdims: 1 }),
    ],
    'sa/desc',
    { axis: 1 },
  );
  const s = ctx.op('Sigmoid', [ctx.conv('sa/conv', desc, { padding: (sk - 1) / 2 })], 'sa/gate');
  return [ctx.value(ctx.op('Add', [ctx.op('Mul', [e, s], 'sa/mul'), e], 'out'), input)];
};

const aspp: Converter = (ctx) => {
  const [input] = ctx.expectInputs(1, 'x');
  const x = input!.name;
  const rates = ctx.option<number[]>(
    'rates',
    (v) => Array.isArray(v) && v.every((r) => Number.isInteger(r) && r >= 1),
    'a list of positive integers',
  );
  const outs = [
    ctx.cbr('aspp1/atrous_conv', 'aspp1/bn', x),
    ...rates.map((r, i) =>
      ctx.cbr(`aspp${i + 2}/atrous_conv`, `aspp${i + 2}/bn`, x, { padding: r, dilation: r }),
    ),
  ];
  const gap = ctx.op('ReduceMean', [x], 'gap', { axes: [2, 3], keepdims: 1 });
  const pooled = ctx.cbr('global_avg_pool/1', 'global_avg_pool/2', gap);
  outs.push(ctx.g.broadcastLike(pooled, x, ctx.scoped('pool')));
  return [ctx.value(ctx.cbr('conv1', 'bn1', ctx.op('Concat', outs, 'concat', { axis: 1 })), input)];
};

/** Converters of @wsss/fca's layers. */
export const contextConverters: Record<string, Converter> = { WsssFca: fca, WsssAspp: aspp };
