/**
 * Weight initialisers that reproduce PyTorch's (spec §1.7), for HWIO kernels. tfjs's `heNormal` draws from a
 * truncated normal, PyTorch's `kaiming_normal_` from a plain normal, so neither tfjs initialiser matches.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nextSeed } from '../ops/random.js';

/** How a weight is initialised. Serialisable (a string), stored in layer configs. */
export type InitName =
  /** `kaiming_normal_(mode='fan_in', nonlinearity='relu')`: N(0, 2/fan_in). */
  | 'kaimingNormal'
  /** PyTorch's default conv weight init `kaiming_uniform_(a=√5)`: U(±1/√fan_in). */
  | 'torchDefault'
  /** PyTorch's default conv bias init: U(±1/√fan_in) with the fan-in of the layer's kernel. */
  | 'torchDefaultBias'
  | 'zeros'
  | 'ones';

/** Every {@link InitName}, for validating options (an unknown name is an error listing these). */
export const INIT_NAMES: readonly InitName[] = [
  'kaimingNormal',
  'torchDefault',
  'torchDefaultBias',
  'zeros',
  'ones',
];

/** Fan-in of an HWIO kernel (kh·kw·Cin), as PyTorch computes it for OIHW. */
export function fanIn(kernelShape: readonly number[]): number {
  if (kernelShape.length === 4) return kernelShape[0]! * kernelShape[1]! * kernelShape[2]!;
  if (kernelShape.length === 2) return kernelShape[0]!;
  throw new Error(`fanIn: kernel shape must be rank 2 or 4, got [${kernelShape}]`);
}

let skipDepth = 0;

/**
 * Runs `build` with weight initialisation skipped: every weight a wsss layer declares starts at zero, without a
 * random draw (nor a draw from the seeded stream). For models whose weights are loaded right after — from a
 * checkpoint or a state dict: the full WS-FCN's 148 M parameters are built in well under a second instead of ~15 s
 * of random number generation. Weights not loaded afterwards stay zero, so load strictly.
 */
export function withoutInitialization<T>(build: () => T): T {
  skipDepth++;
  try {
    return build();
  } finally {
    skipDepth--;
  }
}

/**
 * Draws an initial value (zeros inside {@link withoutInitialization}). `fan` is the fan-in to use (the kernel's for biases). Without a `seed`, draws from
 * `seedRandom`'s stream when it is seeded (so a seeded run builds identical models), else unseeded.
 */
export function initialValue(init: InitName, shape: number[], fan: number, seed?: number): tf.Tensor {
  if (skipDepth > 0) return tf.zeros(shape);
  seed ??= nextSeed();
  switch (init) {
    case 'kaimingNormal':
      return tf.randomNormal(shape, 0, Math.sqrt(2 / fan), 'float32', seed);
    case 'torchDefault':
    case 'torchDefaultBias': {
      const bound = 1 / Math.sqrt(fan);
      return tf.randomUniform(shape, -bound, bound, 'float32', seed);
    }
    case 'zeros':
      return tf.zeros(shape);
    case 'ones':
      return tf.ones(shape);
    default:
      throw new Error(`unknown initialiser '${String(init)}'; expected one of ${INIT_NAMES.join(', ')}`);
  }
}
