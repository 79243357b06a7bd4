/**
 * Zero-copy `Identity` for wasm. tfjs clones every tensor it saves for backpropagation (engine
 * `saveTensorsForBackwardMode`), and wasm's Identity copies the buffer: a training step's saved activations were
 * copied in full (measured: 1.8 GB and 1.1 s per WS-FCN demo step). Tensors are immutable, so the clone can
 * share the buffer and take a reference, as the cpu backend does.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from './heap.js';

export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    (backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  },
};
