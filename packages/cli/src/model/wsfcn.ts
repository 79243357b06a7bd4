/**
 * The assembled WS-FCN (spec §4.6) and the Table I variants: backbone → context (FCA | ASPP) → fusion
 * (align + SF2 | skip + GCI) → stochastic gate → head. `context: 'aspp', fusion: 'gci'` is the SSSS baseline.
 */

import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type WideResNet38, type Wrn38Options, wrn38, wrn38StateDictRules } from '@wsss/backbone-wrn38';
import {
  countParameters,
  type ParamGroup,
  SegHead,
  type StateDictRule,
  StochasticGate,
  weightKind,
} from '@wsss/core';
import { Aspp, FCA_BRANCHES, Fca, type FcaBranch } from '@wsss/fca';
import { Align, GciFusion, Sf2 } from '@wsss/sf2';

/**
 * The context module on the backbone's `conv6`: `fca` = Flexible Context Aggregation (WS-FCN, spec §4.2),
 * `aspp` = ASPP (the SSSS baseline, spec §3.1).
 */
export type ContextModule = 'fca' | 'aspp';
/**
 * How `conv3` and the context output are fused: `sf2` = align + SF2 cross fusion (WS-FCN, spec §4.3–§4.4),
 * `gci` = skip connection + Global Cue Injection (the SSSS baseline, spec §3.2).
 */
export type FusionModule = 'sf2' | 'gci';

/**
 * Configuration of {@link createWsFcn}: classes, backbone, the Table I choice of context and fusion modules,
 * channel widths, the gate's ψ and the context module's BatchNorm mode (defaults {@link WSFCN_DEFAULTS}).
 */
export interface WsFcnConfig {
  /** Foreground classes K (VOC 20, COCO 80). */
  numClasses: number;
  /** Backbone options (see @wsss/backbone-wrn38); taps are set here. Default: the reference ResNet-38d. */
  backbone: Partial<Omit<Wrn38Options, 'taps'>>;
  context: ContextModule;
  fusion: FusionModule;
  /**
   * Channels of the context output, the fusion streams and the head. Default: the backbone's conv3 channels
   * (256 at full size, as the reference).
   */
  channels?: number;
  /** Channels of the align module's projections (reference 128). Default channels / 2. */
  alignChannels?: number;
  /** FCA branch table; default the paper's (spec §4.2). */
  fcaBranches?: FcaBranch[];
  /** ASPP dilations; default [12, 24, 36]. */
  asppRates?: number[];
  /** ψ of the stochastic gate (spec §3.3). Default 0.3. */
  psi: number;
  /** BatchNorm mode of the context module's BNs: reference 'frozenStats'; 'batch' when training from scratch. */
  contextBnMode: 'frozenStats' | 'batch';
}

/**
 * Default configuration of {@link createWsFcn}: WS-FCN (FCA + SF2) for VOC's 20 foreground classes on the
 * reference backbone, ψ 0.3, frozen-statistics BatchNorm in the context module; channels from the backbone's
 * conv3.
 */
export const WSFCN_DEFAULTS: WsFcnConfig = {
  numClasses: 20,
  backbone: {},
  context: 'fca',
  fusion: 'sf2',
  psi: 0.3,
  contextBnMode: 'frozenStats',
};

/** Learning-rate multipliers of the four reference groups (spec §1.6): WS-FCN 1/2/20/40, SSSS 1/2/10/20. */
export const WSFCN_LR_MULTS: readonly [number, number, number, number] = [1, 2, 20, 40];
/**
 * Learning-rate multipliers of the SSSS baseline (ASPP + GCI): 1/2/10/20 for pretrained weights, pretrained
 * biases, new weights, new biases.
 */
export const SSSS_LR_MULTS: readonly [number, number, number, number] = [1, 2, 10, 20];

/**
 * An assembled WS-FCN from {@link createWsFcn}: the resolved config, the tf.LayersModel and handles on its
 * layers (`align` only with SF2 fusion), with the reference's parameter groups, state-dict rules and
 * parameter count.
 */
