/**
 * @wsss/backbone-wrn38 — WideResNet-38 (ResNet-38d) with output stride 8 for TensorFlow.js (spec §2).
 */
export * from './architecture.js';
export * from './stateDict.js';
export * from './unit.js';
// the residual-unit plumbing wrn38.ts shares with unit.ts stays inside the package
export { type TapInfo, WideResNet38, WRN38_DEFAULTS, type Wrn38Options, wrn38 } from './wrn38.js';
