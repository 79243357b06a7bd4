/**
 * `wsss train --method ficklenet`: the FickleNet + DSRG pipeline in one run folder (spec §5–§6).
 *
 * 1. Classifier: WRN-38 → FickleNet selection, multi-label soft-margin loss, a fresh random selection per step
 *    (spec §5.2) on the training crops until its epoch-mean loss stops falling (`ficklenet.classifierPatience`,
 *    `classifierMinDelta`) or reaches a level (`classifierTargetLoss`; at least `classifierMinEpochs`, at most
 *    `classifierEpochs` epochs; the learning rate constant, or falling along a cosine over the last
 *    `classifierDecayEpochs`) → `checkpoints/classifier.safetensors`.
 * 2. Localization: every training image resized to `ficklenet.size`², maps aggregated over `ficklenet.runs` random
 *    selections, seeds (spec §5.3) → `localization/seeds/<id>.png`, `localization/maps/<id>.png`,
 *    `localization/summary.json` (precision/recall against ground truth where the data has masks).
 * 3. DSRG: WRN-38 → DeepLab-v2 head on the images resized to `size`² and mirrored at random with their seeds
 *    (spec §6.2), seeded region growing on the CRF of the prediction, seed + boundary losses (spec §6.3), for
 *    `ficklenet.dsrgEpochs` epochs → `checkpoints/last.safetensors`. Its backbone starts from the ImageNet weights
 *    when `model.weights` is given (as DSRG's DeepLab does), otherwise from the trained classifier's backbone.
 * 4. Evaluation on the validation split at each image's own size (mIoU), `report.html`.
 *
 * Every stage writes its checkpoint after each epoch, every `train.checkpointEvery` inside epochs and on Ctrl-C
 * (with the data position); localization writes each image's seeds as it goes. `--resume` skips the finished
 * stages, localizes only the images without seeds, and continues the unfinished training stage exactly.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { wrn38OutputSize } from '@wsss/backbone-wrn38';
import {
  applyModel,
  ConfusionMatrix,
  randomState,
  seedRandom,
  setRandomState,
  withoutInitialization,
} from '@wsss/core';
import { syncFolder, tempPathFor, writeFileAtomic } from '@wsss/core/node';
import { argmaxLabels, DenseCRF2D, unaryFromProbabilities } from '@wsss/crf';
import {
  type Batch,
  type BatchTensors,
  DataLoader,
  flipHorizontal,
  type IndexMask,
  type RandomAccessDataset,
  readIndexPng,
  type SampleTransform,
} from '@wsss/datasets';
import { buildSeededWith, loadBackboneWeights, readCheckpoint, startBackend } from '../commands/common.js';
import { dataNotes, openTrainingData, runDataInfo, type TrainingData } from '../commands/data.js';
import { DivergedError, InputError } from '../commands/errors.js';
import { parseInterval, type WsssConfig } from '../config/schema.js';
import {
  applyCheckpointWeights,
  type Checkpoint,
  type CheckpointState,
  CheckpointWriter,
  checkpointOptimizerState,
} from '../run/checkpoint.js';
import { metricsOf, resizeTransform, type SegMetrics } from '../run/evaluate.js';
import type { Output } from '../run/output.js';
import { pct, type ReportSample, renderReport } from '../run/report.js';
import { MetricsLog, readMetrics, readRunConfig, writeRunConfig } from '../run/runDir.js';
import { type RunFolder, type RunFolderMode, withRunFolder } from '../run/runFolder.js';
import { type EpochStats, runEpochs, type StepNumbers } from '../train/epochs.js';
import {
  cosineTailLr,
  LabelCounts,
  type PlateauRule,
  plateau,
  TARGET_WINDOW,
  targetReached,
} from '../train/plateau.js';
import { buildClassifier, buildDsrgNet, localizeSettings } from './build.js';
import { seedGrid, squareInput } from './localizeSet.js';
import {
  type LocalizeSplitSummary,
  localizeSplit,
  SEEDS_DIR,
  SUMMARY_FILE,
  withSeedMasks,
} from './localizeSplit.js';
import { copyBackbone, type DsrgNet, type TrainableNet } from './model.js';
import { seedSection } from './seedReport.js';
import { DsrgTrainer, FickleClassifierTrainer } from './steps.js';

export const CLASSIFIER_CHECKPOINT = 'classifier.safetensors';
export const DSRG_CHECKPOINT = 'last.safetensors';
/** The run folder's localization output: seeds/, maps/, summary.json. */
export const LOCALIZATION_DIR = 'localization';

/**
 * DSRG's test-time CRF (spec §6.3 step 6, scale factor 1): unary −log(clip(P, 1e-5)), bilateral θα 80, θβ 13, w 10;
 * Gaussian θγ 3, w 3; 10 iterations.
 */
export const DSRG_TEST_CRF = {
  clip: 1e-5,
  iterations: 10,
  gaussian: { sxy: 3, compat: 3 },
  bilateral: { sxy: 80, srgb: 13, compat: 10 },
} as const;

/**
 * Predicted class map (H·W) of one image from the DSRG network: resize to `size`², logits bilinearly to the image's
 * size, softmax, then argmax — or, with `crf`, DSRG's test-time dense CRF on the probabilities (spec §6.3 step 6).
 */
