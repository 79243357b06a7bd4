/**
 * `stopGradient(x)`: the value of x, cut from the gradient tape (PyTorch `.detach()`). tfjs has no such op; the
 * method needs it wherever the reference detaches (PAMR input, pseudo ground truth: spec §3.8).
 *
 * A zero-gradient custom op would not do: everything computed from it (PAMR, thresholds, casts) would still lie
 * on the path from the variables to the loss, and tfjs refuses to backpropagate through ops without gradients.
 * Instead the result is a new tensor over the same data with no history: no copy, nothing recorded.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * The value of x cut from the gradient tape (PyTorch `.detach()`): a new tensor over the same data, no copy
 * and no recorded history, so no gradient flows into x through it. Dispose it like any tensor; the data lives
 * until x and the result are both disposed.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const engine = tf.engine();
  // The buffer may live on another backend than the active one (tfjs moves data lazily).
  const backend =
    (engine.state as unknown as { tensorInfo: Map<object, { backend: tf.KernelBackend }> }).tensorInfo.get(
      x.dataId,
    )?.backend ?? engine.backend;
  const t = engine.makeTensorFromTensorInfo(
    { dataId: x.dataId, shape: x.shape, dtype: x.dtype },
    backend,
  ) as T;
  // The backend owns the buffer's reference count (as for tfjs's own Identity/Reshape): one more holder.
  backend.incRef(x.dataId);
  return t;
}
