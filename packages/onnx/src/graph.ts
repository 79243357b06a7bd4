/**
 * Building an ONNX graph: unique value names, initializers (float32 weights as little-endian `raw_data`), cached
 * constants, nodes with typed attributes, and the NCHW helpers the layer converters are written with (convolution with
 * explicit [top, left, bottom, right] padding, inference BatchNorm, resizes, spatial sizes).
 */
import {
  type AttributeMessage,
  AttributeType,
  DataType,
  type NodeMessage,
  type TensorMessage,
} from './proto.js';

/** An attribute value: numbers are INT when integral unless given as `{ f }`; arrays of integers are INTS. */
export type AttrValue = number | string | number[] | { f: number } | { floats: number[] };

/** A value of the graph being built: its name and rank (4 = an NCHW feature map inside the graph). */
export interface Value {
  name: string;
  rank: number;
  /**
   * A token shared by values known to have the same spatial size (H, W), so a converter can skip a resize that
   * would be the identity. Defaults to the value's own name.
   */
  sizeKey?: string;
}

/** A float32 weight as a converter reads it from a layer: row-major data and shape (tfjs layout). */
export interface WeightData {
  data: Float32Array;
  shape: number[];
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndianBytes(data: Float32Array | Float64Array | BigInt64Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST)
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const bytes = new Uint8Array(data.byteLength);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(4 * i, data[i]!, true);
    else if (data instanceof Float64Array) view.setFloat64(8 * i, data[i]!, true);
    else view.setBigInt64(8 * i, data[i]!, true);
  }
  return bytes;
}

/** HWIO (tfjs) → OIHW (ONNX) for a convolution kernel. */
export function hwioToOihw(w: WeightData): WeightData {
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let h = 0; h < kh; h++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++)
          out[((o * ci + i) * kh + h) * kw + x] = w.data[((h * kw + x) * ci + i) * co + o]!;
  return { data: out, shape: [co, ci, kh, kw] };
}