export async function predictDsrg(
  net: DsrgNet,
  image: { width: number; height: number; data: Uint8Array },
  size: number,
  opts: { crf?: boolean; forward?: (x: tf.Tensor4D) => Promise<tf.Tensor4D> } = {},
): Promise<Uint8Array> {
  const input = squareInput(image, size);
  let logits: tf.Tensor4D;
  try {
    logits = opts.forward
      ? await opts.forward(input)
      : tf.tidy(() => applyModel(net.model, input, { training: false }) as tf.Tensor4D);
  } finally {
    input.dispose();
  }
  const probs = tf.tidy(() => tf.softmax(tf.image.resizeBilinear(logits, [image.height, image.width], true)));
  logits.dispose();
  if (!opts.crf) {
    const cls = tf.tidy(() => tf.argMax(probs, -1));
    const data = await cls.data();
    tf.dispose([probs, cls]);
    return Uint8Array.from(data);
  }
  const p = (await probs.data()) as Float32Array;
  const L = probs.shape[3];
  probs.dispose();
  const c = DSRG_TEST_CRF;
  const crf = new DenseCRF2D(image.width, image.height, L);
  crf.setUnaryEnergy(unaryFromProbabilities(p, { clip: c.clip }), { layout: 'nhwc' });
  crf.addPairwiseGaussian(c.gaussian);
  crf.addPairwiseBilateral({ ...c.bilateral, rgbim: image.data });
  const q = crf.inference(c.iterations, { layout: 'nhwc' });
  return Uint8Array.from(argmaxLabels(q, image.width * image.height, L, 'nhwc'));
}

/** mIoU of the DSRG network on a split at each image's own size. */
export async function evaluateDsrg(
  net: DsrgNet,
  ds: RandomAccessDataset,
  size: number,
  out: Output,
  onImage?: (i: number, pred: IndexMask) => void,
  over: 'present' | 'all' = 'present',
): Promise<SegMetrics & { images: number }> {
  const cm = new ConfusionMatrix(ds.numClasses + 1);
  const bar = out.progress('  evaluating', ds.length, 'img');
  let images = 0;
  for (let i = 0; i < ds.length; i++) {
    const rec = await ds.read(i);
    const pred = await predictDsrg(net, rec.image, size);
    if (rec.mask) {
      cm.update(pred, rec.mask.data);
      images++;
    }
    onImage?.(i, { width: rec.image.width, height: rec.image.height, data: pred });
    bar.tick(1);
  }
  const m = metricsOf(cm, over);
  bar.done(`mIoU ${pct(m.miou)}`);
  return { ...m, images };
}

/** Resize to `size`² (image bicubic, mask nearest) and mirror both with probability 0.5 (spec §6.2). */
export function resizeFlipTransform(size: number): SampleTransform {
  const resize = resizeTransform(size);
  return (record, rng) => {
    const s = resize(record, rng);
    if (!rng.chance(0.5)) return s;
    // image and raw are fresh arrays of the transform (flipped in place); the mask may be the record's own
    const mask = s.mask ? flipHorizontal(Uint8Array.from(s.mask), size, size, 1) : undefined;
    return {
      size,
      image: flipHorizontal(s.image, size, size, 3),
      raw: flipHorizontal(s.raw, size, size, 3),
      ...(mask ? { mask } : {}),
    };
  };
}

/** Seed labels of a batch (its masks, the seeds at `size`²) on the score map: (N·g·g), 255 unlabelled. */
function batchSeedGrid(b: Batch, grid: number): Uint8Array {
  const S = b.size;
  if (!b.masks) throw new Error('DSRG batch without seeds');
  const out = new Uint8Array(b.ids.length * grid * grid);
  for (let k = 0; k < b.ids.length; k++)
    out.set(seedGrid(b.masks.subarray(k * S * S, (k + 1) * S * S), S, grid), k * grid * grid);
  return out;
}

function labelLists(b: Batch): number[][] {
  const n = b.ids.length;
  const K = b.labels.length / n;
  return Array.from({ length: n }, (_, i) => {
    const l: number[] = [];
    for (let c = 0; c < K; c++) if (b.labels[i * K + c]! > 0.5) l.push(c + 1);
    return l;
  });
}

interface StageContext {
  config: WsssConfig;
  runDir: string;
  out: Output;
  log: MetricsLog;
  classNames: string[];
  signal?: AbortSignal;
  /** Global step count (continues across stages). */
  step: number;
  /** Steps left before a stop (`stopAfterSteps`), or Infinity; shared by the stages. */
  budget: { left: number };
  /** Stop (with a checkpoint) after the first step ending at or after this time (`Date.now()` ms). */
  deadline?: number;
  /** Writes the stages' checkpoints (in the background, one at a time). */
  writer: CheckpointWriter;
}

interface StageSpec {
  stage: 'classifier' | 'dsrg';
  net: TrainableNet;
  file: string;
  epochs: number;
  loader: (start: CheckpointState['position']) => DataLoader;
  trainer: {
    optimizer: FickleClassifierTrainer['optimizer'];
    dispose(): void;
  };
  /** One step on a batch and its tensors (disposed after the step): returns at least `loss`. */
  step: (b: Batch, t: BatchTensors) => Promise<Record<string, number>>;
  /** Learning rate at a stage-local step (schedules), given the loader's batches per epoch. */
  lrAt?: (stageStep: number, batchesPerEpoch: number) => number;
  /**
   * Stop before `epochs` once the epoch-mean loss has stopped falling (the classifier: "until it fits"); with
   * `countLabels`, not while the loss is still at the level of predicting class frequencies.
   */
  until?: StopRule;
  /**
   * Count the batches' labels (this many classes) and put each epoch's prior loss ({@link LabelCounts}) in its
   * record as `priorLoss`, for `until`.
   */
  countLabels?: number;
  resume?: Checkpoint;
}

