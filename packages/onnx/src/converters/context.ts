/**
 * What a layer converter works with: the graph being built, the layer (its config and weights by name), its input
 * values (NCHW inside the graph), and helpers that turn the layer's named convolutions and BatchNorms into ONNX
 * nodes exactly as wsss's `ModuleOps` computes them at inference.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { BN_EPSILON } from '@wsss/core';
import { type GraphBuilder, hwioToOihw, type Value, type WeightData } from '../graph.js';

/** Stride, symmetric zero padding and dilation of a convolution; pairs are [height, width]. */
export interface ConvGeometry {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
}

const pair = (v: number | [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v;

/** Converts one call of a layer: returns one value per output of the call, in order. */
export type Converter = (ctx: ConverterContext) => Value[];

/** Converter context of one layer call. */
export class ConverterContext {
  /** The layer's config (`getConfig()`: base config plus a wsss module's options). */
  readonly config: Record<string, unknown>;
  private readonly byName = new Map<string, tfl.LayerVariable>();

  constructor(
    readonly g: GraphBuilder,
    readonly layer: tfl.layers.Layer,
    readonly inputs: Value[],
  ) {
    this.config = layer.getConfig() as Record<string, unknown>;
    const prefix = `${layer.name}/`;
    for (const w of layer.weights) {
      const name = w.originalName.startsWith(prefix) ? w.originalName.slice(prefix.length) : w.originalName;
      this.byName.set(name, w);
    }
  }

  /** `Wsss…` class name and layer name, for messages. */
  get what(): string {
    return `layer '${this.layer.name}' (${this.layer.getClassName()})`;
  }

  /** Throws naming the layer unless the call has `n` inputs. */
  expectInputs(n: number, names: string): Value[] {
    if (this.inputs.length !== n)
      throw new Error(`exportOnnx: ${this.what} takes ${n} input(s) [${names}], got ${this.inputs.length}`);
    for (const v of this.inputs)
      if (v.rank !== 4) throw new Error(`exportOnnx: ${this.what} expects NHWC feature maps (rank 4)`);
    return this.inputs;
  }

  /** Whether the layer has a weight `name` (without the layer's prefix, e.g. `b4/conv_branch1/kernel`). */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The weight `name` (tfjs layout), or an error naming the layer and the weight. */
  weight(name: string): WeightData {
    const w = this.byName.get(name);
    if (!w) {
      const have = [...this.byName.keys()];
      throw new Error(
        `exportOnnx: ${this.what} has no weight '${name}' (has ${have.slice(0, 6).join(', ')}${have.length > 6 ? ', …' : ''})`,
      );
    }
    return { data: w.read().dataSync() as Float32Array, shape: [...w.shape] as number[] };
  }

  /** An option of the layer's config, checked with `ok`; an error names the layer and the option. */
  option<T>(key: string, ok: (v: unknown) => boolean, expected: string): T {
    const v = this.config[key];
    if (!ok(v))
      throw new Error(
        `exportOnnx: ${this.what}: option '${key}' must be ${expected}, got ${JSON.stringify(v)}`,
      );
    return v as T;
  }

  /** A graph value name scoped to this layer (`<layer>/<local>`). */
  scoped(local: string): string {
    return `${this.layer.name}/${local}`;
  }

  /**
   * Convolution `name` of the layer (`<name>/kernel`, HWIO, plus `<name>/bias` when the layer has one) on NCHW x:
   * wsss's `applyConv` — explicit symmetric zero padding, stride, dilation. Shared weights become one initializer.
   */
  conv(name: string, x: string, geometry: ConvGeometry = {}): string {
    const key = this.scoped(name);
    const kernel = this.weight(`${name}/kernel`);
    const [ph, pw] = pair(geometry.padding, 0);
    return this.g.conv(
      x,
      {
        kernel: this.g.initializerOnce(`${key}/kernel`, () => hwioToOihw(kernel)),
        kernelSize: [kernel.shape[0]!, kernel.shape[1]!],
        bias: this.has(`${name}/bias`)
          ? this.g.initializerOnce(`${key}/bias`, () => this.weight(`${name}/bias`))
          : undefined,
      },
      key,
      { stride: pair(geometry.stride, 1), dilation: pair(geometry.dilation, 1), pads: [ph, pw, ph, pw] },
    );
  }

  /**
   * BatchNorm `name` of the layer in inference (every wsss BatchNorm mode uses the stored statistics when not
   * training), ε = {@link BN_EPSILON}; γ = 1 and β = 0 when it has no affine transform. ReLU after it with `relu`.
   */
  bn(name: string, x: string, relu = false): string {
    const key = this.scoped(name);
    const mean = this.weight(`${name}/moving_mean`);
    const c = mean.data.length;
    const gamma = this.has(`${name}/gamma`)
      ? this.weight(`${name}/gamma`)
      : { data: new Float32Array(c).fill(1), shape: [c] };
    const beta = this.has(`${name}/beta`)
      ? this.weight(`${name}/beta`)
      : { data: new Float32Array(c), shape: [c] };
    const params: [string, string, string, string] = [
      this.g.initializerOnce(`${key}/gamma`, () => gamma),
      this.g.initializerOnce(`${key}/beta`, () => beta),
      this.g.initializerOnce(`${key}/moving_mean`, () => mean),
      this.g.initializerOnce(`${key}/moving_variance`, () => this.weight(`${name}/moving_variance`)),
    ];
    return this.g.batchNorm(x, params, BN_EPSILON, key, relu);
  }

  /** conv → BatchNorm → ReLU, the blocks most wsss modules are made of. */
  cbr(conv: string, bn: string, x: string, geometry: ConvGeometry = {}): string {
    return this.bn(bn, this.conv(conv, x, geometry), true);
  }

  /** A one-output op scoped to this layer. */
  op(op: string, inputs: string[], local: string, attrs: Parameters<GraphBuilder['op']>[3] = {}): string {
    return this.g.op(op, inputs, this.scoped(local), attrs);
  }

  /** A rank-4 value produced by this layer (sharing `sizeOf`'s spatial size when given). */
  value(name: string, sizeOf?: Value): Value {
    return { name, rank: 4, sizeKey: sizeOf ? (sizeOf.sizeKey ?? sizeOf.name) : name };
  }
}
