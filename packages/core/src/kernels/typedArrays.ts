/**
 * Running a kernel's typed-array core on the `cpu` and `wasm` backends' own storage: cpu values, or views of
 * the wasm heap (no copies).
 */
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Runs `fn` on Float32Array views of `inputs` and of freshly allocated outputs (contents undefined: `fn`
 * must write every element) and returns the outputs as TensorInfos of `backendName`.
 */
export function onTypedArrays(
  backendName: string,
  backend: unknown,
  kernel: string,
  inputs: tf.TensorInfo[],
  outShapes: number[][],
  fn: (ins: Float32Array[], outs: Float32Array[]) => void,
): tf.TensorInfo[] {
  for (const t of inputs) {
    if (t.dtype !== 'float32') throw new Error(`${kernel}: inputs must be float32, got ${t.dtype}`);
  }
  if (backendName === 'wasm') {
    const b = backend as unknown as BackendWasm;
    const infos = outShapes.map((s) => b.makeOutput(s, 'float32'));
    // Views are taken after every allocation: an allocation may grow (and so detach) the heap.
    const ins = inputs.map((t) => b.typedArrayFromHeap(t) as Float32Array);
    const outs = infos.map((t) => b.typedArrayFromHeap(t) as Float32Array);
    fn(ins, outs);
    return infos;
  }
  const b = backend as unknown as MathBackendCPU;
  const ins = inputs.map((t) => b.data.get(t.dataId)!.values as Float32Array);
  const outs = outShapes.map((s) => new Float32Array(tf.util.sizeFromShape(s)));
  fn(ins, outs);
  return outs.map((v, i) => b.makeTensorInfo(outShapes[i]!, 'float32', v));
}
