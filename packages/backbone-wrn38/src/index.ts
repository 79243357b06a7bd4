/**
 * @wsss/backbone-wrn38 — WideResNet-38 (ResNet-38d) with output stride 8 for TensorFlow.js (spec §2).
 */
export * from './architecture.js';
export * from './stateDict.js';
export * from './unit.js';
export * from './wrn38.js';
