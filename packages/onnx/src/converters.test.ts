/**
 * Each converter alone: a small functional model around one wsss layer (seeded weights), exported and run on ONNX
 * Runtime's CPU provider at two or three input sizes (one session: the spatial sizes are dynamic), batch 2, against
 * the tfjs inference forward on the cpu and wasm backends: max |ORT − tfjs| / max |tfjs| < 1e-4 for every output.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Wrn38Unit, wrn38 } from '@wsss/backbone-wrn38';
import { SegHead, StochasticGate } from '@wsss/core';
import { seededTensor, seedWeights, TEST_BACKENDS, useBackend } from '@wsss/core/testing';
import { Aspp, Fca } from '@wsss/fca';
import { DsrgHead } from '@wsss/ficklenet';
import { Align, GciFusion, Sf2 } from '@wsss/sf2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx } from './export.js';
import { decodeModel, encodeModel, toNumber } from './proto.js';
import { PARITY, printParity, relError, runOrt, SMALL_CHANNELS, session, tfForward } from './testHelpers.js';

const TOL = 1e-4;

/** A model around `layer`: one input per entry of `channels` (named as given), every output of the layer. */
function around(layer: tfl.layers.Layer, inputs: Record<string, number>): tfl.LayersModel {
  const xs = Object.entries(inputs).map(([name, c]) => tfl.input({ shape: [null, null, c], name }));
  const y = layer.apply(xs.length === 1 ? xs[0]! : xs) as tfl.SymbolicTensor | tfl.SymbolicTensor[];
  const model = tfl.model({ inputs: xs, outputs: y, name: `${layer.getClassName()}_model` });
  seedWeights(layer, 3);
  return model;
}

interface Case {
  name: string;
  build: () => tfl.LayersModel;
  /** Per run: [h, w, c] of each input. */
  sizes: [number, number, number][][];
}

