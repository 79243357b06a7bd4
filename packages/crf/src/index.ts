/**
 * @wsss/crf — fully-connected CRF inference (Krähenbühl & Koltun 2011) on typed arrays, browser and Node.
 * Worker-thread batches: `@wsss/crf/node`.
 */
export type {
  ActiveLabels,
  InferenceOptions,
  PairwiseBilateralOptions,
  PairwiseGaussianOptions,
} from './denseCrf2d.js';
export { DEFAULT_MIN_PROBABILITY, DenseCRF2D } from './denseCrf2d.js';
export type { Layout } from './layout.js';
export { argmaxLabels, labelsMajorToNhwc, nhwcToLabelsMajor } from './layout.js';
export type { CrfImage, CrfResult, CrfSettings, RecipeOptions } from './recipes.js';
export { DSRG_CRF, dsrgCrf, SSSS_CRF, WS_FCN_CRF, wsFcnCrf } from './recipes.js';
export type { CrfTask } from './tasks.js';
export { runCrfTask } from './tasks.js';
export { unaryFromProbabilities } from './unary.js';
