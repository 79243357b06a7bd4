/** The FickleNet + DSRG networks and localization settings a run configuration describes. */
import type { WsssConfig } from '../config/schema.js';
import { createDsrgNet, createFickleClassifier, type DsrgNet, type FickleClassifierNet } from './model.js';

/** Builds the FickleNet classifier a config describes. */
export function buildClassifier(config: WsssConfig, numClasses: number): FickleClassifierNet {
  const { channels, ...rest } = config.model.backbone;
  return createFickleClassifier({
    numClasses,
    backbone: channels ? { ...rest, channels } : rest,
    kernelSize: config.ficklenet.kernelSize,
    rate: config.ficklenet.rate,
  });
}

/** The localization settings of a config (spec §5.3): selections, aggregation, thresholds, input size, seed. */
export function localizeSettings(config: WsssConfig) {
  const f = config.ficklenet;
  return {
    seed: config.train.seed,
    size: f.size,
    runs: f.runs,
    aggregate: f.aggregate,
    scales: f.localizeScales,
    flip: f.localizeFlip,
    thFg: f.thFg,
    thBg: f.thBg,
    fgQuantile: f.fgQuantile,
    background: f.background,
    saliencyThreshold: f.saliencyThreshold,
    fgMinSaliency: f.fgMinSaliency,
    saliencyMaps: f.saliencyMaps,
  };
}

/** Builds the DSRG network a config describes. */
export function buildDsrgNet(config: WsssConfig, numClasses: number): DsrgNet {
  const { channels, ...rest } = config.model.backbone;
  return createDsrgNet({
    numClasses,
    backbone: channels ? { ...rest, channels } : rest,
    head: { channels: config.ficklenet.headChannels, dilations: [...config.ficklenet.headDilations] },
  });
}
