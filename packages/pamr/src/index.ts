/**
 * @wsss/pamr — Pixel-Adaptive Mask Refinement (spec §3.6) for TensorFlow.js: the `pamr` op, the `Pamr` layer
 * (`WsssPamr`, registered on import), and fast kernels for the cpu and wasm backends.
 */
export { Pamr } from './layer.js';
export { PAMR_DEFAULTS, type PamrOptions, pamr } from './pamr.js';