/**
 * Trains one stage: epochs, checkpoints after each epoch and on interrupt, NaN guard, exact resume. Disposes the
 * stage's trainer when it returns.
 */
async function runStage(ctx: StageContext, s: StageSpec): Promise<'done' | 'stopped'> {
  try {
    return await stageLoop(ctx, s);
  } finally {
    s.trainer.dispose();
  }
}

/**
 * The stage's stop rules (the classifier: "until it fits"): the plateau rule (`patience` epochs without progress) and,
 * with `targetLoss` above 0, the loss target ({@link targetReached}); either ends the stage.
 */
interface StopRule extends PlateauRule {
  targetLoss?: number;
  /** Neither rule stops the stage before this many epochs. */
  minEpochs?: number;
}

/** Whether a stage with `rule` stops after the epochs whose losses are `losses`, and which rule decided. */
function stopVerdict(losses: readonly number[], rule: StopRule, priors: readonly number[]) {
  const v = plateau(losses, rule, priors);
  const t = targetReached(losses, rule.targetLoss ?? 0, v.fit);
  const tooEarly = losses.length < (rule.minEpochs ?? 0);
  return {
    ...v,
    stop: !tooEarly && (v.stop || t.stop),
    byTarget: t.stop && !v.stop,
    recent: t.recent,
    reachedEpoch: t.reachedEpoch,
    reachedLoss: t.reachedLoss,
  };
}

async function stageLoop(ctx: StageContext, s: StageSpec): Promise<'done' | 'stopped'> {
  const { config, out, log } = ctx;
  const c = config.train;
  let position = { epoch: 0, index: 0 };
  let stageStep = 0;
  let startStats: EpochStats | undefined;
  // epoch-mean losses of the completed epochs: the plateau rule's input, carried in every checkpoint of the stage
  let epochLosses: number[] = [];
  // and their mean prior losses (the level of predicting class frequencies), where the step reports one
  let epochPriors: number[] = [];
  let notFitSaid = false;
  let counts = s.countLabels !== undefined ? new LabelCounts(s.countLabels) : null;
  seedRandom(c.seed + (s.stage === 'dsrg' ? 1 : 0));
  if (s.resume) {
    const st = s.resume.state;
    s.trainer.optimizer.setState(checkpointOptimizerState(s.net, s.resume));
    setRandomState(st.random);
    position = st.position;
    stageStep = st.optimizerStep;
    startStats = st.epochStats;
    epochLosses = [...(st.epochLosses ?? [])];
    // a checkpoint without priors (an older run): its epochs count as fitted, as they did then
    epochPriors = st.epochPriorLosses
      ? st.epochPriorLosses.map((v) => (typeof v === 'number' ? v : Number.NaN))
      : epochLosses.map(() => Number.NaN);
    // the labels of the epoch in progress, counted before the interruption
    if (counts && st.labelCounts && position.index > 0)
      counts = new LabelCounts(counts.numClasses, st.labelCounts);
    out.info(`${s.stage}: resuming at epoch ${position.epoch}, sample ${position.index}`);
  }
  const save = (at: CheckpointState['position'], reason: string, epochStats?: EpochStats) =>
    ctx.writer.save(
      s.file,
      s.net,
      () => s.trainer.optimizer.getState(),
      {
        epoch: at.epoch,
        step: ctx.step,
        position: at,
        random: randomState(),
        optimizerStep: s.trainer.optimizer.iterations,
        best: null,
        reason,
        ...(epochStats ? { epochStats } : {}),
        epochLosses: [...epochLosses],
        ...(epochPriors.length ? { epochPriorLosses: [...epochPriors] } : {}),
        ...(counts ? { labelCounts: counts.state() } : {}),
        config,
        classNames: ctx.classNames,
        savedAt: new Date().toISOString(),
        stage: s.stage,
      },
      // the last checkpoint of a stage is on disk before the next stage starts; Ctrl-C and stops end the process
      { wait: reason !== 'epoch' && reason !== 'interval' },
    );
  if (position.epoch >= s.epochs) return 'done';
  // a run killed after the checkpoint of the epoch that met the rule: the same verdict, from the same losses
  if (s.until && position.index === 0 && stopVerdict(epochLosses, s.until, epochPriors).stop) return 'done';
  const loader = s.loader(position);
  const r = await runEpochs({
    out,
    log,
    loader,
    start: position,
    ...(startStats ? { startStats } : {}),
    epochs: s.epochs,
    batchSize: c.batchSize,
    label: (e) => `${s.stage} epoch ${e + 1}/${s.epochs}`,
    tag: { stage: s.stage },
    step: async (b, t) => {
      // a scheduled learning rate goes into the step's record (metrics.jsonl) with the losses
      const lr = s.lrAt?.(stageStep, loader.batchesPerEpoch);
      if (lr !== undefined) s.trainer.optimizer.lr = lr;
      const r = await s.step(b, t);
      counts?.add(b.labels, b.ids.length);
      stageStep++;
      return (lr === undefined ? r : { ...r, lr }) as StepNumbers;
    },
    countStep: () => ++ctx.step,
    ...(counts
      ? {
          epochFields: () => {
            const priorLoss = counts!.priorLoss();
            counts = new LabelCounts(counts!.numClasses);
            return { priorLoss };
          },
        }
      : {}),
    diverged: (loss, at, b) =>
      new DivergedError(
        `${s.stage} training diverged: the loss is ${loss} at step ${at} (epoch ${b.epoch}); the last good checkpoint ${s.file} is kept. Try a lower learning rate.`,
      ),
    epochEnd: async (done, at, step, means) => {
      epochLosses.push(means['loss'] ?? Number.NaN);
      if (means['priorLoss'] !== undefined) epochPriors.push(means['priorLoss']);
      const verdict = s.until ? stopVerdict(epochLosses, s.until, epochPriors) : null;
      const stop = !!verdict?.stop && done < s.epochs;
      if (s.until && verdict && !verdict.fit && !notFitSaid && done < s.epochs) {
        // a rule that would stop a fitted classifier here: say once why this one trains on
        const flat = plateau(epochLosses, s.until).stop;
        const atTarget = !flat && targetReached(epochLosses, s.until.targetLoss ?? 0, true).stop;
        if (flat || atTarget) {
          notFitSaid = true;
          const why = flat
            ? `the loss (${verdict.best.toFixed(4)}) has stopped falling`
            : `the mean loss of the last ${TARGET_WINDOW} epochs (${verdict.recent.toFixed(4)}) has reached the target ${s.until.targetLoss}`;
          out.info(
            `${s.stage}: ${why} but is not ${(s.until.minDelta * 100).toFixed(1)} % below the loss of predicting each class's frequency (${(epochPriors[verdict.bestEpoch] ?? Number.NaN).toFixed(4)}): it has not learned the classes yet, so it trains on (at most ${s.epochs} epochs)`,
          );
        }
      }
      await save(at, done >= s.epochs || stop ? 'final' : 'epoch');
      if (!stop || !verdict || !s.until) return;
      if (verdict.byTarget) {
        const reached = {
          type: 'early-stop',
          stage: s.stage,
          step,
          epoch: done,
          maxEpochs: s.epochs,
          rule: 'target',
          targetLoss: s.until.targetLoss,
          recentLoss: verdict.recent,
          window: TARGET_WINDOW,
          ...(s.until.minEpochs ? { minEpochs: s.until.minEpochs } : {}),
          reachedEpoch: verdict.reachedEpoch,
          reachedLoss: verdict.reachedLoss,
        };
        log.append(reached);
        out.event('early-stop', reached);
        out.info(
          verdict.reachedEpoch < done
            ? `${s.stage}: stopping after epoch ${done} of at most ${s.epochs}, its minimum: the mean loss of ${TARGET_WINDOW} epochs reached the target ${s.until.targetLoss} at epoch ${verdict.reachedEpoch} (${verdict.reachedLoss.toFixed(4)})`
            : `${s.stage}: stopping after epoch ${done} of at most ${s.epochs}: the mean loss of the last ${TARGET_WINDOW} epochs (${verdict.recent.toFixed(4)}) is at most the target ${s.until.targetLoss}`,
        );
        return 'stop';
      }
      const why = {
        type: 'early-stop',
        stage: s.stage,
        step,
        epoch: done,
        maxEpochs: s.epochs,
        bestEpoch: verdict.bestEpoch + 1,
        bestLoss: verdict.best,
        ...(epochPriors[verdict.bestEpoch] !== undefined
          ? { priorLoss: epochPriors[verdict.bestEpoch] }
          : {}),
        patience: s.until.patience,
        minDelta: s.until.minDelta,
      };
      log.append(why);
      out.event('early-stop', why);
      out.info(
        `${s.stage}: stopping after epoch ${done} of at most ${s.epochs}: the training loss has not fallen by ${(s.until.minDelta * 100).toFixed(1)} % below its best (${verdict.best.toFixed(4)}, epoch ${verdict.bestEpoch + 1}) for ${s.until.patience} epochs`,
      );
      return 'stop';
    },
    save: (at, reason, stats) => save(at, reason, stats),
    checkpointEvery: parseInterval(c.checkpointEvery),
    interruptedMessage: (at) =>
      `interrupted at step ${at}; checkpoint written to ${s.file}. Continue with: wsss train --resume ${ctx.runDir}`,
    signal: ctx.signal,
    budget: ctx.budget,
    ...(ctx.deadline !== undefined ? { deadline: ctx.deadline } : {}),
  });
  return r.status;
}

