/**
 * Running a functional `tf.LayersModel` on concrete tensors with every layer call made exactly once.
 *
 * tfjs-layers' executor (behind `model.apply`, `model.predict` and `model.execute`, 4.22) walks the model's
 * symbolic tensors in topological order and calls each tensor's source layer again for every output it owns:
 * a layer with k outputs runs k times, and so does everything it feeds that also has several outputs. WS-FCN's
 * backbone (taps conv3 + conv6) and SF2 (shallow + deep) are such layers, so a plain `model.apply` ran both
 * twice per forward: twice the work, twice the BatchNorm running-statistics updates and extra random draws in
 * training mode. `applyModel` walks the model's nodes instead (as tfjs-layers' own `runInternalGraph` does, which
 * however cannot pass `training`), so each layer call happens once and the result is otherwise the same.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** The parts of tfjs-layers' graph types this walk reads (public fields, not all in the .d.ts). */
interface GraphNode {
  outboundLayer: tfl.layers.Layer;
  inputTensors: tfl.SymbolicTensor[];
  outputTensors: tfl.SymbolicTensor[];
  callArgs?: Record<string, unknown>;
}

interface Graph {
  inputs: tfl.SymbolicTensor[];
  outputs: tfl.SymbolicTensor[];
  nodesByDepth: Record<string, GraphNode[]>;
}

/** Options of {@link applyModel}. */
export interface ApplyModelOptions {
  /** Training mode, passed to every layer as kwargs `training` (dropout, batch statistics, …). Default false. */
  training?: boolean;
}

function isInputLayer(layer: tfl.layers.Layer): boolean {
  return layer.getClassName() === 'InputLayer';
}

/**
 * `model.apply(inputs, {training})` for a functional model, with each node's layer called once (see the module
 * comment for why tfjs-layers' own executor does not). Nested functional models are walked the same way.
 * Returns one tensor for a single-output model, else an array in `model.outputs` order. In inference mode
 * intermediate results are freed as soon as their last consumer has run.
 */
export function applyModel(
  model: tfl.LayersModel,
  inputs: tf.Tensor | tf.Tensor[],
  opts: ApplyModelOptions = {},
): tf.Tensor | tf.Tensor[] {
  const graph = model as unknown as Graph;
  const xs = Array.isArray(inputs) ? inputs : [inputs];
  if (xs.length !== graph.inputs.length) {
    throw new Error(
      `applyModel: model '${model.name}' takes ${graph.inputs.length} input(s), got ${xs.length}`,
    );
  }
  const training = opts.training ?? false;
  // A Sequential model keeps its graph in an inner model (its own node table is empty); its layers have one output
  // each, so tfjs's executor repeats nothing there.
  if (!graph.nodesByDepth || Object.keys(graph.nodesByDepth).length === 0)
    return model.apply(inputs, { training }) as tf.Tensor | tf.Tensor[];
  return tf.tidy(() => {
    const values = new Map<number, tf.Tensor>();
    for (const [i, s] of graph.inputs.entries()) values.set(s.id, xs[i]!);
    // Pending consumers per symbolic tensor, for freeing intermediates early in inference.
    const pending = new Map<number, number>();
    const depths = Object.keys(graph.nodesByDepth)
      .map(Number)
      .sort((a, b) => b - a);
    const nodes = depths.flatMap((d) => graph.nodesByDepth[String(d)]!);
    for (const node of nodes)
      for (const s of node.inputTensors) pending.set(s.id, (pending.get(s.id) ?? 0) + 1);
    const keep = new Set<tf.Tensor>(xs);
    const outputIds = new Set(graph.outputs.map((s) => s.id));
    for (const node of nodes) {
      const layer = node.outboundLayer;
      if (isInputLayer(layer)) continue;
      const args = node.inputTensors.map((s) => {
        const v = values.get(s.id);
        if (!v) throw new Error(`applyModel: no value for '${s.name}' (input of layer '${layer.name}')`);
        return v;
      });
      const x = args.length === 1 ? args[0]! : args;
      const kwargs = { ...(node.callArgs ?? {}), training };
      delete (kwargs as { mask?: unknown }).mask;
      const out =
        layer instanceof tfl.LayersModel
          ? applyModel(layer, x, { training })
          : (layer.apply(x, kwargs) as tf.Tensor | tf.Tensor[]);
      const outs = Array.isArray(out) ? out : [out];
      if (outs.length !== node.outputTensors.length) {
        throw new Error(
          `applyModel: layer '${layer.name}' returned ${outs.length} tensor(s), its node has ${node.outputTensors.length}`,
        );
      }
      for (const [i, s] of node.outputTensors.entries()) values.set(s.id, outs[i]!);
      if (training) continue;
      for (const s of node.inputTensors) {
        const left = pending.get(s.id)! - 1;
        pending.set(s.id, left);
        if (left > 0 || outputIds.has(s.id)) continue;
        const v = values.get(s.id)!;
        values.delete(s.id);
        // A layer may hand its input through unchanged: free a tensor only if nothing live still holds it.
        if (!keep.has(v) && ![...values.values()].includes(v)) v.dispose();
      }
    }
    const result = graph.outputs.map((s) => {
      const v = values.get(s.id);
      if (!v)
        throw new Error(`applyModel: model '${model.name}' computed no value for its output '${s.name}'`);
      return v;
    });
    return result.length === 1 ? result[0]! : result;
  });
}
