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
export * from './ficklenet/steps.js';
export * from './infer/predict.js';
export * from './model/wsfcn.js';
export * from './train/step.js';
