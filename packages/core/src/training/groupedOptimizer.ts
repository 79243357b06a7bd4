/**
 * Optimisers with parameter groups, as the reference trains (spec §1.6): each variable belongs to a group with its
 * own learning-rate multiplier and weight decay. tfjs's optimisers have one learning rate for all variables.
 *
 * Update rules follow PyTorch exactly:
 * - SGD: `g ← g + wd·w`; `buf ← momentum·buf + g` (buf = g at the first step); `w ← w − lr·mult·buf`.
 * - Adam: `g ← g + wd·w`; `m ← β1·m + (1−β1)·g`; `v ← β2·v + (1−β2)·g²`;
 *   `w ← w − lr·mult · (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε)`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  hasOptimizerKernels,
  OPTIMIZER_UPDATE,
  registerOptimizerKernels,
  type UpdateAttrs,
} from '../kernels/optimizer/index.js';
import { variableGradsLowMemory } from './backprop.js';

/**
 * A group of variables sharing a learning-rate multiplier and a weight decay (spec §1.6); `name` identifies
 * it in messages.
 */
export interface ParamGroup {
  name: string;
  variables: tf.Variable[];
  /** Multiplier of the base learning rate. */
  lrMult: number;
  /** L2 weight decay added to the gradient (PyTorch `weight_decay`). */
  weightDecay: number;
}

/**
 * SGD as PyTorch's `torch.optim.SGD` (no dampening, no Nesterov): base learning rate `lr` and momentum
 * (default 0).
 */
export interface GroupedSgdOptions {
  kind: 'sgd';
  lr: number;
  momentum?: number;
}
/**
 * Adam as PyTorch's `torch.optim.Adam` (weight decay added to the gradient, not AdamW): base learning rate
 * `lr`, β1 (default 0.9), β2 (default 0.999) and ε (default 1e-8).
 */
export interface GroupedAdamOptions {
  kind: 'adam';
  lr: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}
/** The update rule of a {@link GroupedOptimizer}, chosen by `kind`: SGD or Adam. */
export type GroupedOptimizerOptions = GroupedSgdOptions | GroupedAdamOptions;

/** Serialisable optimiser state (for checkpoints and exact resume). */
export interface OptimizerState {
  step: number;
  /** Per variable name: its slot tensors' values (SGD: [momentum]; Adam: [m, v]). */
  slots: Record<string, { shape: number[]; values: Float32Array[] }>;
}

/** `tf.keep` every tensor of a container, so it survives the tidy scope of `tf.variableGrads`. */
function keepAll(c: tf.TensorContainer | undefined): void {
  if (c instanceof tf.Tensor) tf.keep(c);
  else if (Array.isArray(c)) for (const t of c) keepAll(t);
  else if (c && typeof c === 'object') for (const t of Object.values(c)) keepAll(t as tf.TensorContainer);
}

/**
 * SGD or Adam over parameter groups with PyTorch's update rules: a group's variables step with learning rate
 * `lr × lrMult`, its weight decay added to their gradients. The state (step count, slots) round-trips through
 * {@link GroupedOptimizer.getState} and {@link GroupedOptimizer.setState} for exact resume. Throws when
 * lr ≤ 0, the kind is unknown or a variable is in two groups.
 */
export class GroupedOptimizer {
  /** Base learning rate; change it for schedules. */
  lr: number;
  private stepCount = 0;
  private readonly slots = new Map<tf.Variable, tf.Variable[]>();
  private readonly groupOf = new Map<tf.Variable, ParamGroup>();

  constructor(
    readonly groups: ParamGroup[],
    readonly options: GroupedOptimizerOptions,
  ) {
    if (!(options.lr > 0)) throw new Error(`GroupedOptimizer: lr must be > 0, got ${options.lr}`);
    if (options.kind !== 'sgd' && options.kind !== 'adam') {
      throw new Error(
        `GroupedOptimizer: kind must be 'sgd' or 'adam', got '${(options as { kind: string }).kind}'`,
      );
    }
    this.lr = options.lr;
    for (const g of groups) {
      for (const v of g.variables) {
        if (this.groupOf.has(v))
          throw new Error(
            `GroupedOptimizer: variable '${v.name}' is in groups '${this.groupOf.get(v)!.name}' and '${g.name}'`,
          );
        this.groupOf.set(v, g);
      }
    }
  }

