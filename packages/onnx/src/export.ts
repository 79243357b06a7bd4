/**
 * `exportOnnx`: a functional tf.LayersModel built from wsss modules → an ONNX model (protobuf bytes) that computes
 * the model's inference forward (`applyModel(model, x, { training: false })`), optionally followed by WS-FCN's
 * test-mode outputs.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { CONVERTERS, ConverterContext } from './converters/index.js';
import { GraphBuilder, type Value } from './graph.js';
import { DataType, encodeModel, type ValueInfoMessage } from './proto.js';

/** The ONNX operator set the exported models import (default domain). GridSample needs ≥ 16. */
export const ONNX_OPSET = 17;

/** The ONNX IR version of the exported models. */
export const ONNX_IR_VERSION = 8;

/**
 * Layout of the exported graph's image input(s) and rank-4 outputs: `nhwc` = [N, H, W, C] as tfjs (the default),
 * `nchw` = [N, C, H, W] as most ONNX tooling. Inside, the graph always computes in NCHW.
 */
export type OnnxLayout = 'nhwc' | 'nchw';

/**
 * Extra outputs appended after the model's own:
 * - `none` (default): only the model's outputs.
 * - `wsfcn-reference`: WS-FCN's test-mode outputs from the model's single output z (N,h,w,K) — exactly what
 *   `referenceTestOutputs` of @wsss/cli computes in one eval forward: the constant background logit 1 prepended
 *   and a softmax over the K + 1 channels (`backgroundSoftmax`), then
 *   - `class_scores` (N, K): nGWP + focal mask penalty of the foreground classes before the sigmoid
 *     (`classScores` with {@link ExportOnnxOptions.focalP} and {@link ExportOnnxOptions.focalLambda});
 *   - `masks` (N, H, W, K + 1), background first: the softmax masks resized to the input size H×W, bilinear with
 *     align-corners ((N, K + 1, H, W) with layout `nchw`).
 */
export type OnnxHead = 'none' | 'wsfcn-reference';

/** Options of {@link exportOnnx}. */
export interface ExportOnnxOptions {
  /** Layout of the image input and of rank-4 outputs. Default `nhwc`. */
  layout?: OnnxLayout;
  /** Extra outputs (see {@link OnnxHead}). Default `none`. */
  head?: OnnxHead;
  /** Focal penalty power p of `class_scores` (head `wsfcn-reference`). Default 3, as `classScores`. */
  focalP?: number;
  /** Focal penalty offset λ of `class_scores` (head `wsfcn-reference`). Default 0.01 (COCO reference: 0.1). */
  focalLambda?: number;
  /** Name of the ONNX graph. Default: the model's name. */
  graphName?: string;
  /** Documentation string stored in the model. */
  docString?: string;
  /**
   * Extra `metadata_props` entries. The exporter always writes `wsss.layout`, `wsss.head` and `wsss.model` (the
   * tfjs model name); entries given here are added after them.
   */
  metadata?: Record<string, string>;
}

/**
 * The layer classes {@link exportOnnx} converts (`layer.getClassName()`): tfjs's `InputLayer` and the wsss modules
 * WS-FCN, its Table I variants and the DSRG segmentation network are built from.
 */
export const ONNX_SUPPORTED_LAYERS: readonly string[] = ['InputLayer', ...CONVERTERS.keys()].sort();

/** Names of the outputs appended by head `wsfcn-reference`, in order. */
export const WSFCN_REFERENCE_OUTPUTS = ['class_scores', 'masks'] as const;

/** tfjs-layers' graph fields the walk reads (public at runtime, not all in the .d.ts), as in `applyModel`. */
interface GraphNode {
  outboundLayer: tfl.layers.Layer;
  inputTensors: tfl.SymbolicTensor[];
  outputTensors: tfl.SymbolicTensor[];
}

interface Graph {
  name: string;
  inputs: tfl.SymbolicTensor[];
  outputs: tfl.SymbolicTensor[];
  nodesByDepth?: Record<string, GraphNode[]>;
}

const OPTION_KEYS = ['layout', 'head', 'focalP', 'focalLambda', 'graphName', 'docString', 'metadata'];

