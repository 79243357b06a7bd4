/**
 * @wsss/core — the module contract, trainable ops tfjs lacks, backend selection, heads, losses, metrics and
 * weight files for weakly-supervised semantic segmentation in TensorFlow.js.
 */
export * from './backend/gradients.js';
export * from './backend/setBackend.js';
export * from './backend/wasmThreads.js';
export * from './heads/maskLoss.js';
export * from './heads/pseudoLabels.js';
export * from './heads/scores.js';
export { crc32, crc32Hex } from './io/crc32.js';
export { floatToHalfBits, halfBitsToFloat } from './io/halfFloat.js';
export * from './io/referenceRules.js';
export * from './io/safetensors.js';
export * from './io/stateDict.js';
export * from './io/torch/index.js';
export * from './layers/applyModel.js';
export * from './layers/contract.js';
export * from './layers/initializers.js';
export * from './layers/segHead.js';
export * from './layers/stochasticGate.js';
export * from './metrics/confusion.js';
export * from './ops/batchNorm.js';
export * from './ops/conv2d.js';
export * from './ops/dropout.js';
export { type GridSampleOptions, gridSample } from './ops/gridSample.js';
export * from './ops/noGrad.js';
export { padReplicate, type ReplicatePadding } from './ops/padReplicate.js';
export * from './ops/random.js';
export { reduceMax } from './ops/reduceMax.js';
export { type ResizeBilinearOptions, resizeBilinear } from './ops/resize.js';
export * from './ops/stopGradient.js';
export * from './training/backprop.js';
export * from './training/groupedOptimizer.js';
export * from './training/memory.js';
export * from './training/recompute.js';