export interface FickleTrainOptions {
  config: WsssConfig;
  preset: string;
  out: Output;
  runDir: string;
  /** Continue the run in `runDir` (its checkpoints and seeds). */
  resume?: boolean;
  /**
   * Start the run folder `runDir` from another run's classifier (a fork): `classifier` is that run's classifier
   * checkpoint, `run` its folder. The checkpoint and the classifier's records are copied; the classifier continues if
   * this config asks for more of it, then localization and DSRG run with this config. The source run is only read.
   * A new fork takes a new (or empty) folder; with `resume`, a fork interrupted before its copy was whole copies again.
   */
  fork?: { run: string; classifier: string };
  /** Replace the run `runDir` holds (moved aside when training starts, deleted after the first checkpoint). */
  overwrite?: boolean;
  signal?: AbortSignal;
  /** Stop (with a checkpoint) after this many steps in this call (`--stop-after <n>steps`). */
  stopAfterSteps?: number;
  /** Stop (with a checkpoint) after the first step ending at or after this time, `Date.now()` ms. */
  deadline?: number;
  report?: boolean;
  argv?: string[];
}

export interface FickleTrainResult {
  status: 'done' | 'stopped';
  runDir: string;
  backend: string;
  steps: number;
  classNames: string[];
  config: WsssConfig;
  seeds: LocalizeSplitSummary | null;
  evaluation: (SegMetrics & { images: number }) | null;
  report?: string;
}

