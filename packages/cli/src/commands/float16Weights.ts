/**
 * Half-precision weights for `wsss export --float16`: tfjs weight manifests can mark an entry
 * `quantization: { dtype: 'float16' }`, and every tfjs loader (`tf.loadLayersModel`, http or file) widens such
 * weights back to float32 when it reads them. Halves `weights.bin`; the model runs in float32 as before.
 */
import * as tf from '@tensorflow/tfjs-core';
import { floatToHalfBits } from '@wsss/core';

/** Largest finite float16. */
const FLOAT16_MAX = 65504;

/** Bytes a manifest entry occupies in the weight data. */
function entryBytes(spec: tf.io.WeightsManifestEntry): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization?.dtype;
  if (q) return n * (q === 'uint8' ? 1 : 2);
  const size = ({ float32: 4, int32: 4, bool: 1, complex64: 8 } as Partial<Record<string, number>>)[
    spec.dtype
  ];
  if (size === undefined)
    throw new Error(`float16 weights: weight '${spec.name}' has dtype ${spec.dtype}, which is not supported`);
  return n * size;
}

/**
 * The same model artifacts with every unquantized float32 weight stored as float16 (other weights copied
 * unchanged).
 * @throws when a weight has a finite value beyond ±65504 (it would become ±∞), naming the weight.
 */
export function float16Artifacts(artifacts: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  const specs = artifacts.weightSpecs ?? [];
  const data = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? []));
  const outSpecs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const spec of specs) {
    const bytes = entryBytes(spec);
    if (offset + bytes > data.byteLength) {
      throw new Error(
        `float16 weights: the weight data ends before weight '${spec.name}' (${data.byteLength} bytes)`,
      );
    }
    if (spec.dtype === 'float32' && !spec.quantization) {
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
    } else {
      chunks.push(data.slice(offset, offset + bytes));
      outSpecs.push({ ...spec });
    }
    offset += bytes;
  }
  if (offset !== data.byteLength) {
    throw new Error(
      `float16 weights: the manifest describes ${offset} bytes but the weight data has ${data.byteLength}`,
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