function checkOptions(opts: ExportOnnxOptions): void {
  if (opts === null || typeof opts !== 'object')
    throw new Error(`exportOnnx: options must be an object, got ${String(opts)}`);
  for (const k of Object.keys(opts))
    if (!OPTION_KEYS.includes(k))
      throw new Error(`exportOnnx: unknown option '${k}'; accepted options are ${OPTION_KEYS.join(', ')}`);
  if (opts.layout !== undefined && opts.layout !== 'nhwc' && opts.layout !== 'nchw')
    throw new Error(`exportOnnx: layout must be 'nhwc' or 'nchw', got '${String(opts.layout)}'`);
  if (opts.head !== undefined && opts.head !== 'none' && opts.head !== 'wsfcn-reference')
    throw new Error(`exportOnnx: head must be 'none' or 'wsfcn-reference', got '${String(opts.head)}'`);
  for (const k of ['focalP', 'focalLambda'] as const)
    if (opts[k] !== undefined && !Number.isFinite(opts[k]))
      throw new Error(`exportOnnx: ${k} must be a finite number, got ${String(opts[k])}`);
}

type Dim = number | string;

function valueInfo(name: string, shape: Dim[]): ValueInfoMessage {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** [N, H, W, C] (tfjs order) → the declared order of `layout`. */
const inLayout = (nhwc: Dim[], layout: OnnxLayout): Dim[] =>
  layout === 'nhwc' ? nhwc : [nhwc[0]!, nhwc[3]!, nhwc[1]!, nhwc[2]!];

/**
 * Exports a functional tf.LayersModel made of wsss modules (WS-FCN and its Table I variants as `createWsFcn` of
 * @wsss/cli builds them, the DSRG segmentation network, or any functional model of the
 * {@link ONNX_SUPPORTED_LAYERS}) to ONNX: IR version {@link ONNX_IR_VERSION}, opset {@link ONNX_OPSET}, float32
 * weights as initializers, producer `wsss`.
 *
 * The graph computes the model's inference forward (`applyModel(model, x, { training: false })`: dropout off, gates
 * deterministic, BatchNorm with the stored statistics) — on ONNX Runtime equal to the tfjs outputs up to float32
 * rounding.
 *
 * I/O contract:
 * - input: a model with one input gets one graph input `image`, float32 (N, H, W, C) with symbolic `N`, `H`, `W`
 *   (C from the model, 3 for wsss networks); several inputs keep their input layers' names (spatial dimensions
 *   `<name>_H`, `<name>_W`). Layout `nchw` declares (N, C, H, W) instead.
 * - outputs: the model's outputs in order, each named after its layer (`<layer>_<i>` for the i-th output of a
 *   multi-output layer), float32; rank-4 ones in the chosen layout. WS-FCN: `last_conv` (N, h, w, K) foreground
 *   logits at stride 4 (h = ⌈⌈H/2⌉/2⌉); DSRG: `dsrg_head` (N, h, w, K + 1) at stride 8.
 * - head `wsfcn-reference` appends `class_scores` and `masks` (see {@link OnnxHead}).
 *
 * Weights are read from the layers (`layer.weights`) without creating tensors. An unsupported layer class is an
 * error naming the layer, its class and the supported classes.
 *
 * @param model a functional model (`tf.model(...)`); Sequential models and nested models are not supported.
 * @returns the serialised ONNX ModelProto, for `InferenceSession.create(bytes)` of onnxruntime or a `.onnx` file.
 */
export function exportOnnx(model: tfl.LayersModel, opts: ExportOnnxOptions = {}): Uint8Array {
  checkOptions(opts);
  const layout = opts.layout ?? 'nhwc';
  const head = opts.head ?? 'none';
  const graph = model as unknown as Graph;
  if (!graph.nodesByDepth || Object.keys(graph.nodesByDepth).length === 0 || !Array.isArray(graph.inputs))
    throw new Error(
      `exportOnnx: model '${model.name}' is not a functional model (tf.model); build it with tf.model`,
    );
  const g = new GraphBuilder();
  const values = new Map<number, Value>();

  // Names of graph inputs and outputs are reserved first, so internal values never take them.
  const single = graph.inputs.length === 1;
  const inputInfos: ValueInfoMessage[] = graph.inputs.map((s, i) => {
    const layerName = s.sourceLayer?.name ?? `input_${i}`;
    const name = g.unique(single ? 'image' : layerName);
    if (s.shape.length !== 4)
      throw new Error(
        `exportOnnx: input '${layerName}' must be an NHWC image batch (rank 4), got [${s.shape}]`,
      );
    const [, h, w, c] = s.shape;
    if (typeof c !== 'number') throw new Error(`exportOnnx: input '${layerName}' must have known channels`);
    const dims: Dim[] = ['N', h ?? (single ? 'H' : `${name}_H`), w ?? (single ? 'W' : `${name}_W`), c];
    return valueInfo(name, inLayout(dims, layout));
  });
  const extraNames = head === 'wsfcn-reference' ? WSFCN_REFERENCE_OUTPUTS.map((n) => g.unique(n)) : [];
  const outputNames = graph.outputs.map((s) => {
    const layer = s.sourceLayer as tfl.layers.Layer;
    const multi = (layer.inboundNodes?.[s.nodeIndex ?? 0]?.outputTensors.length ?? 1) > 1;
    return g.unique(multi ? `${layer.name}_${s.tensorIndex ?? 0}` : layer.name);
  });

  for (const [i, s] of graph.inputs.entries()) {
    const name = inputInfos[i]!.name;
    values.set(s.id, {
      name: layout === 'nhwc' ? g.op('Transpose', [name], `${name}/nchw`, { perm: [0, 3, 1, 2] }) : name,
      rank: 4,
    });
  }

  const depths = Object.keys(graph.nodesByDepth)
    .map(Number)
    .sort((a, b) => b - a);
  for (const node of depths.flatMap((d) => graph.nodesByDepth![String(d)]!)) {
    const layer = node.outboundLayer;
    const className = layer.getClassName();
    if (className === 'InputLayer') continue;
    const convert = CONVERTERS.get(className);
    if (!convert) {
      throw new Error(
        `exportOnnx: layer '${layer.name}' of class '${className}' has no ONNX converter; supported classes: ${ONNX_SUPPORTED_LAYERS.join(', ')}`,
      );
    }
    const inputs = node.inputTensors.map((s) => {
      const v = values.get(s.id);
      if (!v) throw new Error(`exportOnnx: no value for '${s.name}' (input of layer '${layer.name}')`);
      return v;
    });
    const outs = convert(new ConverterContext(g, layer, inputs));
    if (outs.length !== node.outputTensors.length) {
      throw new Error(
        `exportOnnx: the converter of layer '${layer.name}' (${className}) gave ${outs.length} output(s), the layer has ${node.outputTensors.length}`,
      );
    }
    for (const [i, s] of node.outputTensors.entries()) values.set(s.id, outs[i]!);
  }

  const outputInfos: ValueInfoMessage[] = [];
  const computed = graph.outputs.map((s) => {
    const v = values.get(s.id);
    if (!v) throw new Error(`exportOnnx: model '${model.name}' computed no value for its output '${s.name}'`);
    return v;
  });
  for (const [i, s] of graph.outputs.entries()) {
    const v = computed[i]!;
    const name = outputNames[i]!;
    if (v.rank === 4 && layout === 'nhwc') g.emit('Transpose', [v.name], [name], { perm: [0, 2, 3, 1] });
    else g.emit('Identity', [v.name], [name]);
    const local = v.rank === 4 ? ['N', `${name}_h`, `${name}_w`] : ['N'];
    const dims: Dim[] = s.shape.map((d, k) => d ?? local[k] ?? `${name}_d${k}`);
    outputInfos.push(valueInfo(name, v.rank === 4 ? inLayout(dims, layout) : dims));
  }

  if (head === 'wsfcn-reference') {
    if (graph.outputs.length !== 1 || computed[0]!.rank !== 4)
      throw new Error(
        `exportOnnx: head 'wsfcn-reference' needs a model with one output, foreground logits (N, h, w, K); model '${model.name}' has ${graph.outputs.length}`,
      );
    const k = graph.outputs[0]!.shape[3];
    if (typeof k !== 'number')
      throw new Error(
        `exportOnnx: head 'wsfcn-reference' needs the number of classes (the output's channels)`,
      );
    const image = values.get(graph.inputs[0]!.id)!.name;
    const [scoresName, masksName] = extraNames as [string, string];
    wsfcnReferenceHead(g, computed[0]!.name, image, k, {
      focalP: opts.focalP ?? 3,
      focalLambda: opts.focalLambda ?? 0.01,
      scores: scoresName,
      masks: masksName,
      layout,
    });
    const [, h, w] = graph.inputs[0]!.shape;
    outputInfos.push(valueInfo(scoresName, ['N', k]));
    outputInfos.push(valueInfo(masksName, inLayout(['N', h ?? 'H', w ?? 'W', k + 1], layout)));
  }

  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'wsss',
    docString: opts.docString ?? '',
    graph: {
      name: opts.graphName ?? model.name,
      node: g.nodes,
      initializer: g.initializers,
      input: inputInfos,
      output: outputInfos,
    },
    metadataProps: Object.entries({
      'wsss.layout': layout,
      'wsss.head': head,
      'wsss.model': model.name,
      ...(opts.metadata ?? {}),
    }).map(([key, value]) => ({ key, value: String(value) })),
  });
}

