/**
 * The file format (ONNX field numbers and wire types, read back tag by tag), the graph's naming, options and errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { seedWeights, useBackend } from '@wsss/core/testing';
import { GciFusion, Sf2 } from '@wsss/sf2';
import protobuf from 'protobufjs/light.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeOnnx } from './describe.js';
import { exportOnnx, ONNX_SUPPORTED_LAYERS } from './export.js';
import { DataType, decodeModel, toNumber } from './proto.js';
import { smallDsrgNet, smallWsFcn } from './testHelpers.js';

/** Top-level fields of a protobuf message: field number → [wire type, payload (bytes) or varint]. */
function fields(bytes: Uint8Array): [number, number, Uint8Array | number][] {
  const r = protobuf.Reader.create(bytes);
  const out: [number, number, Uint8Array | number][] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const [id, wire] = [tag >>> 3, tag & 7];
    if (wire === 0) out.push([id, wire, Number(r.int64().toString())]);
    else if (wire === 2) out.push([id, wire, r.bytes()]);
    else if (wire === 5) out.push([id, wire, r.fixed32()]);
    else throw new Error(`unexpected wire type ${wire} for field ${id}`);
  }
  return out;
}
const field = (f: ReturnType<typeof fields>, id: number) =>
  f.filter(([i]) => i === id).map(([, w, v]) => [w, v]);
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);

describe('exportOnnx: file format', () => {
  beforeAll(() => useBackend('cpu'));

  it('ModelProto, OperatorSetIdProto, GraphProto, TensorProto with the official field numbers and wire types', () => {
    const model = smallDsrgNet('light');
    const top = fields(exportOnnx(model));
    expect(field(top, 1)).toEqual([[0, 8]]); // ir_version (int64 varint)
    expect(field(top, 2).map(([, v]) => text(v))).toEqual(['wsss']); // producer_name
    const [opset] = field(top, 8); // opset_import
    expect(field(fields(opset![1] as Uint8Array), 2)).toEqual([[0, 17]]); // version
    const meta = field(top, 14).map(([, v]) => fields(v as Uint8Array).map(([, , x]) => text(x))); // metadata_props
    expect(meta).toContainEqual(['wsss.layout', 'nhwc']);
    const graph = fields(field(top, 7)[0]![1] as Uint8Array); // graph
    expect(field(graph, 2).map(([, v]) => text(v))).toEqual(['dsrg']); // name
    const input = fields(field(graph, 11)[0]![1] as Uint8Array); // input: ValueInfoProto
    expect(text(field(input, 1)[0]![1])).toBe('image');
    const tensorType = fields(field(fields(field(input, 2)[0]![1] as Uint8Array), 1)[0]![1] as Uint8Array);
    expect(field(tensorType, 1)).toEqual([[0, 1]]); // elem_type FLOAT
    const dims = field(fields(field(tensorType, 2)[0]![1] as Uint8Array), 1).map(([, d]) =>
      fields(d as Uint8Array).map(([id, , v]) => (id === 2 ? text(v) : v)),
    );
    expect(dims).toEqual([['N'], ['H'], ['W'], [3]]); // dim_param (2) / dim_value (1)
    // the stem kernel: an initializer (5) with packed int64 dims (1), data_type (2) FLOAT, raw_data (9) float32 LE
    const kernel = field(graph, 5)
      .map(([, v]) => fields(v as Uint8Array))
      .find((t) => text(field(t, 8)[0]![1]) === 'backbone/conv1a/kernel')!;
    const [[wire, packedDims]] = field(kernel, 1) as [[number, Uint8Array]];
    expect(wire).toBe(2);
    expect([...packedDims]).toEqual([8, 3, 3, 3]); // OIHW
    expect(field(kernel, 2)).toEqual([[0, 1]]);
    const raw = field(kernel, 9)[0]![1] as Uint8Array;
    const w = model.getLayer('backbone').weights.find((v) => v.originalName === 'backbone/conv1a/kernel')!;
    const hwio = w.read().dataSync(); // [3, 3, 3, 8]
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    expect(raw.length).toBe(4 * 8 * 27);
    // OIHW element (o=5, i=2, h=1, w=0) is HWIO element (1, 0, 2, 5)
    expect(view.getFloat32(4 * (((5 * 3 + 2) * 3 + 1) * 3 + 0), true)).toBe(
      hwio[((1 * 3 + 0) * 3 + 2) * 8 + 5],
    );
    // a node (1): inputs (1), outputs (2), op_type (4), attributes (5) with type (20) INTS = 7 and packed ints (8)
    const conv = field(graph, 1)
      .map(([, v]) => fields(v as Uint8Array))
      .find((n) => text(field(n, 4)[0]![1]) === 'Conv')!;
    const strides = field(conv, 5)
      .map(([, v]) => fields(v as Uint8Array))
      .find((a) => text(field(a, 1)[0]![1]) === 'strides')!;
    expect(field(strides, 20)).toEqual([[0, 7]]);
    expect(field(strides, 8).map(([wt, v]) => [wt, [...(v as Uint8Array)]])).toEqual([[2, [1, 1]]]);
    model.dispose();
  });

  it('every tensor, constant and Cast is float32 or int64 (onnxruntime-web has no float64 kernels)', () => {
    const model = smallWsFcn({ context: 'fca', fusion: 'sf2', depth: 'light' });
    const m = decodeModel(exportOnnx(model, { head: 'wsfcn-reference' }));
    const types = new Set((m.graph?.initializer ?? []).map((t) => t.dataType));
    expect([...types].sort()).toEqual([DataType.FLOAT, DataType.INT64]);
    const casts = (m.graph?.node ?? []).filter((n) => n.opType === 'Cast');
    expect(casts.length).toBeGreaterThan(0);
    for (const n of casts) expect([DataType.FLOAT, DataType.INT64]).toContain(toNumber(n.attribute![0]!.i));
    model.dispose();
  });

  it('leaves no tensor behind and is deterministic', () => {
    const model = smallDsrgNet('light');
    const before = tf.memory().numTensors;
    const a = exportOnnx(model);
    const b = exportOnnx(model);
    expect(tf.memory().numTensors).toBe(before);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    model.dispose();
  });
});