  /** All variables, in group order. */
  get variables(): tf.Variable[] {
    return this.groups.flatMap((g) => g.variables);
  }

  /** Number of steps taken. */
  get iterations(): number {
    return this.stepCount;
  }

  /**
   * Computes the gradients of `loss` with respect to every grouped variable and applies one update.
   * Returns the loss value (a scalar the caller disposes) and, if asked, the auxiliary tensors `loss` returned.
   */
  minimize<T extends tf.TensorContainer>(
    loss: () => { loss: tf.Scalar; aux?: T },
  ): { loss: tf.Scalar; aux?: T } {
    let aux: T | undefined;
    const vars = this.variables;
    const { value, grads } = variableGradsLowMemory(() => {
      const r = loss();
      aux = r.aux;
      keepAll(r.aux);
      return r.loss;
    }, vars);
    this.applyGradients(grads);
    tf.dispose(grads);
    return { loss: value, aux };
  }

  /**
   * Gradient accumulation: one update from several parts of a batch computed one after the other, so that only
   * one part's activations are alive at a time. Part j's loss is scaled by `weights[j]` and the gradients summed;
   * with mean-reduced losses and weights n_j/N (n_j images of N) the update is the full batch's wherever the network
   * has no batch statistics (a train-mode BatchNorm normalises each part by its own statistics, as PyTorch does
   * without SyncBN). Returns the weighted sum of the parts' losses and each part's auxiliary tensors (the caller
   * disposes them). The step count advances by one.
   */
  minimizeAccumulated<T extends tf.TensorContainer>(
    weights: readonly number[],
    loss: (part: number) => { loss: tf.Scalar; aux?: T },
  ): { loss: tf.Scalar; aux: (T | undefined)[] } {
    if (weights.length === 0 || weights.some((w) => !Number.isFinite(w)))
      throw new Error(
        `GroupedOptimizer.minimizeAccumulated: weights must be finite numbers, got [${weights}]`,
      );
    const vars = this.variables;
    const aux: (T | undefined)[] = [];
    let sum: tf.NamedTensorMap | null = null;
    let total: tf.Scalar | null = null;
    try {
      for (let j = 0; j < weights.length; j++) {
        const { value, grads } = variableGradsLowMemory(() => {
          const r = loss(j);
          aux.push(r.aux);
          keepAll(r.aux);
          return tf.mul(r.loss, weights[j]!) as tf.Scalar;
        }, vars);
        if (!sum) {
          sum = grads;
          total = value;
          continue;
        }
        for (const [k, g] of Object.entries(grads)) {
          const prev = sum[k];
          sum[k] = prev ? tf.add(prev, g) : tf.clone(g);
          tf.dispose([prev, g].filter((t): t is tf.Tensor => !!t));
        }
        const t = tf.add(total!, value) as tf.Scalar;
        tf.dispose([total!, value]);
        total = t;
      }
      this.applyGradients(sum!);
    } catch (e) {
      tf.dispose(aux as tf.TensorContainer);
      if (total) total.dispose();
      throw e;
    } finally {
      if (sum) tf.dispose(sum);
    }
    return { loss: total!, aux };
  }

  /** Applies one update from gradients keyed by variable name (variables without a gradient are skipped). */
  applyGradients(grads: tf.NamedTensorMap): void {
    this.stepCount++;
    const t = this.stepCount;
    const fused = hasOptimizerKernels();
    if (fused) registerOptimizerKernels();
    tf.tidy(() => {
      for (const [v, g] of this.groupOf) {
        const grad = grads[v.name];
        if (!grad) continue;
        const lr = this.lr * g.lrMult;
        if (fused && v.dtype === 'float32' && grad.dtype === 'float32') {
          this.fusedUpdate(v, grad, lr, g.weightDecay, t);
          continue;
        }
        const d = g.weightDecay ? tf.add(grad, tf.mul(v, g.weightDecay)) : grad;
        const o = this.options;
        if (o.kind === 'sgd') {
          const mom = o.momentum ?? 0;
          if (mom === 0) {
            v.assign(tf.sub(v, tf.mul(d, lr)));
            continue;
          }
          const [buf] = this.slotsFor(v, 1);
          // PyTorch starts the buffer at the first gradient itself
          buf!.assign(this.started.has(v) ? tf.add(tf.mul(buf!, mom), d) : d);
          this.started.add(v);
          v.assign(tf.sub(v, tf.mul(buf!, lr)));
        } else {
          const b1 = o.beta1 ?? 0.9;
          const b2 = o.beta2 ?? 0.999;
          const eps = o.epsilon ?? 1e-8;
          const [m, s] = this.slotsFor(v, 2);
          m!.assign(tf.add(tf.mul(m!, b1), tf.mul(d, 1 - b1)));
          s!.assign(tf.add(tf.mul(s!, b2), tf.mul(tf.square(d), 1 - b2)));
          const mHat = tf.div(m!, 1 - b1 ** t);
          const denom = tf.add(tf.sqrt(tf.div(s!, 1 - b2 ** t)), eps);
          v.assign(tf.sub(v, tf.mul(tf.div(mHat, denom), lr)));
        }
      }
    });
  }

