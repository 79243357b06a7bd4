/**
 * Whole networks, assembled as @wsss/cli assembles them (`createWsFcn`'s four Table I variants, `createDsrgNet`) at
 * reduced widths with seeded weights: one ONNX session per network runs two odd input sizes at batch 2 (dynamic N,
 * H, W) and matches the tfjs inference forward on the cpu and wasm backends to 1e-4 relative, the raw logits and the
 * `wsfcn-reference` outputs (against @wsss/core's `backgroundSoftmax`, `classScores` and the align-corners resize).
 */
import * as tf from '@tensorflow/tfjs-core';
import { applyModel, backgroundSoftmax, classScores, resizeBilinear } from '@wsss/core';
import { TEST_BACKENDS, useBackend } from '@wsss/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOnnx } from './describe.js';
import { exportOnnx } from './export.js';
import {
  image,
  PARITY,
  printParity,
  relError,
  runOrt,
  type SmallWsFcnConfig,
  session,
  smallDsrgNet,
  smallWsFcn,
  tfForward,
} from './testHelpers.js';

const TOL = 1e-4;
const SIZES: [number, number][] = [
  [33, 45],
  [41, 29],
];

const asArrays = (t: tf.Tensor) => ({ data: t.dataSync() as Float32Array, dims: [...t.shape] });

/** The tfjs side of `wsfcn-reference`: `referenceTestOutputs`' forwardView without a canvas. */
function referenceOutputs(
  model: ReturnType<typeof smallWsFcn>,
  x: tf.Tensor4D,
  focal: { focalP?: number; focalLambda?: number },
) {
  return tf.tidy(() => {
    const z = applyModel(model, x, { training: false }) as tf.Tensor4D;
    const { logits, masks } = backgroundSoftmax(z);
    const scores = classScores(logits, masks, focal);
    const up = resizeBilinear(masks, [x.shape[1], x.shape[2]], { alignCorners: true });
    return { z: asArrays(z), scores: asArrays(scores), masks: asArrays(up) };
  });
}

const VARIANTS: SmallWsFcnConfig[] = (['light', 'full'] as const).flatMap((depth) =>
  (
    [
      ['fca', 'sf2'],
      ['aspp', 'gci'],
      ['fca', 'gci'],
      ['aspp', 'sf2'],
    ] as const
  ).map(([context, fusion], i) => ({
    context,
    fusion,
    depth,
    seed: i + 1,
    // both backbone BatchNorm modes use the stored statistics at inference
    bnMode: i % 2 === 0 ? ('frozen' as const) : ('batch' as const),
  })),
);

describe.each(TEST_BACKENDS)('WS-FCN variants and DSRG on ONNX Runtime vs tfjs %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it.each(VARIANTS.map((v) => [`${v.context}+${v.fusion} ${v.depth}`, v] as const))(
    'WS-FCN %s: logits, class_scores and masks (wsfcn-reference)',
    async (label, v) => {
      const model = smallWsFcn(v);
      // non-default focal parameters on half of the runs, to show they reach the graph
      const focal = v.depth === 'full' ? { focalP: 2, focalLambda: 0.1 } : {};
      const before = tf.memory().numTensors;
      const bytes = exportOnnx(model, { head: 'wsfcn-reference', ...focal });
      expect(tf.memory().numTensors).toBe(before);
      const s = await session(bytes);
      expect(s.outputNames).toEqual(['last_conv', 'class_scores', 'masks']);
      const worst = { last_conv: 0, class_scores: 0, masks: 0 };
      for (const [k, [h, w]] of SIZES.entries()) {
        const x = image(2, h, w, k + 1);
        const ref = referenceOutputs(model, x, focal);
        const out = await runOrt(s, { image: x });
        x.dispose();
        expect(out['masks']!.dims).toEqual([2, h, w, 6]);
        expect(out['class_scores']!.dims).toEqual([2, 5]);
        worst.last_conv = Math.max(worst.last_conv, relError(out['last_conv']!, ref.z));
        worst.class_scores = Math.max(worst.class_scores, relError(out['class_scores']!, ref.scores));
        worst.masks = Math.max(worst.masks, relError(out['masks']!, ref.masks));
      }
      await s.release();
      for (const [name, rel] of Object.entries(worst)) {
        PARITY.push({ what: `WS-FCN ${label} ${name}`, backend, size: '33×45,41×29', rel });
        expect(rel, name).toBeLessThan(TOL);
      }
      model.dispose();
    },
  );

  it.each(['light', 'full'] as const)('DSRG network (%s backbone)', async (depth) => {
    const model = smallDsrgNet(depth);
    const s = await session(exportOnnx(model));
    expect(s.outputNames).toEqual(['dsrg_head']);
    let worst = 0;
    for (const [k, [h, w]] of SIZES.entries()) {
      const x = image(2, h, w, k + 5);
      const out = await runOrt(s, { image: x });
      worst = Math.max(worst, relError(out['dsrg_head']!, tfForward(model, x)[0]!));
      x.dispose();
    }
    await s.release();
    PARITY.push({ what: `DSRG ${depth} logits`, backend, size: '33×45,41×29', rel: worst });
    expect(worst).toBeLessThan(TOL);
    model.dispose();
  });
});