const CASES: Case[] = [
  {
    name: 'WsssWideResNet38 light, taps conv2…conv6',
    build: () =>
      around(
        wrn38({
          channels: SMALL_CHANNELS,
          depth: 'light',
          taps: ['conv2', 'conv3', 'conv4', 'conv5', 'conv6'],
          name: 'backbone',
        }),
        { image: 3 },
      ),
    sizes: [[[33, 45, 3]], [[20, 27, 3]]],
  },
  {
    name: 'WsssWrn38Unit basic, stride 2',
    build: () =>
      around(
        new Wrn38Unit({
          kind: 'basic',
          inChannels: 8,
          midChannels: 12,
          outChannels: 16,
          stride: 2,
          bnMode: 'batch',
        }),
        { x: 8 },
      ),
    sizes: [[[9, 11, 8]], [[6, 5, 8]]],
  },
  {
    name: 'WsssWrn38Unit bottleneck, dilation 4',
    build: () =>
      around(
        new Wrn38Unit({
          kind: 'bottleneck',
          inChannels: 16,
          outChannels: 32,
          firstDilation: 4,
          dilation: 4,
          dropout: 0.3,
        }),
        { x: 16 },
      ),
    sizes: [[[9, 11, 16]], [[6, 5, 16]]],
  },
  {
    // 5×6: wsss slices most taps of fca2…fca4 off (they read only zero padding); ONNX keeps them
    name: 'WsssFca (paper branches)',
    build: () => around(new Fca({ channels: 8 }), { x: 16 }),
    sizes: [[[5, 6, 16]], [[13, 17, 16]], [[1, 1, 16]]],
  },
  {
    name: 'WsssFca (own branches, spatial kernel 5)',
    build: () =>
      around(
        new Fca({
          channels: 6,
          spatialKernel: 5,
          branches: [
            { kernel: 1, dilation: 1, padding: 0 },
            { kernel: 3, dilation: 2, padding: 2 },
          ],
          bnMode: 'batch',
        }),
        { x: 5 },
      ),
    sizes: [[[7, 9, 5]], [[12, 4, 5]]],
  },
  {
    name: 'WsssAspp',
    build: () => around(new Aspp({ channels: 8 }), { x: 16 }),
    sizes: [[[5, 6, 16]], [[13, 17, 16]]],
  },
  {
    // low 1×1: the projection of high is resized to 1×1 (half-pixel centre; pytorch_half_pixel would take a corner)
    name: 'WsssAlign',
    build: () => around(new Align({ projectChannels: 4 }), { low: 6, high: 8 }),
    sizes: [
      [
        [9, 11, 6],
        [5, 6, 8],
      ],
      [
        [1, 1, 6],
        [3, 5, 8],
      ],
      [
        [17, 13, 6],
        [9, 7, 8],
      ],
    ],
  },
  {
    name: 'WsssSf2 (deep resized to the shallow size)',
    build: () => around(new Sf2({ channels: 6 }), { left: 6, down: 6 }),
    sizes: [
      [
        [9, 11, 6],
        [5, 6, 6],
      ],
      [
        [7, 8, 6],
        [7, 8, 6],
      ],
    ],
  },
  {
    name: 'WsssGciFusion',
    build: () => around(new GciFusion({ channels: 4, skipChannels: 3 }), { conv3: 6, context: 8 }),
    sizes: [
      [
        [9, 11, 6],
        [5, 6, 8],
      ],
      [
        [7, 4, 6],
        [1, 1, 8],
      ],
    ],
  },
  {
    name: 'WsssStochasticGate',
    build: () => around(new StochasticGate({ psi: 0.3 }), { deep: 6, shallow: 6 }),
    sizes: [
      [
        [9, 11, 6],
        [9, 11, 6],
      ],
    ],
  },
  {
    name: 'WsssSegHead',
    build: () => around(new SegHead({ numClasses: 5, channels: 6 }), { x: 8 }),
    sizes: [[[9, 11, 8]], [[4, 7, 8]]],
  },
  {
    name: 'WsssDsrgHead',
    build: () => around(new DsrgHead({ numClasses: 5, channels: 6 }), { x: 8 }),
    sizes: [[[9, 11, 8]], [[30, 26, 8]]],
  },
  {
    name: 'WsssDsrgHead (one branch)',
    build: () => around(new DsrgHead({ numClasses: 3, channels: 4, dilations: [2] }), { x: 8 }),
    sizes: [[[9, 11, 8]]],
  },
];

/** Exports `model` (or takes `bytes`), runs every size on ORT and returns the worst relative error per output. */
async function parity(
  model: tfl.LayersModel,
  sizes: Case['sizes'],
  bytes = exportOnnx(model),
): Promise<number[]> {
  const s = await session(bytes);
  const worst = s.outputNames.map(() => 0);
  for (const [k, size] of sizes.entries()) {
    const xs = size.map(([h, w, c], i) => seededTensor([2, h, w, c], 10 * k + i + 1) as tf.Tensor4D);
    const ref = tfForward(model, xs.length === 1 ? xs[0]! : xs);
    const out = await runOrt(s, Object.fromEntries(s.inputNames.map((n, i) => [n, xs[i]!])));
    tf.dispose(xs);
    s.outputNames.forEach((n, i) => {
      worst[i] = Math.max(worst[i]!, relError(out[n]!, ref[i]!));
    });
  }
  await s.release();
  return worst;
}

describe.each(TEST_BACKENDS)('converters on ONNX Runtime vs tfjs %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const model = c.build();
    const worst = await parity(model, c.sizes);
    expect(worst.length).toBe(model.outputs.length);
    for (const [i, rel] of worst.entries()) {
      PARITY.push({
        what: `${c.name}${worst.length > 1 ? ` [out ${i}]` : ''}`,
        backend,
        size: c.sizes.map((s) => `${s[0]![0]}×${s[0]![1]}`).join(','),
        rel,
      });
      expect(rel, `${c.name}, output ${i}`).toBeLessThan(TOL);
    }
    model.dispose();
  });
});