/** Collects nodes and initializers of one ONNX graph. */
export class GraphBuilder {
  readonly nodes: NodeMessage[] = [];
  readonly initializers: TensorMessage[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();
  private readonly shared = new Map<string, string>();
  private nodeCount = 0;

  /** Reserves `base` (or `base_1`, `base_2`, … when taken) as a value name. */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Adds a float32 initializer (stored as little-endian `raw_data`) and returns its name. */
  initializer(name: string, w: WeightData): string {
    const n = this.unique(name);
    const size = w.shape.reduce((a, b) => a * b, 1);
    if (size !== w.data.length)
      throw new Error(`exportOnnx: weight '${name}' has ${w.data.length} values for shape [${w.shape}]`);
    this.initializers.push({
      name: n,
      dims: w.shape,
      dataType: DataType.FLOAT,
      rawData: littleEndianBytes(w.data),
    });
    return n;
  }

  /** A float32 constant (cached by value); shape [] for a scalar. */
  constFloat(values: number[], shape: number[] = [values.length]): string {
    return this.cachedConstant('f', values, shape, () => ({
      dataType: DataType.FLOAT,
      rawData: littleEndianBytes(Float32Array.from(values)),
    }));
  }

  /** An int64 constant (cached by value); shape [] for a scalar. */
  constInt64(values: number[], shape: number[] = [values.length]): string {
    return this.cachedConstant('i', values, shape, () => ({
      dataType: DataType.INT64,
      rawData: littleEndianBytes(BigInt64Array.from(values.map((v) => BigInt(v)))),
    }));
  }

  private cachedConstant(
    kind: string,
    values: number[],
    shape: number[],
    make: () => Omit<TensorMessage, 'name' | 'dims'>,
  ): string {
    const key = `${kind}:${shape.join('x')}:${values.join(',')}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const name = this.unique(`const_${kind}${this.constants.size}`);
    this.initializers.push({ name, dims: shape, ...make() });
    this.constants.set(key, name);
    return name;
  }

  /**
   * Appends a node `op(inputs)` with attributes; returns its output names (`outputs` of them, named after
   * `base`). An empty input name marks an omitted optional input.
   */
  node(
    op: string,
    inputs: string[],
    base: string,
    attrs: Record<string, AttrValue> = {},
    outputs = 1,
  ): string[] {
    const outs = Array.from({ length: outputs }, (_, i) =>
      this.unique(outputs === 1 ? base : `${base}_${i}`),
    );
    this.emit(op, inputs, outs, attrs);
    return outs;
  }

  /** Appends a node writing to `outputs` exactly (names already reserved with {@link GraphBuilder.unique}). */
  emit(op: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): void {
    this.nodes.push({
      input: inputs,
      output: outputs,
      name: `${op}_${this.nodeCount++}`,
      opType: op,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
  }

  /** Adds the initializer made by `make` once per `key`; later calls return the same name. */
  initializerOnce(key: string, make: () => WeightData): string {
    const hit = this.shared.get(key);
    if (hit) return hit;
    const name = this.initializer(key, make());
    this.shared.set(key, name);
    return name;
  }

  /** One-output {@link GraphBuilder.node}. */
  op(op: string, inputs: string[], base: string, attrs: Record<string, AttrValue> = {}): string {
    return this.node(op, inputs, base, attrs)[0]!;
  }

  /**
   * Convolution of NCHW x with an OIHW kernel initializer (and optional bias initializer), ONNX pads
   * [top, left, bottom, right], stride and dilation [height, width].
   */
  conv(
    x: string,
    w: { kernel: string; kernelSize: [number, number]; bias?: string },
    base: string,
    g: { stride: [number, number]; dilation: [number, number]; pads: [number, number, number, number] },
  ): string {
    return this.op('Conv', w.bias ? [x, w.kernel, w.bias] : [x, w.kernel], base, {
      kernel_shape: w.kernelSize,
      strides: g.stride,
      dilations: g.dilation,
      pads: g.pads,
      group: 1,
    });
  }

  /**
   * Inference BatchNorm over the channel axis of NCHW x with initializers [γ, β, mean, variance], then ReLU when
   * `relu`.
   */
  batchNorm(
    x: string,
    params: [string, string, string, string],
    epsilon: number,
    base: string,
    relu: boolean,
  ): string {
    const y = this.op('BatchNormalization', [x, ...params], relu ? `${base}/bn` : base, {
      epsilon: { f: epsilon },
    });
    return relu ? this.op('Relu', [y], base) : y;
  }

  /** The spatial size [H, W] of NCHW x as an int64 vector. */
  spatialShape(x: string): string {
    return this.op('Shape', [x], `${x}/hw`, { start: 2, end: 4 });
  }

  /**
   * Bilinear resize of NCHW x to the spatial size of `like`: wsss's `resizeBilinear` (PyTorch `interpolate`,
   * no antialiasing). alignCorners → ONNX `align_corners`; otherwise `half_pixel`, whose source index is PyTorch's
   * also for an output size of 1 (`pytorch_half_pixel` maps that to 0); ONNX Runtime clamps negative indices to 0
   * as PyTorch does.
   */
  resizeLike(x: string, like: string, alignCorners: boolean, base: string): string {
    const nc = this.op('Shape', [x], `${base}/nc`, { start: 0, end: 2 });
    const sizes = this.op('Concat', [nc, this.spatialShape(like)], `${base}/sizes`, { axis: 0 });
    return this.op('Resize', [x, '', '', sizes], base, {
      mode: 'linear',
      coordinate_transformation_mode: alignCorners ? 'align_corners' : 'half_pixel',
    });
  }

  /** Broadcasts NCHW x of spatial size 1×1 to the spatial size of `like` (wsss's resize of a single pixel). */
  broadcastLike(x: string, like: string, base: string): string {
    const shape = this.op('Concat', [this.constInt64([1, 1]), this.spatialShape(like)], `${base}/shape`, {
      axis: 0,
    });
    return this.op('Expand', [x, shape], base);
  }
}

function attribute(name: string, v: AttrValue): AttributeMessage {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`exportOnnx: attribute '${name}' = ${v} is not an integer`);
    return { name, type: AttributeType.INT, i: v };
  }
  if (Array.isArray(v)) {
    if (!v.every(Number.isInteger)) throw new Error(`exportOnnx: attribute '${name}' must be integers`);
    return { name, type: AttributeType.INTS, ints: v };
  }
  if ('f' in v) return { name, type: AttributeType.FLOAT, f: v.f };
  return { name, type: AttributeType.FLOATS, floats: v.floats };
}