export interface WsFcn {
  config: WsFcnConfig;
  /** image (N,H,W,3), ImageNet-normalised → foreground logits z (N,⌈H/4⌉,⌈W/4⌉,K) (spec §4.6). */
  model: tfl.LayersModel;
  backbone: WideResNet38;
  context: Fca | Aspp;
  align?: Align;
  fusion: Sf2 | GciFusion;
  gate: StochasticGate;
  head: SegHead;
  /** The four reference parameter groups (spec §1.6), trainable variables only. */
  paramGroups(opts?: { lrMults?: readonly number[]; weightDecay?: number }): ParamGroup[];
  /** State-dict rules for the whole model with the reference key names (no `module.` prefix, spec §1.1). */
  stateDictRules(): StateDictRule[];
  /**
   * Parameters as PyTorch counts them (no BN running statistics). At full size with 20 foreground classes this is
   * the reference code's count — SSSS 137,973,172; +FCA 144,395,718; +SF2 141,791,060; WS-FCN 148,213,606. The
   * paper's Table I (137.10 / 143.52 / 140.92 / 147.34 M) is consistently 0.87 M lower; we report the code's.
   */
  countParameters(): number;
}

const CONFIG_KEYS = new Set(
  Object.keys(WSFCN_DEFAULTS).concat(['channels', 'alignChannels', 'fcaBranches', 'asppRates']),
);

/** Checks a (partial) config and fills defaults; errors name the key, the value and what is allowed. */
export function resolveWsFcnConfig(config: Partial<WsFcnConfig> = {}): WsFcnConfig {
  for (const k of Object.keys(config)) {
    if (!CONFIG_KEYS.has(k))
      throw new Error(
        `createWsFcn: unknown option '${k}'; accepted options are ${[...CONFIG_KEYS].join(', ')}`,
      );
  }
  const c: WsFcnConfig = { ...WSFCN_DEFAULTS, ...config, backbone: { ...(config.backbone ?? {}) } };
  if (!Number.isInteger(c.numClasses) || c.numClasses < 1)
    throw new Error(`createWsFcn: numClasses must be a positive integer, got ${c.numClasses}`);
  if (c.context !== 'fca' && c.context !== 'aspp')
    throw new Error(`createWsFcn: context must be 'fca' or 'aspp', got '${c.context}'`);
  if (c.fusion !== 'sf2' && c.fusion !== 'gci')
    throw new Error(`createWsFcn: fusion must be 'sf2' or 'gci', got '${c.fusion}'`);
  if (!(c.psi >= 0 && c.psi <= 1)) throw new Error(`createWsFcn: psi must be in [0, 1], got ${c.psi}`);
  return c;
}

/**
 * The four reference parameter groups (spec §1.6) of a network made of pretrained layers (the backbone) and new
 * ones: pretrained weights, pretrained biases, new weights, new biases, with learning-rate multipliers `mults`.
 * Weights and BN γ are decayed by `weightDecay`; biases and BN β are not. Trainable variables only; empty groups
 * are dropped.
 */
export function referenceParamGroups(
  pretrained: readonly tfl.layers.Layer[],
  fresh: readonly tfl.layers.Layer[],
  mults: readonly number[],
  weightDecay: number,
): ParamGroup[] {
  const groups: ParamGroup[] = [
    { name: 'pretrained weights', variables: [], lrMult: mults[0]!, weightDecay },
    { name: 'pretrained biases', variables: [], lrMult: mults[1]!, weightDecay: 0 },
    { name: 'new weights', variables: [], lrMult: mults[2]!, weightDecay },
    { name: 'new biases', variables: [], lrMult: mults[3]!, weightDecay: 0 },
  ];
  const place = (layer: tfl.layers.Layer, offset: 0 | 2) => {
    for (const w of layer.trainableWeights) {
      const kind = weightKind(w.originalName);
      const isBias = kind === 'bias' || kind === 'beta';
      groups[offset + (isBias ? 1 : 0)]!.variables.push(w.read() as tf.Variable);
    }
  };
  for (const l of pretrained) place(l, 0);
  for (const l of fresh) place(l, 2);
  return groups.filter((g) => g.variables.length > 0);
}