describe('the tests catch a wrong translation', () => {
  beforeAll(() => useBackend('cpu'));

  /** Re-encodes `bytes` after `edit` changed the decoded model. */
  const mutate = (bytes: Uint8Array, edit: (m: ReturnType<typeof decodeModel>) => void) => {
    const m = decodeModel(bytes);
    edit(m);
    return encodeModel(m);
  };
  const setAttr =
    (op: string, attr: string, from: string | number, to: string | number) =>
    (m: ReturnType<typeof decodeModel>) => {
      let hits = 0;
      for (const n of m.graph!.node!) {
        if (n.opType !== op) continue;
        for (const a of n.attribute ?? []) {
          if (a.name !== attr) continue;
          if (typeof from === 'string' && new TextDecoder().decode(a.s) === from) {
            a.s = new TextEncoder().encode(to as string);
            hits++;
          } else if (typeof from === 'number' && toNumber(a.i) === from) {
            a.i = to as number;
            hits++;
          }
        }
      }
      expect(hits, `${op}.${attr} = ${from}`).toBeGreaterThan(0);
    };
  const alignCase = CASES.find((c) => c.name === 'WsssAlign')!;

  it('pytorch_half_pixel instead of half_pixel (resize to an output size of 1 in Align)', async () => {
    const model = alignCase.build();
    const bytes = mutate(
      exportOnnx(model),
      setAttr('Resize', 'coordinate_transformation_mode', 'half_pixel', 'pytorch_half_pixel'),
    );
    const [ok] = await parity(model, [alignCase.sizes[0]!]);
    const [bad] = await parity(model, [alignCase.sizes[1]!], bytes);
    expect(ok).toBeLessThan(TOL);
    expect(bad).toBeGreaterThan(1e-2);
  });

  it('align_corners 0 in GridSample; asymmetric in Resize', async () => {
    const model = alignCase.build();
    const grid = mutate(exportOnnx(model), setAttr('GridSample', 'align_corners', 1, 0));
    expect((await parity(model, alignCase.sizes, grid))[0]).toBeGreaterThan(1e-2);
    const resize = mutate(
      exportOnnx(model),
      setAttr('Resize', 'coordinate_transformation_mode', 'half_pixel', 'asymmetric'),
    );
    expect((await parity(model, alignCase.sizes, resize))[0]).toBeGreaterThan(1e-3);
  });

  it('half_pixel instead of align_corners (GCI upsampling)', async () => {
    const gci = CASES.find((c) => c.name === 'WsssGciFusion')!;
    const model = gci.build();
    const bytes = mutate(
      exportOnnx(model),
      setAttr('Resize', 'coordinate_transformation_mode', 'align_corners', 'half_pixel'),
    );
    expect(Math.max(...(await parity(model, gci.sizes, bytes)))).toBeGreaterThan(1e-3);
  });

  it("Keras' BatchNorm ε 1e-3 instead of PyTorch's 1e-5", async () => {
    const seg = CASES.find((c) => c.name === 'WsssSegHead')!;
    const model = seg.build();
    const bytes = mutate(exportOnnx(model), (m) => {
      for (const n of m.graph!.node!)
        for (const a of n.attribute ?? [])
          if (n.opType === 'BatchNormalization' && a.name === 'epsilon') a.f = 1e-3;
    });
    expect((await parity(model, seg.sizes, bytes))[0]).toBeGreaterThan(TOL);
  });

  it('the gate with ψ on the deep input instead of the shallow one', async () => {
    const gate = CASES.find((c) => c.name === 'WsssStochasticGate')!;
    const model = gate.build();
    const bytes = mutate(exportOnnx(model), (m) => {
      const [a, b] = m.graph!.node!.filter((n) => n.opType === 'Mul');
      [a!.input[1], b!.input[1]] = [b!.input[1]!, a!.input[1]!];
    });
    expect((await parity(model, gate.sizes, bytes))[0]).toBeGreaterThan(1e-2);
  });
});

afterAll(() => printParity('converter parity (max |ORT − tfjs| / max |tfjs|):'));
