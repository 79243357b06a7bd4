/**
 * @wsss/fca — Flexible Context Aggregation (WS-FCN, spec §4.2) for TensorFlow.js.
 */

export * from './aspp.js';
export * from './fca.js';