  /** One variable's update as one kernel on cpu/wasm (kernels/optimizer): the same rules as the op path. */
  private fusedUpdate(v: tf.Variable, grad: tf.Tensor, lr: number, weightDecay: number, step: number): void {
    const o = this.options;
    const momentum = o.kind === 'sgd' ? (o.momentum ?? 0) : 0;
    const slots = o.kind === 'adam' ? this.slotsFor(v, 2) : momentum ? this.slotsFor(v, 1) : [];
    const attrs: UpdateAttrs = {
      kind: o.kind,
      lr,
      weightDecay,
      momentum,
      started: this.started.has(v),
      beta1: o.kind === 'adam' ? (o.beta1 ?? 0.9) : 0,
      beta2: o.kind === 'adam' ? (o.beta2 ?? 0.999) : 0,
      epsilon: o.kind === 'adam' ? (o.epsilon ?? 1e-8) : 0,
      step,
    };
    const inputs: tf.NamedTensorMap = { w: v, g: grad };
    slots.forEach((s, i) => {
      inputs[`s${i}`] = s;
    });
    const outs = tf
      .engine()
      .runKernel(OPTIMIZER_UPDATE, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    v.assign(outs[0]!);
    for (const [i, s] of slots.entries()) s.assign(outs[i + 1]!);
    if (o.kind === 'sgd' && momentum) this.started.add(v);
  }

  /** Variables whose SGD momentum buffer holds a gradient already. */
  private readonly started = new Set<tf.Variable>();

  private slotsFor(v: tf.Variable, n: number): tf.Variable[] {
    let s = this.slots.get(v);
    if (!s) {
      // not inside a tidy when called from setState: the zeros would outlive the call otherwise
      s = Array.from({ length: n }, () => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
      this.slots.set(v, s);
    }
    return s;
  }

  /** The optimiser state, for checkpoints. */
  async getState(): Promise<OptimizerState> {
    const slots: OptimizerState['slots'] = {};
    for (const [v, s] of this.slots) {
      if (this.options.kind === 'sgd' && !this.started.has(v)) continue;
      slots[v.name] = {
        shape: v.shape,
        values: await Promise.all(s.map(async (t) => (await t.data()) as Float32Array)),
      };
    }
    return { step: this.stepCount, slots };
  }

  /** Restores a state from {@link getState}; names must match the grouped variables, shapes must agree. */
  setState(state: OptimizerState): void {
    const byName = new Map(this.variables.map((v) => [v.name, v]));
    for (const [name, { shape, values }] of Object.entries(state.slots)) {
      const v = byName.get(name);
      if (!v) throw new Error(`GroupedOptimizer.setState: no variable named '${name}' in the groups`);
      if (!tf.util.arraysEqual(v.shape, shape)) {
        throw new Error(`GroupedOptimizer.setState: '${name}' has shape [${v.shape}], state has [${shape}]`);
      }
      const s = this.slotsFor(v, values.length);
      values.forEach((vals, i) => {
        tf.tidy(() => s[i]!.assign(tf.tensor(vals, shape)));
      });
      this.started.add(v);
    }
    this.stepCount = state.step;
  }

  /**
   * Disposes the slot variables (SGD momentum buffers, Adam moments); the grouped variables are left alone.
   */
  dispose(): void {
    for (const s of this.slots.values()) tf.dispose(s);
    this.slots.clear();
    this.started.clear();
  }
}