/** Builds WS-FCN (or a Table I variant) as a tf.LayersModel with handles on its parts. */
export function createWsFcn(config: Partial<WsFcnConfig> = {}): WsFcn {
  const c = resolveWsFcnConfig(config);
  const backbone = wrn38({ ...c.backbone, taps: ['conv3', 'conv6'], name: 'backbone' });
  const conv3Channels = backbone.tapInfo()[0]!.channels;
  const channels = c.channels ?? conv3Channels;
  const context =
    c.context === 'fca'
      ? new Fca({
          name: 'fca',
          channels,
          branches: (c.fcaBranches ?? FCA_BRANCHES).map((b) => ({ ...b })),
          bnMode: c.contextBnMode,
        })
      : new Aspp({ name: 'aspp', channels, rates: c.asppRates ?? [12, 24, 36], bnMode: c.contextBnMode });
  const gate = new StochasticGate({ name: 'sg', psi: c.psi });
  const head = new SegHead({ name: 'last_conv', numClasses: c.numClasses, channels });

  const image = tfl.input({ shape: [null, null, 3], name: 'image' });
  const [conv3, conv6] = backbone.apply(image) as tfl.SymbolicTensor[];
  const ctx = context.apply(conv6!) as tfl.SymbolicTensor;
  let align: Align | undefined;
  let fusion: Sf2 | GciFusion;
  let shallow: tfl.SymbolicTensor;
  let deep: tfl.SymbolicTensor;
  if (c.fusion === 'sf2') {
    if (conv3Channels !== channels) {
      throw new Error(
        `createWsFcn: SF2 fuses conv3 (${conv3Channels} channels) with the context output; channels must equal ${conv3Channels}, got ${channels}`,
      );
    }
    align = new Align({ name: 'align1', projectChannels: c.alignChannels ?? Math.max(1, channels / 2) });
    fusion = new Sf2({ name: 'sf2', channels });
    [shallow, deep] = fusion.apply([
      conv3!,
      align.apply([conv3!, ctx]) as tfl.SymbolicTensor,
    ]) as tfl.SymbolicTensor[] as [tfl.SymbolicTensor, tfl.SymbolicTensor];
  } else {
    fusion = new GciFusion({ name: 'gci', channels });
    [shallow, deep] = fusion.apply([conv3!, ctx]) as tfl.SymbolicTensor[] as [
      tfl.SymbolicTensor,
      tfl.SymbolicTensor,
    ];
  }
  const mixed = gate.apply([deep, shallow]) as tfl.SymbolicTensor;
  const z = head.apply(mixed) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: image, outputs: z, name: 'wsfcn' });

  const newLayers: tfl.layers.Layer[] = [context, ...(align ? [align] : []), fusion, head];
  return {
    config: c,
    model,
    backbone,
    context,
    align,
    fusion,
    gate,
    head,
    paramGroups(opts = {}) {
      const mults =
        opts.lrMults ?? (c.context === 'aspp' && c.fusion === 'gci' ? SSSS_LR_MULTS : WSFCN_LR_MULTS);
      return referenceParamGroups([backbone], newLayers, mults, opts.weightDecay ?? 5e-4);
    },
    stateDictRules() {
      return [
        ...wrn38StateDictRules('backbone'),
        ...context.stateDictRules(c.context === 'fca' ? 'fca.' : 'aspp.'),
        ...(align ? align.stateDictRules('align1.') : []),
        ...fusion.stateDictRules(c.fusion === 'sf2' ? 'sf2.' : ''),
        ...head.stateDictRules('last_conv.'),
      ];
    },
    countParameters() {
      return countParameters(model);
    },
  };
}
