import { assertArray } from './validate.js';

/**
 * Unary energies from probabilities, as pydensecrf's `unary_from_softmax`: U = −log(clip(p, clip, 1)).
 * Element-wise, so the result has the layout of `probs` (labels-major or NHWC).
 *
 * @param probs probabilities (they need not sum to 1 per pixel; NaN is an error).
 * @param options.clip lower clip before the logarithm, in (0, 1]; default 1e-5 (pydensecrf's default).
 */
export function unaryFromProbabilities(probs: Float32Array, options: { clip?: number } = {}): Float32Array {
  assertArray('probs', probs, [Float32Array], (probs as Float32Array | undefined)?.length ?? 0, 'any');
  const clip = options.clip ?? 1e-5;
  if (typeof clip !== 'number' || !(clip > 0 && clip <= 1)) {
    throw new RangeError(`clip must be a number in (0, 1], got ${String(clip)}`);
  }
  const out = new Float32Array(probs.length);
  const atClip = 0 - Math.log(clip); // (0 − x: +0 at clip 1) most entries of a label-cleaned map are clipped: no logarithm for those
  for (let k = 0; k < probs.length; k++) {
    const p = probs[k]!;
    if (p <= clip) out[k] = atClip;
    else if (p < 1) out[k] = -Math.log(p);
    else if (Number.isNaN(p)) throw new RangeError(`probs[${k}] must be a number, got NaN`);
    else out[k] = 0;
  }
  return out;
}
