/**
 * Test helpers (not exported by the package): small wsss networks assembled as @wsss/cli's `createWsFcn` and
 * `createDsrgNet` assemble them, ONNX Runtime sessions over exported bytes, and the parity measure.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { wrn38 } from '@wsss/backbone-wrn38';
import { applyModel, SegHead, StochasticGate } from '@wsss/core';
import { seededTensor, seedWeights } from '@wsss/core/testing';
import { Aspp, FCA_BRANCHES, Fca } from '@wsss/fca';
import { DsrgHead } from '@wsss/ficklenet';
import { Align, GciFusion, Sf2 } from '@wsss/sf2';
import * as ort from 'onnxruntime-node';

/** Reduced backbone widths [conv1a, b2, …, b7] for tests. */
export const SMALL_CHANNELS = [8, 8, 16, 16, 32, 32, 32];

/** What a test network is made of. */
export interface SmallWsFcnConfig {
  context: 'fca' | 'aspp';
  fusion: 'sf2' | 'gci';
  depth: 'light' | 'full';
  numClasses?: number;
  psi?: number;
  seed?: number;
  /** Backbone BatchNorm mode (`createWsFcn`'s default: 'frozen'); both use the stored statistics at inference. */
  bnMode?: 'frozen' | 'batch';
}

/**
 * WS-FCN (or a Table I variant) as `createWsFcn` builds it — wrn38 taps conv3 + conv6 → FCA | ASPP → Align + SF2 |
 * GCI → stochastic gate [deep, shallow] → SegHead — at reduced widths, every weight seeded.
 */
export function smallWsFcn(c: SmallWsFcnConfig): tfl.LayersModel {
  const backbone = wrn38({
    channels: SMALL_CHANNELS,
    depth: c.depth,
    taps: ['conv3', 'conv6'],
    bnMode: c.bnMode ?? 'frozen',
    name: 'backbone',
  });
  const channels = backbone.tapInfo()[0]!.channels;
  const context =
    c.context === 'fca'
      ? new Fca({ name: 'fca', channels, branches: FCA_BRANCHES.map((b) => ({ ...b })) })
      : new Aspp({ name: 'aspp', channels, rates: [12, 24, 36] });
  const gate = new StochasticGate({ name: 'sg', psi: c.psi ?? 0.3 });
  const head = new SegHead({ name: 'last_conv', numClasses: c.numClasses ?? 5, channels });
  const image = tfl.input({ shape: [null, null, 3], name: 'image' });
  const [conv3, conv6] = backbone.apply(image) as tfl.SymbolicTensor[];
  const ctx = context.apply(conv6!) as tfl.SymbolicTensor;
  const layers: tfl.layers.Layer[] = [backbone, context];
  let shallow: tfl.SymbolicTensor;
  let deep: tfl.SymbolicTensor;
  if (c.fusion === 'sf2') {
    const align = new Align({ name: 'align1', projectChannels: Math.max(1, channels / 2) });
    const fusion = new Sf2({ name: 'sf2', channels });
    [shallow, deep] = fusion.apply([conv3!, align.apply([conv3!, ctx]) as tfl.SymbolicTensor]) as [
      tfl.SymbolicTensor,
      tfl.SymbolicTensor,
    ];
    layers.push(align, fusion);
  } else {
    const fusion = new GciFusion({ name: 'gci', channels });
    [shallow, deep] = fusion.apply([conv3!, ctx]) as [tfl.SymbolicTensor, tfl.SymbolicTensor];
    layers.push(fusion);
  }
  const z = head.apply(gate.apply([deep, shallow]) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  layers.push(head);
  const model = tfl.model({ inputs: image, outputs: z, name: 'wsfcn' });
  for (const [i, l] of layers.entries()) seedWeights(l, (c.seed ?? 1) * 100 + i * 1000);
  calibrateLogits(model, head);
  return model;
}

/**
 * Seeded weights let activations grow through a deep network (full-depth logits reach 10^4), where the softmax of the
 * `wsfcn-reference` masks turns every last-bit difference of the logits into a large one. A trained network's
 * logits are O(1–10): the head's last 1×1 convolution (kernel and bias) is scaled so that max |z| = 8 on a probe
 * image — a linear rescaling of z that leaves the relative parity of the logits unchanged.
 */
function calibrateLogits(model: tfl.LayersModel, head: SegHead): void {
  const probe = seededTensor([1, 33, 45, 3], 99, 2);
  const z = applyModel(model, probe, { training: false }) as tf.Tensor;
  const peak = tf.max(tf.abs(z)).dataSync()[0]!;
  tf.dispose([probe, z]);
  for (const w of head.weights.filter((v) => /\/8\/(kernel|bias)$/.test(v.originalName))) {
    const scaled = tf.mul(w.read(), 8 / peak);
    w.write(scaled);
    scaled.dispose();
  }
}

/** DSRG's segmentation network as `createDsrgNet` builds it (wrn38 tap conv6 → DsrgHead), small and seeded. */
export function smallDsrgNet(depth: 'light' | 'full', numClasses = 4): tfl.LayersModel {
  const backbone = wrn38({
    channels: SMALL_CHANNELS,
    depth,
    taps: ['conv6'],
    bnMode: 'batch',
    freezeStem: false,
    name: 'backbone',
  });
  const head = new DsrgHead({ name: 'dsrg_head', channels: 16, numClasses: numClasses + 1 });
  const image = tfl.input({ shape: [null, null, 3], name: 'image' });
  const logits = head.apply(backbone.apply(image) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: image, outputs: logits, name: 'dsrg' });
  seedWeights(backbone, 7);
  seedWeights(head, 8);
  return model;
}