describe('exportOnnx: naming and errors', () => {
  beforeAll(() => useBackend('cpu'));

  it('several inputs keep their names; a multi-output layer gives <layer>_<i>', () => {
    const conv3 = tfl.input({ shape: [null, null, 6], name: 'conv3' });
    const ctx = tfl.input({ shape: [7, 9, 8], name: 'context' });
    const gci = new GciFusion({ name: 'gci', channels: 4, skipChannels: 3 });
    const outs = gci.apply([conv3, ctx]) as tfl.SymbolicTensor[];
    const model = tfl.model({ inputs: [conv3, ctx], outputs: [outs[1]!, outs[0]!] });
    seedWeights(gci, 1);
    const d = describeOnnx(exportOnnx(model));
    expect(d.inputs).toEqual([
      { name: 'conv3', elemType: 'float32', shape: ['N', 'conv3_H', 'conv3_W', 6] },
      { name: 'context', elemType: 'float32', shape: ['N', 7, 9, 8] },
    ]);
    expect(d.outputs.map((o) => o.name)).toEqual(['gci_1', 'gci_0']);
  });

  it('an unsupported layer names itself, its class and the supported classes', () => {
    const x = tfl.input({ shape: [null, null, 3] });
    const y = tfl.layers
      .conv2d({ filters: 2, kernelSize: 3, name: 'plain_conv' })
      .apply(x) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: x, outputs: y });
    expect(() => exportOnnx(model)).toThrow(
      `layer 'plain_conv' of class 'Conv2D' has no ONNX converter; supported classes: ${ONNX_SUPPORTED_LAYERS.join(', ')}`,
    );
    expect(ONNX_SUPPORTED_LAYERS).toEqual([
      'InputLayer',
      'WsssAlign',
      'WsssAspp',
      'WsssDsrgHead',
      'WsssFca',
      'WsssGciFusion',
      'WsssSegHead',
      'WsssSf2',
      'WsssStochasticGate',
      'WsssWideResNet38',
      'WsssWrn38Unit',
    ]);
  });

  it('rejects unknown or invalid options, Sequential models and wsfcn-reference on a multi-output model', () => {
    const model = smallDsrgNet('light');
    expect(() => exportOnnx(model, { layuot: 'nchw' } as never)).toThrow("unknown option 'layuot'");
    expect(() => exportOnnx(model, { layout: 'hwc' as never })).toThrow("layout must be 'nhwc' or 'nchw'");
    expect(() => exportOnnx(model, { head: 'reference' as never })).toThrow(
      "head must be 'none' or 'wsfcn-reference'",
    );
    expect(() => exportOnnx(model, { focalP: Number.NaN })).toThrow('focalP must be a finite number');
    const seq = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
    expect(() => exportOnnx(seq)).toThrow('is not a functional model');
    const a = tfl.input({ shape: [null, null, 4] });
    const b = tfl.input({ shape: [null, null, 4] });
    const two = tfl.model({
      inputs: [a, b],
      outputs: new Sf2({ channels: 4 }).apply([a, b]) as tfl.SymbolicTensor[],
    });
    expect(() => exportOnnx(two, { head: 'wsfcn-reference' })).toThrow(
      "head 'wsfcn-reference' needs a model with one output",
    );
    model.dispose();
  });

  it('describeOnnx refuses bytes that are not a model', () => {
    expect(() => describeOnnx(new Uint8Array([0xff, 0xff, 0xff]))).toThrow('describeOnnx: not an ONNX model');
  });
});
