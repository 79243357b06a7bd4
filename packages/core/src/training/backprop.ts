/**
 * Reverse-mode gradients that free memory as the backward pass goes, like PyTorch's autograd.
 *
 * tfjs-core's `tf.grads` / `tf.variableGrads` keep everything until the backward pass ends: the tensors every taped
 * op saved for its gradient (also the ops whose gradient is never needed, e.g. pseudo labels computed from detached
 * masks) and the gradient of every intermediate tensor. The peak of a training step is then about all saved
 * activations plus all their gradients at once. Here the same tape is walked in the same order, with the same
 * kernels and the same accumulation order (so the gradients are bit-identical), but
 * - the saved tensors of ops off the path from the variables to the loss are released before the backward pass,
 * - each op's saved tensors are released as soon as its gradient has been computed,
 * - the gradient of an intermediate tensor is released once the op that produced it has consumed it.
 * The peak becomes the saved activations still waiting for their op's gradient plus the gradients in flight.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A node of tfjs-core's gradient tape (tfjs-core 4.x, `tape.ts`). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The engine internals this relies on (tfjs-core 4.x; `gradients()` uses the same ones). */
interface EngineInternals {
  state: { gradientDepth: number; activeTape: TapeNode[] | null };
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, fn: () => T): T;
  tidy<T>(name: string, fn: () => T): T;
  gradients<T extends tf.Tensor>(
    f: () => T,
    xs: tf.Tensor[],
    dy?: tf.Tensor,
    allowNoGradients?: boolean,
  ): { value: T; grads: (tf.Tensor | undefined)[] };
}

function releaseSaved(node: TapeNode): void {
  for (const t of node.saved ?? []) t.dispose();
}

/**
 * The nodes of `tape` on a path from one of `xs` to `y`, in tape order, each with only the inputs that depend on
 * `xs` (the ones that receive a gradient).
 */
function pathFromXsToY(tape: TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const reachable = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      reachable.add(node.id);
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const leading = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      leading.add(node.id);
      for (const t of Object.values(node.inputs)) toY.add(t.id);
    }
  }
  const path: TapeNode[] = [];
  for (const node of tape) {
    if (!reachable.has(node.id) || !leading.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    path.push({ ...node, inputs });
  }
  return path;
}

/**
 * Gradients of the scalar-or-tensor `f()` with respect to `xs`, as tfjs-core's `engine.gradients` (same tape,
 * kernels and summation order: bit-identical results) but releasing saved activations and intermediate gradients
 * as soon as they are no longer needed (see the module comment). `dy` weights the output (default ones). Returns
 * the value of `f()` and one gradient per x (null where `f` does not depend on it; with `allowNoGradients` false
 * that is an error when no x reaches the output). Inside another gradient computation (higher-order gradients),
 * where the outer one may still need the tape, it is tfjs-core's own `gradients`.
 */
export function gradientsLowMemory<T extends tf.Tensor>(
  f: () => T,
  xs: readonly tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients = false,
): { value: T; grads: (tf.Tensor | null)[] } {
  if (xs.length === 0) throw new Error('gradientsLowMemory: xs must name at least one tensor');
  if (dy != null && dy.dtype !== 'float32')
    throw new Error(`gradientsLowMemory: dy must be float32, got ${dy.dtype}`);
  const engine = tf.engine() as unknown as EngineInternals;
  if (engine.state.gradientDepth > 0) {
    const r = engine.gradients(f, [...xs], dy, allowNoGradients);
    return { value: r.value, grads: r.grads.map((g) => g ?? null) };
  }
  let y: T;
  engine.startTape();
  try {
    y = engine.tidy('forward', f);
  } catch (e) {
    engine.endTape();
    for (const node of engine.state.activeTape ?? []) releaseSaved(node);
    engine.state.activeTape = null;
    throw e;
  }
  engine.endTape();
  const tape = engine.state.activeTape ?? [];
  try {
    if (!(y instanceof tf.Tensor))
      throw new Error('gradientsLowMemory: f() must return a tensor (the value to differentiate)');
    if (dy != null && !tf.util.arraysEqual(dy.shape, y.shape))
      throw new Error(`gradientsLowMemory: dy has shape [${dy.shape}], the output [${y.shape}]`);
    const path = pathFromXsToY(tape, xs, y);
    if (!allowNoGradients && path.length === 0)
      throw new Error(
        'gradientsLowMemory: the output does not depend on any of xs (every op between them must run inside f)',
      );
    const onPath = new Set(path.map((n) => n.id));
    for (const node of tape) if (!onPath.has(node.id)) releaseSaved(node);
    // null is not a tensor container; a gap marks the variables that get no gradient
    const held = engine.tidy('backward', () => backward(engine, path, xs, y, dy).map((g) => g ?? undefined));
    return { value: y, grads: held.map((g) => g ?? null) };
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    for (const node of tape) releaseSaved(node);
    engine.state.activeTape = null;
  }
}

