import { Rng } from '../synthetic/rng.js';

/**
 * Splits images with image-level labels into training and validation parts, stratified so that rare classes are
 * seen on both sides. The validation part has `min(n − 1, max(1, round(fraction · n)))` images. Classes are
 * visited from the rarest (fewest images; ties by class index): each class that occurs in at least two images
 * and has no validation image yet gets one, drawn at random among its images whose move keeps a training image
 * for every class of two or more images. The remaining validation places are drawn at random among the images
 * whose move keeps that guarantee too, and only when none is left, among the rest. So every class of two or more
 * images ends up on both sides whenever the validation size and the label overlaps allow it; a class of one
 * image lands on either side. The result depends only on the labels, `fraction` and `seed`.
 * @param labels - per image, its class indices (any integers; repeats are ignored; an empty list is a
 *   background-only image).
 * @param fraction - the validation fraction, strictly between 0 and 1.
 * @param seed - seed of the {@link Rng} that draws the images.
 * @returns the image indices of each part, ascending; together they are `0..n−1`, each once.
 * @throws RangeError for fewer than two images or a fraction outside (0, 1).
 */
export function stratifiedSplit(
  labels: readonly (readonly number[])[],
  fraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  const n = labels.length;
  if (n < 2) throw new RangeError(`stratifiedSplit: need at least 2 images to split, got n = ${n}`);
  if (!(fraction > 0 && fraction < 1))
    throw new RangeError(`stratifiedSplit: fraction must lie strictly between 0 and 1, got ${fraction}`);
  const nVal = Math.min(n - 1, Math.max(1, Math.round(fraction * n)));
  const rng = new Rng(seed);
  const sets = labels.map((l) => [...new Set(l)]);
  const total = new Map<number, number>();
  const imagesOf = new Map<number, number[]>();
  sets.forEach((s, i) => {
    for (const c of s) {
      total.set(c, (total.get(c) ?? 0) + 1);
      const list = imagesOf.get(c);
      if (list) list.push(i);
      else imagesOf.set(c, [i]);
    }
  });
  const inVal = new Uint8Array(n);
  const valCount = new Map<number, number>();
  let taken = 0;
  // Moving image i to validation keeps a training image for every class of two or more images.
  const harmless = (i: number) =>
    sets[i]!.every((c) => total.get(c)! < 2 || total.get(c)! - (valCount.get(c) ?? 0) > 1);
  const take = (i: number) => {
    inVal[i] = 1;
    taken++;
    for (const c of sets[i]!) valCount.set(c, (valCount.get(c) ?? 0) + 1);
  };
  const classes = [...total.keys()]
    .filter((c) => total.get(c)! >= 2)
    .sort((a, b) => total.get(a)! - total.get(b)! || a - b);
  for (const c of classes) {
    if (taken === nVal) break;
    if (valCount.has(c)) continue;
    const candidates = imagesOf.get(c)!.filter((i) => !inVal[i] && harmless(i));
    if (candidates.length > 0) take(candidates[rng.int(0, candidates.length - 1)]!);
  }
  // The rest at random: a seeded shuffle of the remaining images, harmless moves first.
  const rest: number[] = [];
  for (let i = 0; i < n; i++) if (!inVal[i]) rest.push(i);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  const deferred: number[] = [];
  for (const i of rest) {
    if (taken === nVal) break;
    if (harmless(i)) take(i);
    else deferred.push(i);
  }
  for (const i of deferred) {
    if (taken === nVal) break;
    take(i);
  }
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < n; i++) (inVal[i] ? val : train).push(i);
  return { train, val };
}
