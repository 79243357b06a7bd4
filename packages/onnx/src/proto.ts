/**
 * The part of the ONNX protobuf schema (onnx/onnx.proto, IR version 8) the exporter writes and `describeOnnx` reads,
 * as a protobufjs JSON descriptor with the official field numbers and types: int64 fields are int64, repeated numeric
 * fields packed. protobufjs encodes and decodes through reflection; nothing here serialises by hand.
 */
import protobuf from 'protobufjs/light.js';

const repeated = (type: string, id: number) => ({ rule: 'repeated', type, id });
const packed = (type: string, id: number) => ({ rule: 'repeated', type, id, options: { packed: true } });

/** `onnx.proto`'s messages and enums that a model of this exporter uses. */
const ONNX_SCHEMA = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: {
          fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
        },
        OperatorSetIdProto: {
          fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: repeated('OperatorSetIdProto', 8),
            metadataProps: repeated('StringStringEntryProto', 14),
          },
        },
        GraphProto: {
          fields: {
            node: repeated('NodeProto', 1),
            name: { type: 'string', id: 2 },
            initializer: repeated('TensorProto', 5),
            docString: { type: 'string', id: 10 },
            input: repeated('ValueInfoProto', 11),
            output: repeated('ValueInfoProto', 12),
            valueInfo: repeated('ValueInfoProto', 13),
          },
        },
        NodeProto: {
          fields: {
            input: repeated('string', 1),
            output: repeated('string', 2),
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: repeated('AttributeProto', 5),
            docString: { type: 'string', id: 6 },
            domain: { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: packed('float', 7),
            ints: packed('int64', 8),
            strings: repeated('bytes', 9),
            tensors: repeated('TensorProto', 10),
            graphs: repeated('GraphProto', 11),
            docString: { type: 'string', id: 13 },
            type: { type: 'AttributeType', id: 20 },
            refAttrName: { type: 'string', id: 21 },
          },
          nested: {
            AttributeType: {
              values: {
                UNDEFINED: 0,
                FLOAT: 1,
                INT: 2,
                STRING: 3,
                TENSOR: 4,
                GRAPH: 5,
                FLOATS: 6,
                INTS: 7,
                STRINGS: 8,
                TENSORS: 9,
                GRAPHS: 10,
                SPARSE_TENSOR: 11,
                SPARSE_TENSORS: 12,
                TYPE_PROTO: 13,
                TYPE_PROTOS: 14,
              },
            },
          },
        },
        TensorProto: {
          fields: {
            dims: packed('int64', 1),
            dataType: { type: 'int32', id: 2 },
            floatData: packed('float', 4),
            int32Data: packed('int32', 5),
            stringData: repeated('bytes', 6),
            int64Data: packed('int64', 7),
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            doubleData: packed('double', 10),
            uint64Data: packed('uint64', 11),
            docString: { type: 'string', id: 12 },
          },
          nested: {
            DataType: {
              values: {
                UNDEFINED: 0,
                FLOAT: 1,
                UINT8: 2,
                INT8: 3,
                UINT16: 4,
                INT16: 5,
                INT32: 6,
                INT64: 7,
                STRING: 8,
                BOOL: 9,
                FLOAT16: 10,
                DOUBLE: 11,
                UINT32: 12,
                UINT64: 13,
                COMPLEX64: 14,
                COMPLEX128: 15,
                BFLOAT16: 16,
              },
            },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            docString: { type: 'string', id: 3 },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: {
            tensorType: { type: 'Tensor', id: 1 },
            denotation: { type: 'string', id: 6 },
          },
          nested: {
            Tensor: {
              fields: {
                elemType: { type: 'int32', id: 1 },
                shape: { type: 'TensorShapeProto', id: 2 },
              },
            },
          },
        },
        TensorShapeProto: {
          fields: { dim: repeated('Dimension', 1) },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: {
                dimValue: { type: 'int64', id: 1 },
                dimParam: { type: 'string', id: 2 },
                denotation: { type: 'string', id: 3 },
              },
            },
          },
        },
      },
    },
  },
};

/** ONNX `TensorProto.DataType` values this package uses. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** ONNX `AttributeProto.AttributeType` values this package uses. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** An int64 as protobufjs decodes it (a `Long` when the `long` package is present), or a plain number. */
export type Int64 = number | { toNumber(): number };

/** `onnx.TensorProto` in protobufjs' camelCase field names. */
export interface TensorMessage {
  name?: string;
  dims?: Int64[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int64Data?: Int64[];
}

/** `onnx.AttributeProto`. */
export interface AttributeMessage {
  name: string;
  type: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  floats?: number[];
  ints?: Int64[];
}

/** `onnx.NodeProto`. */
export interface NodeMessage {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: AttributeMessage[];
}

/** `onnx.TensorShapeProto.Dimension`: a fixed size or a symbolic name. */
export interface DimensionMessage {
  dimValue?: Int64;
  dimParam?: string;
}

/** `onnx.ValueInfoProto` of a tensor. */
export interface ValueInfoMessage {
  name: string;
  docString?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: DimensionMessage[] } } };
}

/** `onnx.GraphProto`. */
export interface GraphMessage {
  name?: string;
  docString?: string;
  node?: NodeMessage[];
  initializer?: TensorMessage[];
  input?: ValueInfoMessage[];
  output?: ValueInfoMessage[];
}

/** `onnx.ModelProto`. */
export interface ModelMessage {
  irVersion?: Int64;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: Int64;
  docString?: string;
  graph?: GraphMessage;
  opsetImport?: { domain?: string; version?: Int64 }[];
  metadataProps?: { key?: string; value?: string }[];
}

let modelType: protobuf.Type | undefined;

function modelProto(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto');
  return modelType;
}

/** Serialises a ModelProto with protobufjs; fails naming the field when a value does not fit the schema. */
export function encodeModel(model: ModelMessage): Uint8Array {
  const type = modelProto();
  const problem = type.verify(model);
  if (problem) throw new Error(`exportOnnx: invalid ONNX model (${problem})`);
  return type.encode(type.fromObject(model as Record<string, unknown>)).finish();
}

/** Parses ONNX model bytes (any ONNX file; fields outside this schema subset are skipped). */
export function decodeModel(bytes: Uint8Array): ModelMessage {
  return modelProto().decode(bytes) as unknown as ModelMessage;
}

/** An int64 field's value as a number (exact up to 2^53). */
export function toNumber(v: Int64 | undefined | null): number {
  if (v === undefined || v === null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}
