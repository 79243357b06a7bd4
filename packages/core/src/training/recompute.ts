/**
 * Activation recomputation (gradient checkpointing, as `torch.utils.checkpoint`): a segment of the forward keeps
 * only its input for the backward pass and runs again inside it, trading one more forward of the segment for the
 * memory of everything it computes in between. The segment's random draws (dropout, the stochastic gate) are
 * recorded in the forward and replayed in the recomputation, and BatchNorm running statistics are updated once,
 * so the gradients equal the plain ones.
 */
import * as tf from '@tensorflow/tfjs-core';
import { recordUniformDraws, replayUniformDraws } from '../ops/random.js';
import { gradientsLowMemory } from './backprop.js';

/** tfjs-core engine internals used here (tfjs-core 4.x): whether ops are taped, and the tape in use. */
interface EngineInternals {
  isTapeOn(): boolean;
  state: { activeTape: unknown };
}

let recomputeDepth = 0;
let segmentDepth = 0;

/** True while a checkpointed segment runs again inside the backward pass (layers skip side effects then). */
export function recomputing(): boolean {
  return recomputeDepth > 0;
}

/**
 * Runs `fn(x)` as a checkpointed segment: when gradients are being recorded, only `x` is kept, and the backward
 * pass recomputes `fn(x)` to get the gradients of `x` and of `variables` (every trainable variable `fn` reads:
 * a variable left out gets no gradient through the segment). Without a gradient tape (inference) or inside another
 * segment it is just `fn(x)`.
 */
export function checkpointed<T extends tf.Tensor>(
  fn: (x: T) => T,
  x: T,
  variables: readonly tf.Variable[],
): T {
  const engine = tf.engine() as unknown as EngineInternals;
  if (!engine.isTapeOn() || segmentDepth > 0 || recomputeDepth > 0) return fn(x);
  const vars = variables.filter((v) => v.trainable);
  let draws: tf.Tensor[] = [];
  const segment = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as T;
    const save = args[args.length - 1] as tf.GradSaveFunc;
    segmentDepth++;
    let value: T;
    try {
      ({ result: value, draws } = recordUniformDraws(() => fn(input)));
    } finally {
      segmentDepth--;
    }
    save([input]);
    return {
      value,
      gradFunc: (dy: T, saved: tf.Tensor[]) => {
        const again = saved[0] as T;
        // a gradient computation of its own inside the outer backward: tfjs-core keeps one active tape, which the
        // inner computation replaces and clears, so the outer one is put back afterwards
        const outerTape = engine.state.activeTape;
        recomputeDepth++;
        try {
          const { value: y, grads } = gradientsLowMemory(
            () => replayUniformDraws(draws, () => fn(again)),
            [again, ...vars],
            dy,
            true,
          );
          y.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? again : vars[i - 1]!));
        } finally {
          recomputeDepth--;
          engine.state.activeTape = outerTape;
          tf.dispose(draws);
          draws = [];
        }
      },
    };
  });
  return segment(x, ...vars) as T;
}
