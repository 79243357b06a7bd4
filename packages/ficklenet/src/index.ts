/**
 * @wsss/ficklenet — FickleNet (stochastic hidden-unit selection and localization-map aggregation, spec §5),
 * DSRG (seeded region growing, seed and boundary losses, DeepLab-style head, spec §6) and a training-free
 * saliency detector (MB+) for their background seeds, for TensorFlow.js.
 */

export * from './dsrg.js';
export * from './dsrgHead.js';
export * from './localize.js';
export * from './saliency.js';
export * from './selection.js';
