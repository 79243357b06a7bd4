/**
 * PAMR as a layer (spec §3.6, DESIGN §2): inputs `[image, masks]`, output the refined masks at the image's
 * size. No weights; calls the functional twin {@link pamr}.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type Kwargs, type LayerArgs, registerWsssLayer, type Shape, WsssLayer } from '@wsss/core';
import { PAMR_DEFAULTS, type PamrOptions, pamr, resolvePamrOptions } from './pamr.js';

/**
 * Pixel-Adaptive Mask Refinement layer. Inputs `[image (N,H,W,K), masks (N,h,w,C)]`, output (N,H,W,C).
 * Options `iterations` (default 10) and `dilations` (default [1,2,4,8,12,24]). Its output carries no gradient
 * (see {@link pamr}); the same in training and inference.
 */
export class Pamr extends WsssLayer<PamrOptions> {
  static className = 'WsssPamr';

  constructor(args: Partial<PamrOptions> & LayerArgs = {}) {
    super(args, { iterations: PAMR_DEFAULTS.iterations, dilations: [...PAMR_DEFAULTS.dilations] });
    const checked = resolvePamrOptions(this.options, 'WsssPamr');
    this.options.iterations = checked.iterations;
    this.options.dilations = checked.dilations;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) {
      throw new Error(`WsssPamr expects two inputs [image, masks], got shape ${JSON.stringify(inputShape)}`);
    }
    const [image, masks] = inputShape as Shape[];
    if (image!.length !== 4 || masks!.length !== 4) {
      throw new Error(
        `WsssPamr: image ${JSON.stringify(image)} and masks ${JSON.stringify(masks)} must both be rank 4 (N,H,W,C)`,
      );
    }
    const [ni, h, w] = image!;
    const [nm, , , c] = masks!;
    if (ni != null && nm != null && ni !== nm) {
      throw new Error(
        `WsssPamr: image ${JSON.stringify(image)} and masks ${JSON.stringify(masks)} must have the same batch size`,
      );
    }
    return [ni ?? nm ?? null, h ?? null, w ?? null, c ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new Error('WsssPamr expects two inputs [image, masks]');
    }
    return pamr(inputs[0] as tf.Tensor4D, inputs[1] as tf.Tensor4D, this.options);
  }

  /**
   * The base layer config plus `iterations` and a copy of `dilations` (so the config does not share the
   * layer's array).
   */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), dilations: [...this.options.dilations] };
  }
}
registerWsssLayer(Pamr);
