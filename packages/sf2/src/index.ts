/**
 * @wsss/sf2 — semantic-flow alignment and SF2 cross fusion (WS-FCN, spec §4.3–§4.4) for TensorFlow.js.
 */
export * from './align.js';
export * from './gci.js';
export * from './sf2.js';
