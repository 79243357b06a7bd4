/**
 * @wsss/cli — the assembled WS-FCN and the FickleNet + DSRG networks, their training steps, and the `wsss` command.
 */

export { COCO_PRESET, DEMO_PRESET, VOC_PRESET } from './config/presets.js';
export {
  CONFIG_SCHEMA,
  ConfigError,
  type DatasetKind,
  type Field,
  type Method,
  parseInterval,
  type Variant,
  validate,
  type WsssConfig,
} from './config/schema.js';
export * from './ficklenet/model.js';
export {
  type DsrgBatch,
  type DsrgStepOptions,
  DsrgTrainer,
  FickleClassifierTrainer,
  type StepOptimizerOptions,
} from './ficklenet/steps.js';
export * from './infer/predict.js';
export * from './model/wsfcn.js';
export {
  type LossConfig,
  type LossTensors,
  type StepResult,
  type TrainBatch,
  WSFCN_LOSS_DEFAULTS,
  WsFcnTrainer,
  wsFcnLosses,
} from './train/step.js';
