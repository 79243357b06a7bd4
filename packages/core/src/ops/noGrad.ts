/**
 * `noGrad(fn)`: runs `fn` without recording anything for gradients (PyTorch `torch.no_grad()`), inside a tidy.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The engine state that decides whether ops are taped (tfjs-core 4.x: `isTapeOn()` is `gradientDepth > 0`). */
interface TapeState {
  state: { gradientDepth: number; activeTape: unknown };
}

/**
 * Runs `fn` with the gradient tape off and disposes everything it made except what it returns (like `tf.tidy`).
 * The result has no history, as if detached: no gradient flows back through it, and — unlike {@link stopGradient}
 * applied to the result afterwards — tfjs keeps no copies of `fn`'s intermediates for a backward pass that will
 * never use them. For the parts of a training step that only compute targets: pseudo labels, loss weights.
 */
export function noGrad<T extends tf.TensorContainer>(fn: () => T): T {
  const engine = tf.engine() as unknown as TapeState;
  const { gradientDepth, activeTape } = engine.state;
  engine.state.gradientDepth = 0;
  try {
    return tf.tidy(fn);
  } finally {
    // a gradient computation inside fn starts a tape of its own and clears it: the outer one is put back
    engine.state.gradientDepth = gradientDepth;
    engine.state.activeTape = activeTape;
  }
}
