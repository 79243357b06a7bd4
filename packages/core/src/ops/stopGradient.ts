/**
 * `stopGradient(x)`: the value of x with a zero gradient (PyTorch `.detach()`). tfjs has no such op; the
 * method needs it wherever the reference detaches (PAMR input, pseudo ground truth: spec §3.8).
 */
import * as tf from '@tensorflow/tfjs-core';

const detach = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
  value: (args[0] as tf.Tensor).clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

export function stopGradient<T extends tf.Tensor>(x: T): T {
  return detach(x) as T;
}
