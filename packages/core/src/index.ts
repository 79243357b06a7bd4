/**
 * @wsss/core — the module contract, trainable ops tfjs lacks, backend selection, heads, losses, metrics and
 * weight files for weakly-supervised semantic segmentation in TensorFlow.js.
 */
export * from './backend/setBackend.js';
