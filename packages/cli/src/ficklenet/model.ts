/**
 * The two networks of the FickleNet + DSRG pipeline (spec §5, §6), both on the WRN-38 backbone's `conv6`
 * (output stride 8):
 * - the FickleNet classifier: backbone → `FickleSelection` (s×s stochastic selection + stride-s classifier + global
 *   average pooling) → image-level class scores (N,K), trained with the multi-label soft-margin loss (spec §5.2);
 * - the DSRG segmentation network: backbone → DeepLab-v2 head (`DsrgHead`, four dilated branches summed, spec §6.1)
 *   → logits (N,h,w,K+1) with background at channel 0.
 */
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type WideResNet38, type Wrn38Options, wrn38, wrn38StateDictRules } from '@wsss/backbone-wrn38';
import { countParameters, type ParamGroup, type StateDictRule } from '@wsss/core';
import { DsrgHead, type DsrgHeadOptions, FickleSelection } from '@wsss/ficklenet';
import { referenceParamGroups } from '../model/wsfcn.js';

/** Learning-rate multipliers of DSRG's groups (spec §6.1: backbone 1/2 for weights/biases, new layers 10/20). */
export const DSRG_LR_MULTS: readonly [number, number, number, number] = [1, 2, 10, 20];

/** What the training loop, checkpoints and export need of a network. */
export interface TrainableNet {
  /** image (N,H,W,3), ImageNet-normalised → the network's output. */
  model: tfl.LayersModel;
  backbone: WideResNet38;
  /** The four reference parameter groups (spec §1.6), trainable variables only. */
  paramGroups(opts?: { lrMults?: readonly number[]; weightDecay?: number }): ParamGroup[];
  /** State-dict rules of the backbone with the reference key names (spec §2.3). */
  stateDictRules(): StateDictRule[];
  /** Parameters as PyTorch counts them (no BN running statistics). */
  countParameters(): number;
}

export interface FickleClassifierNet extends TrainableNet {
  /** image → class scores (N,K). */
  model: tfl.LayersModel;
  selection: FickleSelection;
}

export interface DsrgNet extends TrainableNet {
  /** image → logits (N,⌈H/8⌉,⌈W/8⌉,K+1), background first. */
  model: tfl.LayersModel;
  head: DsrgHead;
}

/**
 * Configuration of {@link createFickleClassifier}: the classes, the backbone options (the tap is always
 * `conv6`) and the hidden-unit selection's window s and drop rate p.
 */
export interface FickleClassifierConfig {
  /** K foreground classes. */
  numClasses: number;
  backbone: Partial<Omit<Wrn38Options, 'taps'>>;
  /** s (odd). [default] 9 (spec §5.2). */
  kernelSize: number;
  /** p. 0.9 (spec §5.2, Table 5). */
  rate: number;
}

/**
 * Configuration of {@link createDsrgNet}: the foreground classes, the backbone options (the tap is always
 * `conv6`) and the DSRG head's options (its classes are set from `numClasses`).
 */
export interface DsrgNetConfig {
  /** K foreground classes; the head has K + 1 outputs. */
  numClasses: number;
  backbone: Partial<Omit<Wrn38Options, 'taps'>>;
  head: Partial<Omit<DsrgHeadOptions, 'numClasses'>>;
}

function conv6Of(backbone: WideResNet38, image: tfl.SymbolicTensor): tfl.SymbolicTensor {
  const out = backbone.apply(image) as tfl.SymbolicTensor | tfl.SymbolicTensor[];
  return Array.isArray(out) ? out[0]! : out;
}

function trainable<T extends { model: tfl.LayersModel; backbone: WideResNet38 }>(
  parts: T,
  fresh: tfl.layers.Layer[],
  defaultMults: readonly number[],
): T & TrainableNet {
  return {
    ...parts,
    paramGroups(opts = {}) {
      return referenceParamGroups(
        [parts.backbone],
        fresh,
        opts.lrMults ?? defaultMults,
        opts.weightDecay ?? 5e-4,
      );
    },
    stateDictRules() {
      return wrn38StateDictRules('backbone');
    },
    countParameters() {
      return countParameters(parts.model);
    },
  };
}

/** Builds the FickleNet classifier (spec §5.2) as a tf.LayersModel: image → scores (N,K). */
export function createFickleClassifier(c: FickleClassifierConfig): FickleClassifierNet {
  const backbone = wrn38({ ...c.backbone, taps: ['conv6'], name: 'backbone' });
  const selection = new FickleSelection({
    name: 'fickle',
    numClasses: c.numClasses,
    kernelSize: c.kernelSize,
    rate: c.rate,
  });
  const image = tfl.input({ shape: [null, null, 3], name: 'image' });
  const scores = selection.apply(conv6Of(backbone, image)) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: image, outputs: scores, name: 'ficklenet' });
  return trainable({ model, backbone, selection }, [selection], DSRG_LR_MULTS);
}

/** Builds DSRG's segmentation network (spec §6.1) on the WRN-38 backbone: image → logits (N,h,w,K+1). */
export function createDsrgNet(c: DsrgNetConfig): DsrgNet {
  const backbone = wrn38({ ...c.backbone, taps: ['conv6'], name: 'backbone' });
  const head = new DsrgHead({ name: 'dsrg_head', ...c.head, numClasses: c.numClasses + 1 });
  const image = tfl.input({ shape: [null, null, 3], name: 'image' });
  const logits = head.apply(conv6Of(backbone, image)) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: image, outputs: logits, name: 'dsrg' });
  return trainable({ model, backbone, head }, [head], DSRG_LR_MULTS);
}

/** Copies the backbone weights of one network into another built with the same backbone options. */
export function copyBackbone(from: { backbone: WideResNet38 }, to: { backbone: WideResNet38 }): void {
  const src = new Map(from.backbone.weights.map((w) => [w.originalName, w]));
  for (const w of to.backbone.weights) {
    const s = src.get(w.originalName);
    if (!s || !(s.shape as number[]).every((d, i) => d === w.shape[i]))
      throw new Error(`copyBackbone: no weight '${w.originalName}' of shape [${w.shape}] in the source`);
    w.write(s.read() as tf.Tensor);
  }
}