/**
 * WS-FCN's test-mode outputs from NCHW foreground logits z (N,K,h,w): `backgroundSoftmax`, `classScores` and the
 * masks resized (align-corners) to the image's size, as `referenceTestOutputs` computes them.
 */
function wsfcnReferenceHead(
  g: GraphBuilder,
  z: string,
  image: string,
  k: number,
  o: { focalP: number; focalLambda: number; scores: string; masks: string; layout: OnnxLayout },
): void {
  // backgroundSoftmax: the constant background logit 1 before the K foreground channels, softmax over channels
  const logits = g.op(
    'Pad',
    [z, g.constInt64([0, 1, 0, 0, 0, 0, 0, 0]), g.constFloat([1], [])],
    'head/logits',
    {
      mode: 'constant',
    },
  );
  const masks = g.op('Softmax', [logits], 'head/masks', { axis: 1 });
  // classScores: nGWP Σ y·m / (1 + Σ m) plus (1 − m̄)^p · log(λ + m̄), foreground classes
  const hw = g.constInt64([2, 3]);
  const mSum = g.op('ReduceSum', [masks, hw], 'head/m_sum', { keepdims: 0 });
  const ymSum = g.op('ReduceSum', [g.op('Mul', [logits, masks], 'head/ym'), hw], 'head/ym_sum', {
    keepdims: 0,
  });
  const ngwp = g.op('Div', [ymSum, g.op('Add', [mSum, g.constFloat([1], [])], 'head/m_sum1')], 'head/ngwp');
  const area = g.op(
    'Mul',
    [
      g.op('Cast', [g.op('Shape', [z], 'head/h', { start: 2, end: 3 })], 'head/hf', { to: DataType.FLOAT }),
      g.op('Cast', [g.op('Shape', [z], 'head/w', { start: 3, end: 4 })], 'head/wf', { to: DataType.FLOAT }),
    ],
    'head/area',
  );
  const mMean = g.op('Div', [mSum, area], 'head/m_mean');
  const focal = g.op(
    'Mul',
    [
      g.op(
        'Pow',
        [g.op('Sub', [g.constFloat([1], []), mMean], 'head/1_m'), g.constFloat([o.focalP], [])],
        'head/pow',
      ),
      g.op('Log', [g.op('Add', [mMean, g.constFloat([o.focalLambda], [])], 'head/m_lambda')], 'head/log'),
    ],
    'head/focal',
  );
  const all = g.op('Add', [ngwp, focal], 'head/scores_all');
  g.emit('Slice', [all, g.constInt64([1]), g.constInt64([k + 1]), g.constInt64([1])], [o.scores]);
  // test mode: masks upsampled to the network input with align-corners
  const up = g.resizeLike(masks, image, true, 'head/masks_up');
  if (o.layout === 'nhwc') g.emit('Transpose', [up], [o.masks], { perm: [0, 2, 3, 1] });
  else g.emit('Identity', [up], [o.masks]);
}