describe('graph interface', () => {
  beforeAll(() => useBackend('cpu'));

  it('layout nchw: the input and rank-4 outputs are (N, C, H, W); same values; batch 1 runs too', async () => {
    const model = smallWsFcn({ context: 'fca', fusion: 'sf2', depth: 'light' });
    const nhwc = await session(exportOnnx(model, { head: 'wsfcn-reference' }));
    const nchwBytes = exportOnnx(model, { head: 'wsfcn-reference', layout: 'nchw' });
    const d = describeOnnx(nchwBytes);
    expect(d.inputs).toEqual([{ name: 'image', elemType: 'float32', shape: ['N', 3, 'H', 'W'] }]);
    expect(d.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['last_conv', ['N', 5, 'last_conv_h', 'last_conv_w']],
      ['class_scores', ['N', 5]],
      ['masks', ['N', 6, 'H', 'W']],
    ]);
    expect(d.metadata['wsss.layout']).toBe('nchw');
    const nchw = await session(nchwBytes);
    const x = image(1, 21, 18, 9);
    const a = await runOrt(nhwc, { image: x });
    const b = await runOrt(nchw, { image: tf.transpose(x, [0, 3, 1, 2]) });
    const toNchw = (o: { data: Float32Array; dims: number[] }) => {
      const t = tf.tensor(o.data, o.dims);
      const r = asArrays(tf.transpose(t, [0, 3, 1, 2]));
      t.dispose();
      return r;
    };
    expect(relError(b['last_conv']!, toNchw(a['last_conv']!))).toBe(0);
    expect(relError(b['masks']!, toNchw(a['masks']!))).toBe(0);
    expect(relError(b['class_scores']!, a['class_scores']!)).toBe(0);
    const ref = tfForward(model, x)[0]!;
    expect(relError(a['last_conv']!, ref)).toBeLessThan(TOL);
    expect(a['last_conv']!.dims).toEqual([1, 6, 5, 5]);
    model.dispose();
  });

  it('describeOnnx: opset, IR version, producer, I/O with symbolic sizes, node and weight counts', () => {
    const model = smallDsrgNet('light');
    const d = describeOnnx(exportOnnx(model, { metadata: { classes: 'bg,a,b,c,d' }, docString: 'test' }));
    expect(d).toMatchObject({ irVersion: 8, opset: 17, producerName: 'wsss', graphName: 'dsrg' });
    expect(d.inputs).toEqual([{ name: 'image', elemType: 'float32', shape: ['N', 'H', 'W', 3] }]);
    expect(d.outputs).toEqual([
      { name: 'dsrg_head', elemType: 'float32', shape: ['N', 'dsrg_head_h', 'dsrg_head_w', 5] },
    ]);
    expect(d.metadata).toEqual({
      'wsss.layout': 'nhwc',
      'wsss.head': 'none',
      'wsss.model': 'dsrg',
      classes: 'bg,a,b,c,d',
    });
    // every weight of the model is an initializer (plus a few constants)
    const weights = model.weights.reduce((a, w) => a + w.shape.reduce((p, q) => p! * q!, 1)!, 0);
    expect(d.parameterCount).toBeGreaterThanOrEqual(weights);
    expect(d.parameterCount).toBeLessThan(weights + 16);
    // conv1a; b2…b5 basic with a projection (3 each); b6, b7 bottlenecks (4 each); the head's 4 branches × 3
    expect(d.opTypes['Conv']).toBe(1 + 4 * 3 + 2 * 4 + 4 * 3);
    expect(d.nodeCount).toBe(Object.values(d.opTypes).reduce((a, b) => a + b, 0));
    model.dispose();
  });
});

afterAll(() => printParity('network parity (max |ORT − tfjs| / max |tfjs|):'));
