import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { floatToHalfBits as float16Bits } from '@wsss/core';
import { seededValues, useBackend } from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { affineQuantize, quantizedArtifacts } from './quantizedWeights.js';

const float16Artifacts = (a: tf.io.ModelArtifacts) => quantizedArtifacts(a, 'float16');

/** What tfjs's loader makes of float16 bits (its own decoder, via a one-entry manifest). */
function decodeWithTfjs(bits: Uint16Array): Float32Array {
  const spec: tf.io.WeightsManifestEntry = {
    name: 'w',
    shape: [bits.length],
    dtype: 'float32',
    quantization: { dtype: 'float16' },
  };
  const t = tf.io.decodeWeights(bits.slice().buffer, [spec])['w']!;
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

/** Artifacts of a model as `model.save` hands them to a save handler. */
async function artifactsOf(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return saved!;
}

/** Two dense layers (6 → 5 → 3) with random kernels and biases. */
const smallDenseModel = () =>
  tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [6], units: 5, activation: 'relu', kernelInitializer: 'glorotNormal' }),
      tfl.layers.dense({ units: 3, biasInitializer: 'randomNormal' }),
    ],
  });

describe('float16 weights (wsss export --float16)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('rounds to nearest even, with subnormals, overflow to ∞, signed zero and NaN', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66], // 0.0999755859375
      [65504, 0x7bff], // largest finite
      [65519, 0x7bff], // below the midpoint to 65536
      [65520, 0x7c00], // the midpoint: ties to even → ∞
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // half of it: tie → even (0)
      [1.5 * 2 ** -24, 0x0002], // tie between 1 and 2 subnormal steps → even (2)
      [2 ** -26, 0x0000],
      [1 + 2 ** -11, 0x3c00], // tie → even mantissa
      [1 + 3 * 2 ** -11, 0x3c02], // tie → even mantissa (up)
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [2047.9, 0x6800], // mantissa carry into the exponent: 2048
    ];
    for (const [v, bits] of cases) expect([v, float16Bits(v)]).toEqual([v, bits]);
    expect(float16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(float16Bits(Number.NaN) & 0x3ff).not.toBe(0);
  });

  it('tfjs decodes the bits to the nearest float16 of each value (relative error ≤ 2⁻¹¹)', () => {
    const values = seededValues(4000, 7).map((v, i) => v * 10 ** ((i % 9) - 5));
    const bits = Uint16Array.from(values, float16Bits);
    const back = decodeWithTfjs(bits);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const err = Math.abs(back[i]! - v);
      // normal range: half an ulp (2⁻¹¹ relative); subnormal range: half the subnormal step
      expect(err).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -11, 2 ** -25));
    }
  });

  it("converts a model's float32 weights: half the bytes, float16 in the manifest, the same predictions within float16 precision", async () => {
    const model = smallDenseModel();
    const artifacts = await artifactsOf(model);
    const half = float16Artifacts(artifacts);
    const fullBytes = tf.io.CompositeArrayBuffer.join(artifacts.weightData!).byteLength;
    expect((half.weightData as ArrayBuffer).byteLength).toBe(fullBytes / 2);
    expect(half.weightSpecs!.map((s) => s.quantization)).toEqual(
      artifacts.weightSpecs!.map(() => ({ dtype: 'float16' })),
    );
    expect(half.modelTopology).toBe(artifacts.modelTopology);
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(half));
    const x = tf.tensor2d(seededValues(24, 3), [4, 6]);
    const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
    const scale = tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]!);
    expect(diff).toBeLessThan(scale * 2 ** -8);
    expect(diff).toBeGreaterThan(0);
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('copies int32 and already quantized weights unchanged; refuses values beyond ±65504 and a short buffer', () => {
    const f = new Float32Array([1.5, -2.25]);
    const i = new Int32Array([7, -9, 123456789]);
    const q = new Uint8Array([1, 2, 3, 4]);
    const data = new Uint8Array(f.byteLength + i.byteLength + q.byteLength);
    data.set(new Uint8Array(f.buffer), 0);
    data.set(new Uint8Array(i.buffer), f.byteLength);
    data.set(q, f.byteLength + i.byteLength);
    const specs: tf.io.WeightsManifestEntry[] = [
      { name: 'f', shape: [2], dtype: 'float32' },
      { name: 'i', shape: [3], dtype: 'int32' },
      { name: 'q', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: 0 } },
    ];
    const out = float16Artifacts({ modelTopology: {}, weightSpecs: specs, weightData: data.buffer });
    const bytes = new Uint8Array(out.weightData as ArrayBuffer);
    expect(bytes.byteLength).toBe(4 + 12 + 4);
    expect([...new Uint16Array(bytes.slice(0, 4).buffer)]).toEqual([0x3e00, 0xc080]);
    expect([...new Int32Array(bytes.slice(4, 16).buffer)]).toEqual([7, -9, 123456789]);
    expect([...bytes.slice(16)]).toEqual([1, 2, 3, 4]);
    expect(out.weightSpecs!.map((s) => s.quantization?.dtype)).toEqual(['float16', undefined, 'uint8']);

    const big = new Float32Array([1, 70000]);
    expect(() =>
      float16Artifacts({
        modelTopology: {},
        weightSpecs: [{ name: 'layer/kernel', shape: [2], dtype: 'float32' }],
        weightData: big.buffer,
      }),
    ).toThrow(/'layer\/kernel' holds 70000, beyond the float16 range/);
    expect(() =>
      float16Artifacts({
        modelTopology: {},
        weightSpecs: [{ name: 'k', shape: [3], dtype: 'float32' }],
        weightData: big.buffer,
      }),
    ).toThrow(/ends before weight 'k'/);
  });

  it('uint8/uint16: per-tensor affine (tfjs reads q·scale + min), every value back within scale/2; vectors stay float32', async () => {
    const v = Float32Array.from(seededValues(1000, 5), (x) => x * 3 - 1);
    for (const bits of [8, 16] as const) {
      const { q, min, scale } = affineQuantize(v, bits);
      expect(Math.min(...v)).toBe(min);
      expect(scale).toBeCloseTo((Math.max(...v) - min) / (2 ** bits - 1), 12);
      for (let i = 0; i < v.length; i++)
        expect(Math.abs(q[i]! * scale + min - v[i]!)).toBeLessThanOrEqual(scale / 2 + 1e-7);
    }
    expect(affineQuantize(new Float32Array([0.5, 0.5]), 8)).toMatchObject({ min: 0.5, scale: 1 });
    const model = smallDenseModel();
    const artifacts = await artifactsOf(model);
    const x = tf.tensor2d(seededValues(24, 3), [4, 6]);
    const a = model.predict(x) as tf.Tensor;
    const scaleOut = tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]!);
    for (const [storage, bytesPerKernel, tol] of [
      ['uint8', 1, 2 ** -5],
      ['uint16', 2, 2 ** -12],
    ] as const) {
      const out = quantizedArtifacts(artifacts, storage);
      // kernels 6×5 and 5×3 quantized, the biases (5 + 3) kept as float32
      expect((out.weightData as ArrayBuffer).byteLength).toBe((30 + 15) * bytesPerKernel + 8 * 4);
      expect(out.weightSpecs!.map((s) => s.quantization?.dtype)).toEqual([
        storage,
        undefined,
        storage,
        undefined,
      ]);
      const loaded = await tfl.loadLayersModel(tf.io.fromMemory(out));
      const b = loaded.predict(x) as tf.Tensor;
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
      expect(diff, storage).toBeLessThan(scaleOut * tol);
      expect(diff, storage).toBeGreaterThan(0);
      tf.dispose(b);
      loaded.dispose();
    }
    tf.dispose([x, a]);
    model.dispose();
  });
});