/** Walks `path` backwards from `y`, releasing each node's saved tensors and consumed gradients as it goes. */
function backward(
  engine: EngineInternals,
  path: TapeNode[],
  xs: readonly tf.Tensor[],
  y: tf.Tensor,
  dy: tf.Tensor | undefined,
): (tf.Tensor | null)[] {
  // gradient of each tensor (by id) accumulated so far; a gradient function may hand back the very tensor it was
  // given (or the same tensor for two inputs), so each gradient tensor counts the entries holding it and is
  // disposed when the last one lets go
  const grad = new Map<number, tf.Tensor>();
  const holders = new Map<tf.Tensor, number>();
  const keep = new Set<number>(xs.map((x) => x.id));
  const hold = (id: number, t: tf.Tensor) => {
    grad.set(id, t);
    holders.set(t, (holders.get(t) ?? 0) + 1);
  };
  const letGo = (id: number) => {
    const t = grad.get(id);
    if (!t) return;
    grad.delete(id);
    const n = (holders.get(t) ?? 1) - 1;
    if (n > 0) holders.set(t, n);
    else {
      holders.delete(t);
      if (t !== dy) t.dispose();
    }
  };
  hold(y.id, dy ?? tf.ones(y.shape));
  for (let i = path.length - 1; i >= 0; i--) {
    const node = path[i]!;
    if (!node.gradient) throw new Error(`gradientsLowMemory: op ${node.kernelName} has no gradient`);
    const inputGrads = node.gradient(node.outputs.map((o) => grad.get(o.id) ?? null));
    for (const [name, x] of Object.entries(node.inputs)) {
      const fn = inputGrads[name];
      if (!fn)
        throw new Error(
          `gradientsLowMemory: op ${node.kernelName} gives no gradient for its input '${name}' (it gives ${Object.keys(inputGrads).join(', ')})`,
        );
      const dx = engine.tidy(node.kernelName, fn);
      if (dx.dtype !== 'float32')
        throw new Error(
          `gradientsLowMemory: the gradient of ${node.kernelName}'s input '${name}' is ${dx.dtype}, expected float32`,
        );
      if (!tf.util.arraysEqual(dx.shape, x.shape))
        throw new Error(
          `gradientsLowMemory: the gradient of ${node.kernelName}'s input '${name}' has shape [${dx.shape}], the input [${x.shape}]`,
        );
      const prev = grad.get(x.id);
      if (!prev) {
        hold(x.id, dx);
        continue;
      }
      const sum = tf.add(prev, dx);
      letGo(x.id);
      if (!holders.has(dx) && dx !== dy) dx.dispose();
      hold(x.id, sum);
    }
    releaseSaved(node);
    for (const o of node.outputs) if (!keep.has(o.id)) letGo(o.id);
  }
  const out = xs.map((x) => grad.get(x.id) ?? null);
  // anything still held that is not returned (an x that is also an op's output is kept above)
  for (const id of [...grad.keys()]) if (!keep.has(id)) letGo(id);
  return out;
}

/**
 * `tf.variableGrads` on {@link gradientsLowMemory}: the scalar `f()` and its gradient with respect to each of
 * `varList` (default: every trainable variable), keyed by variable name; variables `f` does not reach get no entry.
 */
export function variableGradsLowMemory(
  f: () => tf.Scalar,
  varList?: readonly tf.Variable[],
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const vars = varList ?? Object.values(tf.engine().registeredVariables).filter((v) => v.trainable);
  if (vars.length === 0) throw new Error('variableGradsLowMemory: there are no trainable variables');
  for (const v of vars)
    if (!(v instanceof tf.Variable))
      throw new Error('variableGradsLowMemory: varList must hold tf.Variable objects only');
  const trainable = vars.filter((v) => v.trainable);
  const { value, grads } = gradientsLowMemory(
    () => {
      const r = f();
      if (!(r instanceof tf.Tensor) || r.rank !== 0)
        throw new Error(
          `variableGradsLowMemory: f() must return a scalar tensor, got ${r instanceof tf.Tensor ? `rank ${r.rank}` : typeof r}`,
        );
      return r;
    },
    trainable,
    undefined,
    true,
  );
  if (!grads.some((g) => g != null)) {
    value.dispose();
    throw new Error(
      'variableGradsLowMemory: the loss does not depend on any of the variables (every op between them must run inside f)',
    );
  }
  const named: tf.NamedTensorMap = {};
  trainable.forEach((v, i) => {
    const g = grads[i];
    if (g) named[v.name] = g;
  });
  return { value: value as tf.Scalar, grads: named };
}