async function readIf(
  file: string,
  stage: 'classifier' | 'dsrg',
  resume: boolean,
): Promise<Checkpoint | undefined> {
  if (!resume || !existsSync(file)) return undefined;
  const ck = await readCheckpoint(file);
  if (ck.state.stage !== stage)
    throw new InputError(
      `${file}: expected a ${stage} checkpoint, found stage '${ck.state.stage ?? 'wsfcn'}'`,
    );
  return ck;
}

/**
 * The first files of a fork: the source run's classifier records up to its checkpoint (no seeds, evaluation or DSRG
 * records: the fork makes its own) and a copy of the checkpoint, each written atomically.
 */
async function startFork(
  fork: { run: string; classifier: string },
  runDir: string,
  file: string,
  step: number,
): Promise<void> {
  const records = (await readMetrics(join(fork.run, 'metrics.jsonl'))).filter(
    (r) =>
      r['stage'] !== 'dsrg' &&
      r['type'] !== 'seeds' &&
      r['type'] !== 'eval' &&
      (typeof r['step'] !== 'number' || r['step'] <= step),
  );
  await writeFileAtomic(join(runDir, 'metrics.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  // the checkpoint last, flushed before its rename: a fork killed before it is whole has no classifier checkpoint,
  // and its --resume copies again (see runFickleNetTrain's callers), never trains the classifier from scratch
  const tmp = tempPathFor(file);
  try {
    await fsp.copyFile(fork.classifier, tmp);
    const h = await fsp.open(tmp, 'r+');
    await h.sync().finally(() => h.close());
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await syncFolder(dirname(file));
}

/** Runs the pipeline (see the module comment) in its run folder, locked while it runs. */
export async function runFickleNetTrain(o: FickleTrainOptions): Promise<FickleTrainResult> {
  const mode: RunFolderMode = o.resume ? 'resume' : o.overwrite ? 'overwrite' : 'new';
  return withRunFolder({ dir: o.runDir, mode, command: o.argv ?? [], out: o.out }, (folder) =>
    fickleIn(folder, { ...o, runDir: folder.dir }),
  );
}

async function fickleIn(folder: RunFolder, o: FickleTrainOptions): Promise<FickleTrainResult> {
  const { config, out, runDir } = o;
  const backend = await startBackend(config.backend, config.threads, out);
  const ckptDir = join(runDir, 'checkpoints');
  const files = { classifier: join(ckptDir, CLASSIFIER_CHECKPOINT), dsrg: join(ckptDir, DSRG_CHECKPOINT) };
  const resumeA = o.fork
    ? await readIf(o.fork.classifier, 'classifier', true)
    : await readIf(files.classifier, 'classifier', !!o.resume);
  if (o.fork && !resumeA)
    throw new InputError(`${o.fork.classifier}: no classifier checkpoint to start the fork from`);
  const resumeC = o.fork ? undefined : await readIf(files.dsrg, 'dsrg', !!o.resume);
  const given = (resumeC ?? resumeA)?.state.classNames;
  const data = await openTrainingData({ config, runDir, out, ...(given ? { classNames: given } : {}) });
  const { train, val, classNames } = data;
  const K = train.numClasses;
  // everything that can refuse the run has passed: from here on the run folder is written
  await fsp.mkdir(ckptDir, { recursive: true });
  if (!o.resume)
    await writeRunConfig(runDir, config, {
      preset: o.preset,
      command: o.argv ?? [],
      createdAt: new Date().toISOString(),
      classNames,
      data: runDataInfo(data),
      ...(o.fork
        ? { forkedFrom: { run: o.fork.run, checkpoint: o.fork.classifier, step: resumeA!.state.step } }
        : {}),
    });
  if (o.fork) await startFork(o.fork, runDir, files.classifier, resumeA!.state.step);
  const log = new MetricsLog(join(runDir, 'metrics.jsonl'));
  const writer = new CheckpointWriter(() => folder.checkpointWritten());
  const ctx: StageContext = {
    config,
    runDir,
    out,
    log,
    classNames,
    ...(o.signal ? { signal: o.signal } : {}),
    step: 0,
    budget: { left: o.stopAfterSteps ?? Number.POSITIVE_INFINITY },
    ...(o.deadline !== undefined ? { deadline: o.deadline } : {}),
    writer,
  };
  try {
    // a fork continues from the copied classifier as a resumed run does
    const r = await stages(o.fork ? { ...o, resume: true } : o, ctx, {
      data,
      val,
      K,
      files,
      resumeA,
      resumeC,
      backend,
    });
    await writer.settle(); // a failed background write fails the run
    return r;
  } finally {
    await writer.close().catch(() => {});
  }
}

async function stages(
  o: FickleTrainOptions,
  ctx: StageContext,
  d: {
    data: TrainingData;
    val: RandomAccessDataset | null;
    K: number;
    files: { classifier: string; dsrg: string };
    resumeA: Checkpoint | undefined;
    resumeC: Checkpoint | undefined;
    backend: string;
  },
): Promise<FickleTrainResult> {
  const { config, out, runDir } = o;
  const { val, K, files, resumeA, resumeC, backend } = d;
  // the classifier and DSRG train on the view (masks only on pixel-labelled images); seeds are scored on `train`
  const train = d.data.train;
  const view = d.data.trainView;
  const f = config.ficklenet;
  const { log, classNames } = ctx;
  const optim = (lr: number) =>
    config.optim.kind === 'sgd'
      ? { kind: 'sgd' as const, lr, momentum: config.optim.momentum }
      : { kind: 'adam' as const, lr };
  const result: FickleTrainResult = {
    status: 'stopped',
    runDir,
    backend,
    steps: 0,
    classNames,
    config,
    seeds: null,
    evaluation: null,
  };
  const locDir = join(runDir, LOCALIZATION_DIR);
  const summaryFile = join(locDir, SUMMARY_FILE);
  const localized = existsSync(summaryFile);
  if (o.resume) {
    ctx.step = (resumeC ?? resumeA)?.state.step ?? 0;
    // the evaluation runs again at the end, and so does the seeds record when localization did not finish
    await log.truncateAfter(ctx.step, (r) => r['type'] === 'eval' || (!localized && r['type'] === 'seeds'));
  }

  // 1. classifier (spec §5.2); no stop rule ends it before its minimum
  const minEpochs = classifierFloor(f);
  const epochRange = `${minEpochs > 0 ? `at least ${minEpochs}, ` : ''}at most ${f.classifierEpochs} epochs`;
  const classifier = resumeA
    ? withoutInitialization(() => buildClassifier(config, K))
    : buildSeededWith(config.train.seed, () => buildClassifier(config, K));
  if (resumeA) applyCheckpointWeights(classifier, resumeA, files.classifier);
  else if (config.model.weights) await loadBackboneWeights(classifier, config.model.weights, out);
  out.info(
    `FickleNet classifier (${classifier.countParameters().toLocaleString('en')} parameters, s = ${f.kernelSize}, p = ${f.rate}) on ${train.length} ${config.data.dataset} images, ${
      minEpochs >= f.classifierEpochs
        ? `${f.classifierEpochs} epochs`
        : f.classifierTargetLoss > 0
          ? `until the mean loss of its last ${TARGET_WINDOW} epochs is at most ${f.classifierTargetLoss}${f.classifierPatience > 0 ? ' or stops falling' : ''} (${epochRange})`
          : f.classifierPatience > 0
            ? `until its loss stops falling (${epochRange})`
            : `${f.classifierEpochs} epochs`
    }${f.classifierDecayEpochs > 0 ? `, the learning rate decaying to 0 over the last ${Math.min(f.classifierDecayEpochs, f.classifierEpochs)}` : ''} → ${runDir}`,
  );
  const trainerA = new FickleClassifierTrainer(classifier, {
    optimizer: optim(config.optim.lr),
    weightDecay: config.optim.weightDecay,
    lrMults: f.lrMults,
  });
  const dropLast = train.length >= config.train.batchSize;
  let status = await runStage(ctx, {
    stage: 'classifier',
    net: classifier,
    file: files.classifier,
    epochs: f.classifierEpochs,
    until: {
      patience: f.classifierPatience,
      minDelta: f.classifierMinDelta,
      targetLoss: f.classifierTargetLoss,
      minEpochs,
    },
    trainer: trainerA,
    ...(resumeA ? { resume: resumeA } : {}),
    loader: (start) =>
      new DataLoader({
        dataset: view,
        batchSize: config.train.batchSize,
        seed: config.train.seed,
        dropLast,
        transform: {
          size: config.data.crop,
          scale: config.data.scale as [number, number],
          jitter: config.data.jitter ? undefined : null,
        },
        start,
        workers: config.data.workers,
      }),
    // the cosine tail of the learning rate over the last classifierDecayEpochs (0: constant)
    ...(f.classifierDecayEpochs > 0
      ? {
          lrAt: (k: number, perEpoch: number) =>
            cosineTailLr(
              config.optim.lr,
              k,
              f.classifierEpochs * perEpoch,
              f.classifierDecayEpochs * perEpoch,
            ),
        }
      : {}),
    // the stop rule waits until the loss is below what knowing the class frequencies alone gives
    countLabels: K,
    step: (_b, t) => trainerA.step({ images: t.images, labels: t.labels }),
  });
  result.steps = ctx.step;
  if (status === 'stopped') {
    classifier.model.dispose();
    return result;
  }

  // 2. localization seeds (spec §5.3)
  const seedsRoot = join(locDir, SEEDS_DIR);
  if (o.resume && localized) {
    result.seeds = JSON.parse(await fsp.readFile(summaryFile, 'utf8')) as LocalizeSplitSummary;
    out.info(`seeds: using the ${result.seeds.images} seed maps in ${seedsRoot}`);
    // a kill between summary.json and the log's flush: the record is written now
    if (!(await readMetrics(log.file)).some((r) => r['type'] === 'seeds')) {
      log.append({ type: 'seeds', step: ctx.step, ...result.seeds });
      await log.flush();
    }
  } else {
    result.seeds = await localizeSplit({
      net: classifier,
      ds: train,
      split: config.data.trainSplit,
      dir: locDir,
      ...localizeSettings(config),
      out,
      resume: !!o.resume,
      // semi-supervised (spec §5–§6 with pixel labels): a pixel-labelled image's mask is its complete seed map
      trueSeeds: (i) => d.data.plan.indices.has(i),
    });
    log.append({ type: 'seeds', step: ctx.step, ...result.seeds });
    await log.flush();
  }
  if (result.seeds.scores)
    out.info(
      `seeds of ${result.seeds.images} training images: precision ${pct(result.seeds.scores.precision)}, recall ${pct(result.seeds.scores.recall)} (foreground ${pct(result.seeds.scores.fgPrecision)} / ${pct(result.seeds.scores.fgRecall)}), ${pct(result.seeds.coverage)} of pixels seeded`,
    );

  // 3. DSRG (spec §6)
  let dsrg: DsrgNet | null = null;
  if (f.dsrgEpochs > 0) {
    dsrg = resumeC
      ? withoutInitialization(() => buildDsrgNet(config, K))
      : buildSeededWith(config.train.seed + 1, () => buildDsrgNet(config, K));
    if (resumeC) applyCheckpointWeights(dsrg, resumeC, files.dsrg);
    else if (config.model.weights) await loadBackboneWeights(dsrg, config.model.weights, out);
    else copyBackbone(classifier, dsrg);
    classifier.model.dispose();
    out.info(
      `DSRG network (${dsrg.countParameters().toLocaleString('en')} parameters) on ${train.length} images resized to ${f.size}², ${f.dsrgEpochs} epochs`,
    );
    const trainerC = new DsrgTrainer(
      dsrg,
      { optimizer: optim(f.dsrgLr), weightDecay: config.optim.weightDecay, lrMults: f.lrMults },
      { thFg: f.growThFg, thBg: f.growThBg },
    );
    const grid = wrn38OutputSize(f.size, 8);
    const seeded = withSeedMasks(train, seedsRoot);
    status = await runStage(ctx, {
      stage: 'dsrg',
      net: dsrg,
      file: files.dsrg,
      epochs: f.dsrgEpochs,
      trainer: trainerC,
      ...(resumeC ? { resume: resumeC } : {}),
      lrAt: (k) => f.dsrgLr * (f.dsrgLrStep > 0 ? f.dsrgLrGamma ** Math.floor(k / f.dsrgLrStep) : 1),
      loader: (start) =>
        new DataLoader({
          dataset: seeded,
          batchSize: config.train.batchSize,
          seed: config.train.seed + 1,
          dropLast,
          transform: resizeFlipTransform(f.size),
          start,
        }),
      step: (b, t) =>
        trainerC.step({ images: t.images, raw: t.raw, seeds: batchSeedGrid(b, grid), labels: labelLists(b) }),
    });
    result.steps = ctx.step;
    if (status === 'stopped') {
      dsrg.model.dispose();
      return result;
    }
  } else classifier.model.dispose();

  // 4. evaluation and report
  const samples: ReportSample[] = [];
  if (dsrg && val && val.length > 0) {
    const keep = Math.min(6, val.length);
    const preds: IndexMask[] = [];
    result.evaluation = await evaluateDsrg(
      dsrg,
      val,
      f.size,
      out,
      (i, p) => {
        if (i < keep) preds.push(p);
      },
      config.eval.miouOver,
    );
    const ev = { type: 'eval', step: ctx.step, split: config.data.valSplit, ...result.evaluation };
    log.append(ev);
    out.event('eval', ev);
    await log.flush();
    for (let i = 0; i < keep; i++) {
      const rec = await val.read(i);
      samples.push({ id: rec.id, image: rec.image, masks: [rec.mask ?? null, preds[i]!] });
    }
  }
  const trainSamples: ReportSample[] = [];
  for (const rec of await Promise.all(
    Array.from({ length: Math.min(4, train.length) }, (_, i) => train.read(i)),
  )) {
    const seeds = await readIndexPng(join(seedsRoot, `${rec.id}.png`));
    trainSamples.push({ id: rec.id, image: rec.image, masks: [rec.mask ?? null, seeds] });
  }
  dsrg?.model.dispose();
  result.status = 'done';
  if (o.report !== false)
    result.report = await writeFickleReport(
      o,
      result,
      backend,
      samples,
      trainSamples,
      dataNotes(d.data, config),
    );
  return result;
}

/** The classifier's epochs before any stop rule may end it: `classifierMinEpochs`, capped by `classifierEpochs`. */
function classifierFloor(f: WsssConfig['ficklenet']): number {
  return Math.min(f.classifierMinEpochs, f.classifierEpochs);
}

/** How the classifier stage ended, for the report: the early stop's numbers, or every epoch run. */
function classifierNote(config: WsssConfig, metrics: Record<string, unknown>[]): string {
  const f = config.ficklenet;
  const epochs = metrics.filter((m) => m['type'] === 'epoch' && m['stage'] === 'classifier');
  const last = epochs.at(-1)?.['loss'];
  const stop = metrics.find((m) => m['type'] === 'early-stop' && m['stage'] === 'classifier');
  const minEpochs = classifierFloor(f);
  const decay = Math.min(f.classifierDecayEpochs, f.classifierEpochs);
  const lossText = `${
    decay > 0
      ? `, its learning rate falling along a cosine to 0 over the last ${decay} of ${f.classifierEpochs} (ficklenet.classifierDecayEpochs)`
      : ''
  }${typeof last === 'number' ? `, last epoch's loss ${last.toFixed(4)}` : ''}`;
  if (
    stop &&
    stop['rule'] === 'target' &&
    typeof stop['reachedEpoch'] === 'number' &&
    stop['reachedEpoch'] < epochs.length
  )
    return `Classifier: ${epochs.length} of at most ${f.classifierEpochs} epochs${lossText}; the mean loss of ${String(stop['window'])} epochs reached the target ${String(stop['targetLoss'])} (ficklenet.classifierTargetLoss) at epoch ${stop['reachedEpoch']} (${(stop['reachedLoss'] as number).toFixed(4)}), and it trained the minimum of ${String(stop['minEpochs'])} epochs (ficklenet.classifierMinEpochs).`;
  if (stop && stop['rule'] === 'target')
    return `Classifier: ${epochs.length} of at most ${f.classifierEpochs} epochs${lossText}; stopped once the mean loss of its last ${String(stop['window'])} epochs (${(stop['recentLoss'] as number).toFixed(4)}) reached the target ${String(stop['targetLoss'])} (ficklenet.classifierTargetLoss).`;
  if (stop)
    return `Classifier: ${epochs.length} of at most ${f.classifierEpochs} epochs${lossText}; stopped when its loss had not fallen ${pct(f.classifierMinDelta)} below its best (${(stop['bestLoss'] as number).toFixed(4)}, epoch ${String(stop['bestEpoch'])}) for ${f.classifierPatience} epochs.`;
  if ((f.classifierPatience > 0 || f.classifierTargetLoss > 0) && minEpochs >= f.classifierEpochs)
    return `Classifier: ${epochs.length} epochs (ficklenet.classifierEpochs; ficklenet.classifierMinEpochs ${f.classifierMinEpochs} holds it to all of them)${lossText}.`;
  const verdict = plateau(
    epochs.map((m) => m['loss'] as number),
    { patience: f.classifierPatience, minDelta: f.classifierMinDelta },
    epochs.map((m) => (typeof m['priorLoss'] === 'number' ? m['priorLoss'] : Number.NaN)),
  );
  const losses = epochs.map((m) => m['loss'] as number);
  const recent = targetReached(losses, f.classifierTargetLoss, verdict.fit).recent;
  if (f.classifierTargetLoss > 0 && epochs.length && !verdict.fit)
    return `Classifier: all ${epochs.length} epochs allowed (ficklenet.classifierEpochs)${lossText}; its best loss (${verdict.best.toFixed(4)}) never fell ${pct(f.classifierMinDelta)} below the loss of predicting each class's frequency: it has not learned to tell the classes apart. More epochs, more images or pretrained weights (--weights) may help.`;
  if (f.classifierTargetLoss > 0 && epochs.length)
    return Number.isNaN(recent)
      ? `Classifier: all ${epochs.length} epochs allowed (ficklenet.classifierEpochs)${lossText}; too few for the loss target (ficklenet.classifierTargetLoss ${f.classifierTargetLoss} is judged on the mean of ${TARGET_WINDOW} epochs).`
      : `Classifier: all ${epochs.length} epochs allowed (ficklenet.classifierEpochs)${lossText}; the mean loss of its last ${TARGET_WINDOW} epochs (${recent.toFixed(4)}) stayed above the target ${f.classifierTargetLoss} (ficklenet.classifierTargetLoss): it had not fitted, so more epochs may help.`;
  if (f.classifierPatience > 0 && epochs.length && !verdict.fit)
    return `Classifier: all ${epochs.length} epochs allowed (ficklenet.classifierEpochs)${lossText}; its best loss (${verdict.best.toFixed(4)}) never fell ${pct(f.classifierMinDelta)} below the loss of predicting each class's frequency (${(epochs[verdict.bestEpoch]!['priorLoss'] as number).toFixed(4)}): it has not learned to tell the classes apart, and the seeds below come from maps of a classifier that knows little more than which classes are common. More epochs, more images or pretrained weights (--weights) may help.`;
  return f.classifierPatience > 0
    ? `Classifier: all ${epochs.length} epochs allowed (ficklenet.classifierEpochs)${lossText}; its loss was still falling, so more epochs may help.`
    : `Classifier: ${epochs.length} epochs (ficklenet.classifierEpochs; classifierPatience 0)${lossText}.`;
}

async function writeFickleReport(
  o: FickleTrainOptions,
  r: FickleTrainResult,
  backend: string,
  samples: ReportSample[],
  trainSamples: ReportSample[],
  notes: string[],
): Promise<string> {
  const forked = (await readRunConfig(o.runDir).catch(() => null))?.forkedFrom;
  const s = r.seeds;
  const seedHtml = s
    ? seedSection(s, r.classNames, {
        title: `Localization seeds (${s.images} training images)`,
        ...(r.evaluation ? { iou: r.evaluation.iou } : {}),
      })
    : '';
  const metrics = await readMetrics(join(r.runDir, 'metrics.jsonl'));
  const html = await renderReport({
    title: `wsss train — FickleNet + DSRG on ${r.config.data.dataset}`,
    runDir: r.runDir,
    preset: o.preset,
    backend,
    config: r.config,
    classNames: r.classNames,
    metrics,
    ...(r.evaluation
      ? {
          evaluation: {
            metrics: r.evaluation,
            images: r.evaluation.images,
            how: `DSRG network, single scale at ${r.config.ficklenet.size}², argmax over all classes`,
          },
        }
      : {}),
    sections: [seedHtml],
    notes: [
      classifierNote(r.config, metrics),
      ...(forked
        ? [
            `Forked from ${forked.run}: the classifier up to step ${forked.step} is that run's (copied, not trained again); localization and DSRG ran here.`,
          ]
        : []),
      ...notes.filter((n) => !n.startsWith('Best checkpoint')),
    ],
    samples: samples.length ? samples : trainSamples,
    sampleColumns: samples.length
      ? [{ title: 'ground truth' }, { title: 'DSRG prediction' }]
      : [{ title: 'ground truth' }, { title: 'seeds', partial: true }],
    sampleNote: samples.length
      ? 'Held-out images: class colours over the image.'
      : 'Training images: washed-out pixels carry no seed.',
    losses: [
      { key: 'loss', name: 'total loss' },
      { key: 'seedLoss', name: 'DSRG seed loss' },
      { key: 'boundaryLoss', name: 'DSRG boundary loss' },
    ],
  });
  const file = join(r.runDir, 'report.html');
  await writeFileAtomic(file, html);
  return file;
}
