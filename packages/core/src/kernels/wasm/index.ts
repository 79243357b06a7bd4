/**
 * Kernels that @tensorflow/tfjs-backend-wasm lacks for training, registered for the `wasm` backend
 * (DESIGN §3). Idempotent. Each is built on the backend's XNNPACK conv / matmul, with JS loops only for
 * memory re-layout on the wasm heap.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig, wsssConv2DBackpropFilterConfig } from './conv2dBackpropFilter.js';
import { conv2DBackpropInputConfig, wsssConv2DBackpropInputConfig } from './conv2dBackpropInput.js';
import {
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
} from './depthwiseConv2dBackprop.js';
import { identityConfig } from './identity.js';
import { maxPoolGradConfig } from './maxPoolGrad.js';
import { oneHotConfig } from './oneHot.js';
import { splitVConfig } from './splitV.js';
import { unsortedSegmentSumConfig } from './unsortedSegmentSum.js';

/**
 * Replaced although wasm has them: its Conv2DBackpropInput is a naive loop (~10× slower than ours), its
 * MaxPoolGrad returns wrong values, its Identity copies (see identity.ts), its SplitV slices element by element
 * (see splitV.ts), its OneHot ignores the output dtype (see oneHot.ts).
 */
const REPLACED = [conv2DBackpropInputConfig, maxPoolGradConfig, identityConfig, splitVConfig, oneHotConfig];
/** Missing from wasm. */
const ADDED = [
  conv2DBackpropFilterConfig,
  wsssConv2DBackpropFilterConfig,
  wsssConv2DBackpropInputConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  unsortedSegmentSumConfig,
];

let registered = false;

/** Registers the wsss training kernels for the `wasm` backend (once; later calls do nothing). */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of REPLACED) {
    if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
  }
  for (const config of ADDED) {
    if (!tf.getKernel(config.kernelName, 'wasm')) tf.registerKernel(config);
  }
}

export { guardWasmHeap } from './heapGuard.js';
