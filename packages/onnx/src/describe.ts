/** `describeOnnx`: a summary of an ONNX model's interface and size, read with the same protobufjs schema. */
import { decodeModel, type Int64, toNumber, type ValueInfoMessage } from './proto.js';

/** A graph input or output: name, element type and shape (a number, or a symbolic name; null when unspecified). */
export interface OnnxTensorInfo {
  name: string;
  /** `float32`, `int64`, …; `type <n>` for an ONNX data type without a name here. */
  elemType: string;
  shape: (number | string | null)[];
}

/** What {@link describeOnnx} reports about a model. */
export interface OnnxDescription {
  irVersion: number;
  /** Version of the default-domain (`ai.onnx`) operator set the model imports; 0 if none. */
  opset: number;
  producerName: string;
  graphName: string;
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  /** Number of nodes in the main graph. */
  nodeCount: number;
  /** Nodes per operator type, e.g. `{ Conv: 120, BatchNormalization: 80, … }`. */
  opTypes: Record<string, number>;
  /** Number of initializers (weights and constants). */
  initializerCount: number;
  /** Number of values stored in initializers (weights, BatchNorm statistics, constants). */
  parameterCount: number;
  /** The model's `metadata_props`. */
  metadata: Record<string, string>;
}

const ELEM_TYPES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  16: 'bfloat16',
};

function tensorInfo(v: ValueInfoMessage): OnnxTensorInfo {
  const t = v.type?.tensorType;
  const elem = t?.elemType ?? 0;
  return {
    name: v.name,
    elemType: ELEM_TYPES[elem] ?? `type ${elem}`,
    shape: (t?.shape?.dim ?? []).map((d) =>
      d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : null,
    ),
  };
}

/**
 * Reads an ONNX model's bytes (from {@link exportOnnx} or any other exporter) and summarises it: IR version, opset,
 * producer, graph inputs and outputs with their shapes, node count per operator type, initializers and metadata.
 * External data is not followed (a model storing its weights outside the file reports its initializers' sizes
 * all the same).
 */
export function describeOnnx(bytes: Uint8Array): OnnxDescription {
  if (!(bytes instanceof Uint8Array)) throw new Error('describeOnnx: bytes must be a Uint8Array');
  let m: ReturnType<typeof decodeModel>;
  try {
    m = decodeModel(bytes);
  } catch (e) {
    throw new Error(`describeOnnx: not an ONNX model (${(e as Error).message})`);
  }
  const graph = m.graph ?? {};
  const nodes = graph.node ?? [];
  const opTypes: Record<string, number> = {};
  for (const n of nodes) opTypes[n.opType] = (opTypes[n.opType] ?? 0) + 1;
  const inits = graph.initializer ?? [];
  const size = (dims: Int64[] | undefined) => (dims ?? []).reduce<number>((a, d) => a * toNumber(d), 1);
  const opset = (m.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return {
    irVersion: toNumber(m.irVersion),
    opset: toNumber(opset?.version),
    producerName: m.producerName ?? '',
    graphName: graph.name ?? '',
    inputs: (graph.input ?? []).filter((v) => !inits.some((t) => t.name === v.name)).map(tensorInfo),
    outputs: (graph.output ?? []).map(tensorInfo),
    nodeCount: nodes.length,
    opTypes,
    initializerCount: inits.length,
    parameterCount: inits.reduce((a, t) => a + size(t.dims), 0),
    metadata: Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
  };
}