/** A session on ONNX Runtime's CPU provider. */
export function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
}

/** Runs a session on float32 tensors; returns every output as { data, dims }. */
export async function runOrt(
  s: ort.InferenceSession,
  feeds: Record<string, tf.Tensor>,
): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
  const inputs: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds))
    inputs[k] = new ort.Tensor('float32', t.dataSync() as Float32Array, t.shape);
  const out = await s.run(inputs);
  return Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, { data: v.data as Float32Array, dims: [...v.dims] }]),
  );
}

/** The tfjs inference forward (`applyModel`, training false) as arrays, tensors disposed. */
export function tfForward(
  model: tfl.LayersModel,
  x: tf.Tensor | tf.Tensor[],
): { data: Float32Array; dims: number[] }[] {
  const out = applyModel(model, x, { training: false });
  const outs = Array.isArray(out) ? out : [out];
  const res = outs.map((t) => ({ data: t.dataSync() as Float32Array, dims: [...t.shape] }));
  tf.dispose(outs);
  return res;
}

/** max |a − b| / max |b|: the parity measure (1e-4 passes). Shapes must agree. */
export function relError(
  actual: { data: Float32Array; dims: number[] },
  expected: { data: Float32Array; dims: number[] },
): number {
  if (actual.dims.join() !== expected.dims.join())
    throw new Error(`shape [${actual.dims}] differs from the expected [${expected.dims}]`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const d = Math.abs(actual.data[i]! - expected.data[i]!);
    diff = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(expected.data[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** A seeded image batch (N, H, W, 3) in roughly ImageNet-normalised range. */
export function image(n: number, h: number, w: number, seed = 1): tf.Tensor4D {
  return seededTensor([n, h, w, 3], seed, 2) as tf.Tensor4D;
}

/** Parity results gathered by the tests (printed as a table at the end of each file). */
export const PARITY: { what: string; backend: string; size: string; rel: number }[] = [];

/** Prints {@link PARITY} as a table. */
export function printParity(title: string): void {
  if (!PARITY.length) return;
  const lines = PARITY.map(
    (p) => `${p.what.padEnd(52)} ${p.backend.padEnd(5)} ${p.size.padEnd(15)} ${p.rel.toExponential(2)}`,
  );
  console.log(`${title}\n${lines.join('\n')}`);
}
