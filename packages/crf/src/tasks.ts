import type { ActiveLabels } from './denseCrf2d.js';
import type { Layout } from './layout.js';
import type { CrfImage, CrfResult, CrfSettings } from './recipes.js';
import { dsrgCrf, runCrf, wsFcnCrf } from './recipes.js';

/**
 * One image's CRF job, as plain data (structured-clonable, so it can cross to a worker thread):
 * - `'ws-fcn'`: {@link wsFcnCrf} (spec §4.9);
 * - `'dsrg'`: {@link dsrgCrf} (spec §6.3);
 * - `'custom'`: given unary energies and settings.
 * Probability/energy arrays are NHWC unless `layout` says otherwise; results come back in the same layout.
 */
export type CrfTask =
  | {
      recipe: 'ws-fcn';
      image: CrfImage;
      fgProbs: Float32Array;
      presentClasses?: readonly number[];
      layout?: Layout;
      iterations?: number;
    }
  | {
      recipe: 'dsrg';
      image: CrfImage;
      probs: Float32Array;
      presentClasses?: readonly number[];
      layout?: Layout;
      iterations?: number;
    }
  | {
      recipe: 'custom';
      image: CrfImage;
      unary: Float32Array;
      nLabels: number;
      settings: CrfSettings;
      activeLabels?: ActiveLabels;
      layout?: Layout;
    };

/** Runs one {@link CrfTask} on the calling thread. */
export function runCrfTask(task: CrfTask): CrfResult {
  if (typeof task !== 'object' || task === null)
    throw new TypeError(`task must be an object, got ${String(task)}`);
  switch (task.recipe) {
    case 'ws-fcn':
      return wsFcnCrf(task.image, task.fgProbs, task.presentClasses, {
        ...(task.layout ? { layout: task.layout } : {}),
        ...(task.iterations !== undefined ? { iterations: task.iterations } : {}),
      });
    case 'dsrg':
      return dsrgCrf(task.image, task.probs, {
        ...(task.layout ? { layout: task.layout } : {}),
        ...(task.iterations !== undefined ? { iterations: task.iterations } : {}),
        ...(task.presentClasses ? { presentClasses: task.presentClasses } : {}),
      });
    case 'custom':
      return runCrf(
        task.image,
        task.unary,
        task.nLabels,
        task.settings,
        task.activeLabels ?? 'auto',
        task.layout ?? 'nhwc',
      );
    default:
      throw new RangeError(
        `task.recipe must be 'ws-fcn', 'dsrg' or 'custom', got ${String((task as { recipe?: unknown }).recipe)}`,
      );
  }
}
