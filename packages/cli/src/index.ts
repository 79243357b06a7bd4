/**
 * @wsss/cli — the assembled WS-FCN, its training step, and the `wsss` command.
 */
export * from './model/wsfcn.js';
export * from './train/step.js';
export * from './infer/predict.js';
