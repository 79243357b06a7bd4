// Shared opening of the seed harnesses: RUN (a FickleNet run folder or classifier checkpoint) and DATA (its VOC-layout
// data) from the environment, the wasm backend on 2 threads, the classifier and the training split.
import { setBackend } from '@wsss/core';
import { VocDataset } from '@wsss/datasets';
import { classifierOf, openClassifierCheckpoint } from '../../packages/cli/src/commands/localize.js';

export const env = (k: string, d: string) => process.env[k] ?? d;

export async function openFickleRun() {
  const c = await openClassifierCheckpoint(env('RUN', ''), []);
  await setBackend('wasm', { wasmThreads: 2 });
  const train = await VocDataset.open({ root: env('DATA', ''), split: 'train' });
  return { c, f: c.config.ficklenet, train, net: classifierOf(c), K: c.classNames.length - 1 };
}
