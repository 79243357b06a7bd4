/**
 * @wsss/ficklenet — FickleNet (stochastic hidden-unit selection and localization-map aggregation, spec §5) and
 * DSRG (seeded region growing, seed and boundary losses, DeepLab-style head, spec §6) for TensorFlow.js.
 */

export * from './dsrg.js';
export * from './dsrgHead.js';
export * from './localize.js';
export * from './selection.js';
