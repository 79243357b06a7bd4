/**
 * Smaller tfjs weights for `wsss export`, in tfjs's own weights-manifest quantization, which every tfjs loader
 * (`tf.loadLayersModel`, http or file) turns back into float32 when it reads the model; the model then runs in
 * float32 as before:
 * - `--float16`: `quantization: { dtype: 'float16' }`, every float32 weight as a half float (half the bytes);
 * - `--quantize uint8` / `uint16`: `quantization: { dtype, min, scale }`, per tensor affine: q = round((v − min) /
 *   scale) with scale = (max − min) / (2^bits − 1), read as q·scale + min. Only kernels (rank ≥ 2) are quantized;
 *   the 1-D weights (biases, BatchNorm γ, β and statistics) stay float32: a few kilobytes that keep the
 *   normalisation exact.
 */
import * as tf from '@tensorflow/tfjs-core';
import { floatToHalfBits } from '@wsss/core';

/** Largest finite float16. */
const FLOAT16_MAX = 65504;

/** Bytes a manifest entry occupies in the weight data. */
function entryBytes(spec: tf.io.WeightsManifestEntry): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization?.dtype;
  if (q) return n * (q === 'uint8' ? 1 : 2); // float16 and uint16: 2 bytes
  const size = ({ float32: 4, int32: 4, bool: 1, complex64: 8 } as Partial<Record<string, number>>)[
    spec.dtype
  ];
  if (size === undefined)
    throw new Error(`float16 weights: weight '${spec.name}' has dtype ${spec.dtype}, which is not supported`);
  return n * size;
}

/** How `wsss export` stores the tfjs weights. */
export type WeightStorage = 'float32' | 'float16' | 'uint8' | 'uint16';

/**
 * The same model artifacts with their float32 weights stored as `storage` says (see the module comment); other
 * weights are copied unchanged. `float16` throws when a weight holds a finite value beyond ±65504 (it would become
 * ±∞), naming the weight.
 */
export function quantizedArtifacts(
  artifacts: tf.io.ModelArtifacts,
  storage: Exclude<WeightStorage, 'float32'>,
): tf.io.ModelArtifacts {
  const specs = artifacts.weightSpecs ?? [];
  const data = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? []));
  const outSpecs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const spec of specs) {
    const bytes = entryBytes(spec);
    if (offset + bytes > data.byteLength) {
      throw new Error(
        `${storage} weights: the weight data ends before weight '${spec.name}' (${data.byteLength} bytes)`,
      );
    }
    const floats = spec.dtype === 'float32' && !spec.quantization;
    if (floats && storage === 'float16') {
      const values = new Float32Array(data.buffer.slice(offset, offset + bytes));
      const half = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (Math.abs(v) > FLOAT16_MAX && Number.isFinite(v)) {
          throw new Error(
            `float16 weights: weight '${spec.name}' holds ${v}, beyond the float16 range ±${FLOAT16_MAX}; export without --float16`,
          );
        }
        half[i] = floatToHalfBits(v);
      }
      chunks.push(new Uint8Array(half.buffer));
      outSpecs.push({ ...spec, quantization: { dtype: 'float16' } });
    } else if (floats && spec.shape.length >= 2 && (storage === 'uint8' || storage === 'uint16')) {
      const values = new Float32Array(data.buffer.slice(offset, offset + bytes));
      const { q, min, scale } = affineQuantize(values, storage === 'uint8' ? 8 : 16, spec.name);
      chunks.push(new Uint8Array(q.buffer, q.byteOffset, q.byteLength));
      outSpecs.push({ ...spec, quantization: { dtype: storage, min, scale } });
    } else {
      chunks.push(data.slice(offset, offset + bytes));
      outSpecs.push({ ...spec });
    }
    offset += bytes;
  }
  if (offset !== data.byteLength) {
    throw new Error(
      `${storage} weights: the manifest describes ${offset} bytes but the weight data has ${data.byteLength}`,
    );
  }
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return { ...artifacts, weightSpecs: outSpecs, weightData: out.buffer };
}

/**
 * Per-tensor affine quantization to `bits` (8 or 16): q = round((v − min)/scale), scale = (max − min)/(2^bits − 1)
 * (1 for a constant tensor, as tfjs's converter does); every value comes back within scale/2.
 */
export function affineQuantize(
  values: Float32Array,
  bits: 8 | 16,
  name = 'weight',
): { q: Uint8Array | Uint16Array; min: number; scale: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!Number.isFinite(v)) throw new Error(`uint${bits} weights: weight '${name}' holds ${v}`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0) min = max = 0;
  const levels = 2 ** bits - 1;
  const scale = max > min ? (max - min) / levels : 1;
  const q = bits === 8 ? new Uint8Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++)
    q[i] = Math.min(levels, Math.max(0, Math.round((values[i]! - min) / scale)));
  return { q, min, scale };
}
