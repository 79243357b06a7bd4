/**
 * Gradient registration. tfjs-core alone registers no gradients: the `@tensorflow/tfjs` package does, and so
 * does tfjs-core's own `dist/register_all_gradients` module — which bundlers (and vitest) load, but Node's ESM
 * loader cannot (extensionless imports inside). The registry is global, so whichever copy registers them serves
 * every op.
 */
import * as tf from '@tensorflow/tfjs-core';

let ready = false;

/**
 * Makes sure tfjs's gradients are registered (training needs them). Uses whatever is registered already; else
 * loads tfjs-core's registration (in bundlers) or `@tensorflow/tfjs` (in Node).
 * @throws an error saying what to install when neither can be loaded.
 */
export async function ensureGradients(): Promise<void> {
  if (ready || tf.getGradient('Sum')) {
    ready = true;
    return;
  }
  const errors: string[] = [];
  try {
    // A literal specifier, so bundlers include it; in Node it fails and the next option is tried.
    await import('@tensorflow/tfjs-core/dist/register_all_gradients');
  } catch (e) {
    errors.push(`tfjs-core's register_all_gradients: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!tf.getGradient('Sum')) {
    try {
      const umbrella = '@tensorflow/tfjs';
      await import(/* @vite-ignore */ /* webpackIgnore: true */ umbrella);
    } catch (e) {
      errors.push(`@tensorflow/tfjs: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (!tf.getGradient('Sum')) {
    throw new Error(
      `tfjs gradients are not registered and could not be loaded (${errors.join('; ')}). Training needs them: ` +
        "in Node, npm install @tensorflow/tfjs (same version as tfjs-core) or import it before training; in a bundle, import '@tensorflow/tfjs' or '@tensorflow/tfjs-core/dist/register_all_gradients'.",
    );
  }
  ready = true;
}
