/**
 * What `wsss train` says when a training step runs out of memory: which changes would make the step fit, found by
 * trial steps in child processes (`wsss bench --train-only`, as `wsss bench --find-batch` runs them), the first
 * that fits ending the search. In order: micro-batches of 1 (`--accumulate <batch>`: the same update, spec-exact
 * where BatchNorm statistics are frozen), then every backbone stage, FCA and SF2 recomputed (`--recompute all`),
 * then smaller crops. Each trial runs two micro-batches, so the gradient accumulator is counted.
 */
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WsssConfig } from '../config/schema.js';
import type { Output } from '../run/output.js';
import { type BatchTrial, childTrial } from './findBatch.js';

/** A training step that did not fit, with what the trials found. */
export class OutOfMemoryError extends Error {
  constructor(
    message: string,
    /** Sentences naming what fits (or that nothing tried does). */
    readonly advice: string,
  ) {
    super(message);
    this.name = 'OutOfMemoryError';
  }
}

interface Candidate {
  accumulate: number;
  recompute: number[];
  /** FCA and SF2 recompute too (`train.recomputeModules`). */
  modules: boolean;
  crop: number;
}

const ALL_STAGES = [2, 3, 4, 5, 6, 7];

/** The changes to try, least intrusive first; none repeats the configuration that failed. */
export function fitCandidates(c: WsssConfig): Candidate[] {
  const b = c.train.batchSize;
  const crop = c.data.crop;
  const out: Candidate[] = [];
  const { recompute, recomputeModules: modules } = c.train;
  if (c.train.accumulate < b) out.push({ accumulate: b, recompute, modules, crop });
  const everything = { recompute: ALL_STAGES, modules: true };
  if (recompute.length < ALL_STAGES.length || !modules) out.push({ accumulate: b, ...everything, crop });
  for (const f of [0.75, 0.5]) {
    // crops of 8k + 1 pixels, as the reference's 321 (the output-stride-8 grid lands on both borders)
    const smaller = Math.max(33, Math.round((crop * f - 1) / 8) * 8 + 1);
    if (smaller < crop && !out.some((o) => o.crop === smaller))
      out.push({ accumulate: b, ...everything, crop: smaller });
  }
  return out;
}

/** `--recompute`'s value for a candidate: all | none | 5,6,7[,modules]. */
function recomputeArg(k: Candidate): string {
  if (k.recompute.length === ALL_STAGES.length && k.modules) return 'all';
  const list = [...k.recompute.map(String), ...(k.modules ? ['modules'] : [])];
  return list.length ? list.join(',') : 'none';
}

/** The command-line options of a candidate, relative to the configuration that failed. */
export function candidateOptions(c: WsssConfig, k: Candidate): string {
  const parts: string[] = [];
  if (k.accumulate !== c.train.accumulate) parts.push(`--accumulate ${k.accumulate}`);
  if (k.recompute.join() !== c.train.recompute.join() || k.modules !== c.train.recomputeModules)
    parts.push(`--recompute ${recomputeArg(k)}`);
  if (k.crop !== c.data.crop) parts.push(`--crop ${k.crop}`);
  return parts.join(' ');
}

/**
 * Runs the trials for `config` (the process's own heap is spent; children start clean) and returns the advice.
 * `trial` is the child-process trial of `wsss bench` (replaceable in tests).
 */
export async function fitAdvice(
  config: WsssConfig,
  out: Output,
  o: {
    /** The failed run's folder was named (--out): the re-run needs --overwrite to replace it. */
    namedRunDir?: boolean;
    trial?: (args: string[], batch: number) => Promise<BatchTrial>;
  } = {},
): Promise<string> {
  const trial = o.trial ?? ((args: string[], batch: number) => childTrial(args)(batch));
  const candidates = fitCandidates(config);
  if (!candidates.length) return '';
  const file = join(tmpdir(), `wsss-fit-${process.pid}-${Date.now()}.json`);
  await writeFile(file, JSON.stringify(config));
  const b = config.train.batchSize;
  const tried: string[] = [];
  try {
    for (const k of candidates) {
      const micro = Math.max(1, Math.floor(b / k.accumulate));
      const opts = candidateOptions(config, k);
      out.info(
        `checking whether ${opts} fits (a trial step of two micro-batches of ${micro} in a child process)…`,
      );
      const batch = Math.min(b, 2 * micro);
      const microBatches = Math.max(1, Math.floor(batch / micro));
      const t = await trial(
        [
          '-c',
          file,
          '--size',
          String(k.crop),
          '--accumulate',
          String(microBatches),
          '--recompute',
          recomputeArg(k),
        ],
        batch,
      );
      if (t.fits) {
        const heap = t.memory?.wasmHeapBytes;
        const per = t.ms! / microBatches / 1000;
        return ` It fits with ${opts} (micro-batches of ${micro} at ${k.crop}×${k.crop}: wasm heap ${heap != null ? `${(heap / 2 ** 20).toFixed(0)} MiB` : '–'}, ${per.toFixed(1)} s per micro-batch, found by a trial step)${tried.length ? `; ${tried.join('; ')} did not` : ''}. Run the same command with ${opts}${o.namedRunDir ? ' --overwrite (its run folder holds no checkpoint yet)' : ''}.`;
      }
      tried.push(opts);
    }
    return ` None of ${tried.join('; ')} fits either (trial steps): a GPU backend (--backend webgpu) or a smaller model is needed.`;
  } finally {
    await rm(file, { force: true });
  }
}
