/**
 * The `wsss` command: parses argv (node:util parseArgs), dispatches to the commands, prints results (human or
 * `--json`) and maps errors to the documented exit codes (see `EXIT_CODES_HELP`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { memoryUsage, wasmHeapLimitBytes } from '@wsss/core';
import { runBench } from './commands/bench.js';
import { formatBench } from './commands/benchFormat.js';
import type { SplitOutputOptions } from './commands/common.js';
import { DEMO_BUDGET_SECONDS, DEMO_TARGET_MIOU, runDemo } from './commands/demo.js';
import { EXIT, EXIT_CODES_HELP, exitCodeOf, isOutOfMemory } from './commands/errors.js';
import { formatEval, runEval } from './commands/eval.js';
import { EXPORT_FORMATS, type ExportFormat, runExport } from './commands/export.js';
import { childTrial, formatFindBatch, searchLargestBatch } from './commands/findBatch.js';
import { fitAdvice, OutOfMemoryError } from './commands/fitAdvice.js';
import { type ImportSource, runImport } from './commands/import.js';
import { runInfer } from './commands/infer.js';
import { type LocalizeCommandResult, runLocalize } from './commands/localize.js';
import { type PseudoLabelResult, runPseudoLabels } from './commands/pseudoLabels.js';
import { fickleResumeSource, resumeTarget, runTrain } from './commands/train.js';
import { parseSets, resolveConfig } from './config/load.js';
import { type PartialConfig, PRESET_NAMES, savedConfig } from './config/presets.js';
import {
  ConfigError,
  leafKeys,
  METHODS,
  parseInterval,
  setPath,
  VARIANTS,
  type Variant,
  validate,
} from './config/schema.js';
import { CLASSIFIER_CHECKPOINT, runFickleNetTrain } from './ficklenet/pipeline.js';
import { type EngineRequest, parseEngineRequest } from './infer/engine.js';
import { Output } from './run/output.js';
import { defaultRunDir, readRunConfig } from './run/runDir.js';
import {
  type DistributedOptions,
  type DistributedSummary,
  runDistributedEval,
  runDistributedInfer,
  runDistributedLocalize,
  runDistributedPseudoLabels,
  runWorker,
} from './scale/jobs.js';

// Node-only library API of run folders (the browser-safe entry is '@wsss/cli')
export {
  type Checkpoint,
  type CheckpointNet,
  type CheckpointState,
  CheckpointWriter,
  loadCheckpoint,
  parseCheckpoint,
  saveCheckpoint,
} from './run/checkpoint.js';
export type { Output, Progress } from './run/output.js';
export {
  acquireRunLock,
  type LockInfo,
  RunFolder,
  type RunFolderMode,
  type RunLock,
  RunLockedError,
  withRunFolder,
} from './run/runFolder.js';
export type { EpochStats } from './train/epochs.js';

type OptSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

const COMMON: Record<string, OptSpec> = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
};
const COMPUTE: Record<string, OptSpec> = {
  backend: { type: 'string' },
  threads: { type: 'string' },
  set: { type: 'string', multiple: true },
};
const EVAL_OPTS: Record<string, OptSpec> = {
  scales: { type: 'string' },
  'no-flip': { type: 'boolean' },
  'single-scale': { type: 'boolean' },
  'bg-score': { type: 'string' },
  'fp-cut': { type: 'string' },
  crf: { type: 'boolean' },
};
/** Scale-out options of the commands that run over a Redis (docs/SCALE.md). */
const SCALE_OPTS: Record<string, OptSpec> = {
  redis: { type: 'string' },
  workers: { type: 'string' },
  'shard-size': { type: 'string' },
  attempts: { type: 'string' },
  lock: { type: 'string' },
};
const SCALE_HELP = `Scale-out (BullMQ + Redis; docs/SCALE.md):
  --redis <url>          enqueue the images as shards on this Redis and wait for wsss worker processes (on
                         any machine sharing the checkpoint, data and output paths) to do them; the same
                         command again redoes nothing finished. Outputs and numbers equal one process's.
  --workers <n>          also start n local workers for this run (1 wasm thread each; they stop with it)
  --shard-size <k>       images per shard (default 16)   --attempts <n>  tries per shard (default 3)
  --lock <seconds>       the local workers' shard lock (default 30): how soon a killed worker's shard is retried`;

/** The inference engine of infer, eval and pseudo-labels. */
const ENGINE_OPTS: Record<string, OptSpec> = {
  engine: { type: 'string' },
  ep: { type: 'string' },
};
const ENGINE_HELP = `  --engine <tfjs|onnx>   what runs the network: tfjs on --backend (default), or ONNX Runtime (the same
                         network exported in memory; needs onnxruntime-node). Everything around the forward
                         is the same code; results equal to 1e-4. Printed.
  --ep <cpu|webgpu|cuda> ONNX Runtime execution provider (default cpu; --threads sets its threads)`;
const DATA_OPTS: Record<string, OptSpec> = {
  data: { type: 'string' },
  dataset: { type: 'string' },
  labels: { type: 'string' },
  masks: { type: 'string' },
  val: { type: 'string' },
};
/** Commands that read a checkpoint and write a split's results into a folder. */
const SPLIT_OUTPUT_OPTS: Record<string, OptSpec> = {
  ...COMMON,
  ...COMPUTE,
  ...DATA_OPTS,
  checkpoint: { type: 'string' },
  output: { type: 'string', short: 'o' },
  split: { type: 'string' },
  limit: { type: 'string' },
};

const COMMANDS: Record<string, { options: Record<string, OptSpec>; summary: string; help: string }> = {
  train: {
    summary: 'train WS-FCN (or a Table I variant, or FickleNet + DSRG) on VOC, COCO or the synthetic set',
    options: {
      ...COMMON,
      ...COMPUTE,
      ...DATA_OPTS,
      method: { type: 'string' },
      preset: { type: 'string' },
      config: { type: 'string', short: 'c' },
      variant: { type: 'string' },
      weights: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      accumulate: { type: 'string' },
      recompute: { type: 'string' },
      background: { type: 'string' },
      saliency: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      'val-every': { type: 'string' },
      crop: { type: 'string' },
      workers: { type: 'string' },
      out: { type: 'string', short: 'o' },
      resume: { type: 'string' },
      overwrite: { type: 'boolean' },
      'checkpoint-every': { type: 'string' },
      'stop-after': { type: 'string' },
      classes: { type: 'string' },
      'pixel-labels': { type: 'string' },
      'skip-bad': { type: 'boolean' },
      'best-by': { type: 'string' },
    },
    help: `wsss train [options]

Trains into a run folder: config.json, checkpoints/last.safetensors (every epoch, every
train.checkpointEvery inside epochs, on Ctrl-C/SIGTERM and --stop-after), checkpoints/best.safetensors
(reference rule: score = 1 − mean val loss, from the mask-loss phase on, kept when ≥ best), metrics.jsonl and
report.html. Checkpoints are written atomically with a checksum: a kill -9 at any moment loses at most one
checkpoint interval, and --resume continues bit for bit. A folder belongs to one run: it is locked while
training, and --out onto another run is refused. Options override the preset; a config file sits between.

Options:
  --preset <name>        ${PRESET_NAMES.join(' | ')} (default voc = spec §4.8: 321 crops, batch 16, SGD 1e-3
                         momentum 0.9, wd 5e-4, LR groups 1/2/20/40, 31 epochs, mask loss from epoch 7,
                         PAMR 10 it., ψ 0.3, focal p 3 / λ 0.01; coco: PAMR 5, λ 0.1; demo: see wsss demo)
  -c, --config <file>    JSON or YAML config (same keys as config.json; may name "preset")
  --set <key=value>      set any config key, repeatable (e.g. --set train.pamrIterations=5); see "Config keys"
  --data <folder>        data.root: your images (folder), VOC2012 folder, COCO folder (annotations/,
                         train2014/, val2014/), or where the synthetic set is generated (default: in the run)
  --dataset <name>       data.dataset: folder | voc | coco | synthetic

Your own images (--dataset folder; see "Your own images" in the README):
  --labels <file>        data.labels: image-level labels, paths relative to --data: CSV "image,labels" (labels
                         separated by ; or |, header optional, an empty field = background only), JSON
                         {"a.jpg": ["dog"]}, [{"image", "labels"}] or JSON lines; only listed images train
  --classes <file>       data.classes: class names, one per line (or a JSON array); default: collected from
                         the labels (sorted) and stored in config.json and every checkpoint
  --masks <folder>       data.masks: masks named like the images (<path without extension>.png, index or
                         palette PNG, 255 = ignore): validation images with one are scored (mIoU); training
                         images with one train on it (semi-supervised, see --pixel-labels)
  --val <x|file>         data.val: validation images: a fraction (default 0.1: seeded, every class with 2+
                         images on both sides) or a file listing them (.txt, or a labels file)
  --pixel-labels <x>     data.pixelLabels: training images that train on their masks instead of PAMR pseudo
                         labels: auto (folder: all with a mask; others none) | none | all | a fraction
                         (0.1) | a split (VOC: train, its 1,464 masks) | a file of image paths
  --skip-bad             data.skipBad: leave out the files the pre-flight scan finds bad (corrupt image, mask
                         of the wrong size or values, unknown class, duplicate or dangling label row) and list
                         them in the run folder and the report, instead of stopping with exit 3
  --best-by <rule>       train.bestBy: loss (1 − mean val loss, the reference; default) | miou | map
  --method <name>        method: ${METHODS.join(' | ')} (default wsfcn). ficklenet trains the FickleNet
                         classifier until it fits (its loss stops falling, ficklenet.classifierPatience,
                         or reaches ficklenet.classifierTargetLoss; at least ficklenet.classifierMinEpochs,
                         at most ficklenet.classifierEpochs), localizes every training image into
                         seeds/<id>.png (ficklenet.runs selections), trains DSRG on the seeds
                         (ficklenet.dsrgEpochs) and evaluates it; checkpoints/classifier.safetensors is what
                         wsss localize reads
  --background <rule>    ficklenet.background: background seeds where the image's saliency (MB+) is low
                         (saliency, default; foreground seeds then only where it is at least
                         ficklenet.fgMinSaliency, 0.3) or where every class map is (low-activation)
  --saliency <folder>    ficklenet.saliencyMaps: your saliency maps instead of MB+, <id>.png per image
  --variant <name>       model.variant: ${VARIANTS.join(' | ')} (default wsfcn)
  --weights <file>       model.weights: ImageNet ResNet-38d backbone weights (.pth or .safetensors)
  --epochs <n>           train.epochs          --batch-size <n>   train.batchSize
  --accumulate <m>       train.accumulate: run each batch as m micro-batches, one update from their summed
                         gradients (the memory of batch/m images; WS-FCN; default 1)
  --recompute <stages>   train.recompute: all | none | backbone stages such as 5,6,7 whose units recompute
                         their activations in the backward pass instead of keeping them (less memory, same
                         gradients, one more forward of those stages); 'modules' in the list (and all) for
                         FCA and SF2 too (train.recomputeModules)
  --lr <x>               optim.lr              --seed <n>         train.seed (default 0)
  --val-every <k>        train.valEvery        --crop <px>        data.crop
  --workers <n>          data.workers (augmentation threads, default 0)
  -o, --out <dir>        run folder (default runs/train-<UTC time>); must be new or empty
  --overwrite            replace the run in --out: it is moved aside to <dir>.replaced-<time> when training
                         starts and deleted after the new run's first checkpoint (moved back if it fails first)
  --resume <run|ckpt>    continue a run exactly (weights, optimiser, epoch, data position, RNG, epoch means);
                         its config is used, options given now are applied over it (not model.*); with --out,
                         a checkpoint continues in a new folder (a fork; metrics up to it are copied). A
                         FickleNet run forks from its classifier (--resume <run> --out <new> --set
                         ficklenet.thFg=0.7): localization and DSRG run again, the classifier is not retrained
  --checkpoint-every <t> train.checkpointEvery: 30s | 5m | 1h | 200steps | 10m,500steps | off (default 5m)
  --stop-after <t>       stop with a checkpoint after a time (2h, 30m) or a step count (500steps) in this
                         process; exit 0, continue with --resume (for time-limited jobs)
  --backend <name>       auto | tensorflow | webgpu | wasm | cpu (default from the preset; printed)
  --threads <n|auto>     wasm threads in Node (default 1)
  --json                 machine-readable JSON lines on stdout (step, epoch, val, result)
  -q, --quiet            no progress or messages on stderr

Examples:
  wsss train --preset voc --data ~/data/VOCdevkit/VOC2012 --weights ilsvrc-cls_rna-a1_cls1000_ep-0001.pth
  wsss train --preset demo --epochs 4 --out runs/mine
  wsss train --preset demo --method ficklenet --out runs/fickle
  wsss train --preset demo --dataset folder --data photos/ --labels photos/labels.csv --out runs/mine
  wsss train --config my.yaml --set optim.lr=5e-4
  wsss train --resume runs/mine
  wsss train --resume runs/mine --stop-after 3h50m     (a job slot of 4 hours; run it again to continue)
  wsss train --resume runs/fickle --out runs/fickle-th07 --set ficklenet.thFg=0.7
  wsss train --preset demo --out runs/mine --overwrite`,
  },
  eval: {
    summary: 'mIoU, per-class IoU and pixel accuracy of a checkpoint on a split',
    options: {
      ...COMMON,
      ...COMPUTE,
      ...DATA_OPTS,
      ...EVAL_OPTS,
      ...ENGINE_OPTS,
      ...SCALE_OPTS,
      checkpoint: { type: 'string' },
      split: { type: 'string' },
      'gt-labels': { type: 'boolean' },
      limit: { type: 'string' },
      save: { type: 'string' },
    },
    help: `wsss eval --checkpoint <run|file.safetensors> [options]

Evaluates on a split at each image's own size (spec §3.11, §3.12, §4.9): mIoU with background (the standard
number) and without, per-class IoU, pixel accuracy. Defaults come from the checkpoint's config (voc: scales
1/0.5/1.5/2 + flip, background 0.25, predicted labels with cut 0.1). A wsss train --method ficklenet run is
evaluated with its DSRG network (single scale at ficklenet.size², --crf: DSRG's test CRF, spec §6.3).

Options:
  --checkpoint <path>    a run folder (uses checkpoints/best, else last) or a .safetensors checkpoint (required)
  --split <name>         split (default the config's data.valSplit)
  --data <folder>        data.root override     --dataset <name>  data.dataset override
  --labels, --masks, --val   folder data overrides (as for train; split train, val or all). Images without a
                         mask are scored on their image labels only (mAP, F1); the mIoU counts those with one
  --scales <list>        e.g. 1,0.5,1.5,2       --single-scale    scales [1], no flip
  --no-flip              no flipped views       --bg-score <x>    constant background score
  --fp-cut <x>           predicted-label cut on sigmoid scores
  --gt-labels            use ground-truth image labels (marked in the output: not a weakly-supervised result)
  --crf                  dense CRF post-processing (spec §4.9; needs @wsss/crf)
  --limit <n>            first n images only    --save <dir>      also write the predicted PNGs
${ENGINE_HELP}
  --set <key=value>      any config key          --backend, --threads, --json, -q as for train

${SCALE_HELP}

Examples:
  wsss eval --checkpoint runs/demo-20261121-120000
  wsss eval --checkpoint runs/voc/checkpoints/best.safetensors --data ~/VOC2012 --crf`,
  },
  infer: {
    summary: 'images (any size) → palette PNG masks and overlays; a folder or streamed paths',
    options: {
      ...COMMON,
      ...COMPUTE,
      ...EVAL_OPTS,
      ...ENGINE_OPTS,
      ...SCALE_OPTS,
      checkpoint: { type: 'string' },
      input: { type: 'string', short: 'i', multiple: true },
      output: { type: 'string', short: 'o' },
      'no-overlay': { type: 'boolean' },
      labels: { type: 'string' },
    },
    help: `wsss infer --checkpoint <run|file> --input <folder|image|pattern|-> … --output <folder> [options]

Writes <output>/<id>.png (palette PNG, VOC colours, class indices) and <output>/overlay/<id>.jpg. Inputs, as
many as you like: folders (read recursively), image files, glob patterns (quoted: 'photos/**/*.jpg'; or let
the shell expand them); .jpg .jpeg .png .webp. An image's id is its file name without extension (inside a
folder: its path there, under the folder's name when there are several inputs). With --input - image paths
are read from stdin, one per line, and each result is written (and, with --json, reported) as soon as it is
done.

Options:
  --checkpoint <path>    run folder or .safetensors checkpoint (required)
  -i, --input <path>     a folder, an image, a glob pattern or - (required; repeat it, or list more paths
                         after it)
  -o, --output <folder>  where to write (required)
  --no-overlay           masks only
  --labels <file>        image labels for a folder input (as for train): masks are cleaned with them instead
                         of the predicted labels
  --scales, --single-scale, --no-flip, --bg-score, --fp-cut, --crf   as for eval
  --engine, --ep         as for eval (ONNX Runtime: wsss infer … --engine onnx)
  --set, --backend, --threads, --json, -q      as for train

${SCALE_HELP}

Examples:
  wsss infer --checkpoint runs/demo-20261121-120000 --input photos/ --output masks/
  wsss infer --checkpoint runs/x -o masks/ -i photos/img030.jpg 'holidays/**/*.png'
  find photos -name '*.jpg' | wsss infer --checkpoint runs/x --input - --output masks/ --json`,
  },
  'pseudo-labels': {
    summary: 'PAMR-refined pseudo masks of a training split as PNGs (+ their mIoU)',
    options: {
      ...SPLIT_OUTPUT_OPTS,
      ...ENGINE_OPTS,
      ...SCALE_OPTS,
      crf: { type: 'boolean' },
    },
    help: `wsss pseudo-labels --checkpoint <run|file> --output <folder> [options]

For each image of a training split: the network's masks, refined by PAMR on the image, cleaned with the
image-level labels and thresholded into pseudo ground truth (spec §3.6–§3.7); written as palette PNGs with 255
for ambiguous pixels (the ignore value), ready to retrain a fully-supervised network. With ground-truth masks,
prints the mIoU on labelled pixels and with ambiguous pixels counted as background, and the coverage.

Options:
  --checkpoint <path>    run folder or .safetensors checkpoint (required)
  -o, --output <folder>  where to write (required)
  --split <name>         split (default the config's data.trainSplit)
  --data, --dataset, --labels, --masks, --val   data overrides (folder splits: train, val, all)
  --limit <n>            first n images only
  --crf                  dense CRF instead of the thresholds: the refined, label-cleaned masks go through
                         WS-FCN's CRF (spec §4.9) and every pixel takes its label (none ignored), as the
                         reference's pseudo ground truth for a second-stage network (needs @wsss/crf)
  --engine, --ep         as for eval: the network on ONNX Runtime; PAMR and the rest stay in tfjs
  --set, --backend, --threads, --json, -q        as for train

${SCALE_HELP}

Examples:
  wsss pseudo-labels --checkpoint runs/voc --data ~/VOC2012 --split train_aug --output pseudo/
  wsss pseudo-labels --checkpoint runs/voc --split train_aug --output /shared/pseudo --redis redis://queue:6379 --workers 2`,
  },
  worker: {
    summary:
      'join a BullMQ worker pool on a Redis: pseudo-labels, localize, eval and infer shards of every run enqueued there',
    options: {
      ...COMMON,
      ...COMPUTE,
      redis: { type: 'string' },
      concurrency: { type: 'string' },
      lock: { type: 'string' },
    },
    help: `wsss worker --redis <url> [--concurrency n] [--backend …] [--threads n]

Serves every run enqueued on that Redis (wsss pseudo-labels|localize|eval|infer … --redis <url>), started
before, during or after the producer: takes shards of images, runs them with the single-process command's code
and writes each PNG atomically into the output folder the job names. Models are loaded once and cached by checkpoint checksum (a
checkpoint that changed after enqueueing is refused). SIGTERM or Ctrl-C: finishes the shards in hand, then
exits 0; a killed worker's shard goes to another worker when its lock expires. docs/SCALE.md has the recipe for
several machines.

Options:
  --redis <url>          redis://host:port[/db] (required)
  --concurrency <n>      shards at once (default 1)
  --lock <seconds>       shard lock without renewal (default 30)
  --backend, --threads, --set, --json, -q   as for train (--threads: wasm threads of this worker)

Example:
  wsss worker --redis redis://queue:6379 --threads 2`,
  },
  localize: {
    summary: 'FickleNet localization maps and seed PNGs of a split (+ seed precision/recall)',
    options: {
      ...SPLIT_OUTPUT_OPTS,
      ...SCALE_OPTS,
      runs: { type: 'string' },
      'no-maps': { type: 'boolean' },
      background: { type: 'string' },
      saliency: { type: 'string' },
    },
    help: `wsss localize --checkpoint <ficklenet run|classifier.safetensors> --output <folder> [options]

For each image of a split (resized to ficklenet.size²): Grad-CAM maps of the FickleNet classifier over
ficklenet.runs random hidden-unit selections, aggregated (ficklenet.aggregate), resized to the image, and seeds
(spec §5.3): class c where the strongest present class's map exceeds ficklenet.thFg and the image's saliency is at
least ficklenet.fgMinSaliency (0.3; 0: anywhere, the paper's rule), background where the saliency is below
ficklenet.saliencyThreshold (MB+, a training-free detector, or your maps with --saliency) or, with --background
low-activation, where every present map is below ficklenet.thBg (no saliency gate then); 255 elsewhere.
Writes <output>/seeds/<id>.png (palette PNG), <output>/maps/<id>.png (heat map), <output>/summary.json and
<output>/report.html. With ground-truth masks, prints seed precision (correct / seeded pixels) and recall
(correct / labelled pixels).

Options:
  --checkpoint <path>    a wsss train --method ficklenet run folder or its classifier.safetensors (required)
  -o, --output <folder>  where to write (required)
  --split <name>         split (default the config's data.trainSplit)
  --limit <n>            first n images only     --runs <n>    ficklenet.runs (default 200)
  --no-maps              seeds only
  --background <rule>    ficklenet.background: saliency (default) | low-activation
  --saliency <folder>    ficklenet.saliencyMaps: your saliency maps, <id>.png (grayscale, the image's size)
  --data, --dataset, --labels, --masks, --val   data overrides (folder splits: train, val, all)
  --set <key=value>      e.g. --set ficklenet.thFg=0.6, or --set 'ficklenet.localizeScales=[1,0.75,1.5]'
                         --set ficklenet.localizeFlip=true (maps averaged over sizes and mirror images);
                         --backend, --threads, --json, -q as for train

${SCALE_HELP}

Examples:
  wsss localize --checkpoint runs/fickle --split val --output seeds-val/
  wsss localize --checkpoint runs/fickle --output /shared/seeds --redis redis://queue:6379 --workers 2`,
  },
  demo: {
    summary: 'the embedded demo: synthetic set → train → evaluate → report (CPU, no download)',
    options: {
      ...COMMON,
      ...COMPUTE,
      quick: { type: 'boolean' },
      out: { type: 'string', short: 'o' },
      overwrite: { type: 'boolean' },
      resume: { type: 'string' },
    },
    help: `wsss demo [options]

Generates the synthetic WSSS set (600 train + 200 held-out images, 128×128, 5 classes, seed 0), trains a
width-reduced WS-FCN from scratch with the real training step (classification phase, then PAMR
self-supervision), evaluates on the held-out split and writes report.html comparing raw masks, PAMR
pseudo-labels and final predictions on the same images. Target: ≤ ${DEMO_BUDGET_SECONDS} s on 2 CPU cores (a fresh
clone's npm ci + build + demo in ≤ 6 minutes), mIoU ≥ ${DEMO_TARGET_MIOU * 100}%.
The numbers are DEMO_PRESET in src/config/presets.ts.

Options:
  --quick                tiny version (32+16 images of 32×32, 2 epochs) in well under a minute
  -o, --out <dir>        run folder (default runs/demo-<UTC time>); must be new or empty
  --overwrite            replace the run in --out (as for wsss train)
  --resume <run>         continue an interrupted demo (Ctrl-C, kill) and write its report
  --set <key=value>      override a demo setting (e.g. --set train.epochs=6)
  --backend <name>       default wasm          --threads <n|auto>  wasm threads (default 2)
  --json, -q             as for train

Examples:
  wsss demo
  wsss demo --threads 1 --out runs/demo`,
  },
  bench: {
    summary: 'time a training step and inference of the network on the chosen backend',
    options: {
      ...COMMON,
      ...COMPUTE,
      preset: { type: 'string' },
      config: { type: 'string', short: 'c' },
      size: { type: 'string' },
      batch: { type: 'string' },
      reps: { type: 'string' },
      classes: { type: 'string' },
      accumulate: { type: 'string' },
      recompute: { type: 'string' },
      'train-only': { type: 'boolean' },
      'find-batch': { type: 'boolean' },
      'max-batch': { type: 'string' },
      'heap-limit': { type: 'string' },
    },
    help: `wsss bench [options]

Times one training step (forward, losses incl. PAMR, backward, update), batched single-scale inference and
one multi-scale inference on random data, at the preset's model size (default demo). The kernel suite that
compares against PyTorch is "npm run bench" in the repository.

Options:
  --preset <name>        ${PRESET_NAMES.join(' | ')} (default demo, or the config file's)
  -c, --config <file>    a config file (e.g. a run's config.json: that run's model)
  --size <px>            image side (default the preset's crop)
  --batch <n>            batch (default the preset's batch size)
  --accumulate <m>       the training step in m micro-batches (train.accumulate)
  --recompute <stages>   all | none | 5,6,7[,modules]: recomputed backbone stages (train.recompute) and
                         FCA/SF2 (train.recomputeModules)
  --reps <n>             timed repetitions after one warm-up (default 3)
  --classes <n>          foreground classes (default from the data set)
  --train-only           time the training step only (no inference)
  --find-batch           the largest --batch whose training step fits in memory, the other options as
                         given: trial steps in child processes (batch 1, 2, 4, … then bisection), each
                         with its time and peak memory; a step that does not fit exits 7 in its child
  --max-batch <n>        the most --find-batch tries (default 64)
  --heap-limit <MiB>     wasm: count a heap past this as out of memory (default: wasm's 4096), e.g. to
                         size for a browser tab; sets WSSS_WASM_HEAP_LIMIT_MB for the trials
  --set, --backend, --threads, --json, -q        as for train

Examples:
  wsss bench --backend wasm --threads 2 --batch 8
  wsss bench --preset voc --size 161 --find-batch --recompute all`,
  },
  import: {
    summary: "a released PyTorch checkpoint (WS-FCN's, 1-stage-wseg's) → a run folder eval/infer/export use",
    options: {
      ...COMMON,
      from: { type: 'string' },
      variant: { type: 'string' },
      classes: { type: 'string' },
      out: { type: 'string', short: 'o' },
      overwrite: { type: 'boolean' },
    },
    help: `wsss import <file> --out <run> [--from auto|ws-fcn|1-stage-wseg] [--variant <v>] [--classes voc|<file>]

Reads a released PyTorch checkpoint — the official WS-FCN model (e.g. model_enc_e018Xs0.905.pth), any Table I
variant, or 1-stage-wseg's (the SSSS model) — and writes a run folder: config.json and
checkpoints/last.safetensors, which wsss eval, infer, pseudo-labels and export read like a trained run (and
wsss train --resume fine-tunes). The file is read safely (zip or legacy .pth, .safetensors; nothing in it is
executed; a module. prefix is dropped). The keys and shapes say the architecture (context, fusion, backbone
channels and depth, number of classes), which is printed with the parameter count. Every tensor is accounted for:
PAMR's three fixed kernels (_aff.*) are checked and dropped; any other key that maps to nothing, or a weight no key
provides, stops the import with its name (exit 3).

Options:
  <file>                 the checkpoint (.pth, .pt or .safetensors; required)
  -o, --out <dir>        the run folder to write (required; new or empty, or --overwrite)
  --from <code>          auto (default: by the keys) | ws-fcn | 1-stage-wseg
  --variant <name>       expect this variant (${VARIANTS.join(' | ')}); an error if the file holds another
  --classes <voc|file>   class names: voc (default for 20 classes) or a file, one per line, background first
  --overwrite            replace the run in --out
  --json, -q             as for train

Examples:
  wsss import model_enc_e018Xs0.905.pth --out runs/wsfcn-official
  wsss eval --checkpoint runs/wsfcn-official --data ~/data/VOCdevkit/VOC2012 --crf
  wsss export --checkpoint runs/wsfcn-official --output model/ --float16`,
  },
  export: {
    summary: 'a checkpoint → tfjs LayersModel (browser) and safetensors with reference names',
    options: {
      ...COMMON,
      backend: { type: 'string' },
      checkpoint: { type: 'string' },
      output: { type: 'string', short: 'o' },
      format: { type: 'string' },
      float16: { type: 'boolean' },
      quantize: { type: 'string' },
    },
    help: `wsss export --checkpoint <run|file> --output <folder> [--format tfjs,safetensors,onnx] [--float16 | --quantize uint8]

Writes <output>/tfjs/model.json + weights.bin (tf.loadLayersModel in a browser after importing @wsss/cli so
the WS-FCN layers are registered), <output>/model.safetensors (PyTorch names and layouts, spec §1.1) and
<output>/wsss-model.json (class names, model and inference settings). With --format onnx, <output>/model.onnx
(opset 17) for ONNX Runtime and other ONNX tools: input image (N, H, W, 3), ImageNet-normalised; outputs
last_conv (foreground logits, stride 4), class_scores (N, K) and masks (N, H, W, K+1), background first, as
the reference's test mode computes them. A FickleNet + DSRG run exports its DSRG network (output dsrg_head).

Options:
  --checkpoint <path>    run folder or .safetensors checkpoint (required)
  -o, --output <folder>  where to write (required)
  --format <list>        tfjs, safetensors, onnx, comma-separated (default tfjs,safetensors; a FickleNet
                         + DSRG run: tfjs)
  --float16              store the tfjs weights as float16 (half the size; tfjs widens them to float32 on
                         load); model.safetensors stays float32
  --quantize <uint8|uint16>  store the tfjs kernels per-tensor affine quantized in tfjs's own manifest format
                         (uint8: a quarter of the size; biases and BatchNorm stay float32); plain
                         tf.loadLayersModel reads them back as float32
  --backend <name>       as for train; --json, -q

Example:
  wsss export --checkpoint runs/demo-20261121-120000 --output model/
  wsss export --checkpoint runs/demo-20261121-120000 --output model/ --format onnx`,
  },
};

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** Every key of the config schema, grouped by their parent (`data.{dataset,root,…}`), wrapped for the help. */
function configKeysHelp(): string {
  const groups = new Map<string, string[]>();
  for (const [key] of leafKeys()) {
    const at = key.lastIndexOf('.');
    const parent = at < 0 ? '' : key.slice(0, at);
    groups.set(parent, [...(groups.get(parent) ?? []), at < 0 ? key : key.slice(at + 1)]);
  }
  const items = [...groups].flatMap(([parent, names]) =>
    parent ? [`${parent}.{${names.join(',')}}`] : names,
  );
  const lines: string[] = [];
  let line = ' ';
  for (const item of items) {
    if (line.length + item.length + 2 > 112) {
      lines.push(line.trimEnd());
      line = ' ';
    }
    line += ` ${item},`;
  }
  lines.push(line.replace(/,$/, ''));
  return lines.join('\n');
}

/**
 * The text `wsss --help` (and `wsss` without a command) prints: the commands with their summaries, the
 * options every compute command takes, every config key, the exit codes and examples.
 */
export const MAIN_HELP = `wsss — weakly-supervised semantic segmentation (WS-FCN) for TensorFlow.js

Usage: wsss <command> [options]      wsss <command> --help for its options

Commands:
${Object.entries(COMMANDS)
  .map(([n, c]) => `  ${n.padEnd(14)} ${c.summary}`)
  .join('\n')}

Every compute command takes --backend auto|tensorflow|webgpu|wasm|cpu (the chosen backend is printed),
--threads for multi-threaded wasm, --json for machine-readable output and -q for quiet.
Progress bars (rate, ETA) are drawn on a TTY only. Ctrl-C during training writes a checkpoint; --resume continues.

Config keys (--set key=value, config files):
${configKeysHelp()}

${EXIT_CODES_HELP}

Examples:
  wsss demo                                   the embedded demo (about 5 minutes on 2 CPU cores)
  wsss train --preset voc --data VOC2012 --weights resnet38.pth
  wsss eval --checkpoint runs/demo-… && wsss infer --checkpoint runs/demo-… -i photos -o masks

Options: -h, --help   --version`;

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n))
    throw new ConfigError(`--${name} ${JSON.stringify(v)} is not a number`);
  return n;
}

/** A whole-number option ≥ `min`. */
function count(name: string, v: string, min: number): number {
  const n = num(name, v)!;
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError(`--${name} ${JSON.stringify(v)} is not allowed; expected a whole number ≥ ${min}`);
  return n;
}

/** The scale-out options of a producer command (`--redis` given). */
function distributedOptions(values: Record<string, unknown>): DistributedOptions {
  const v = (k: string) => values[k] as string | undefined;
  return {
    redis: v('redis')!,
    ...(v('workers') !== undefined ? { workers: count('workers', v('workers')!, 0) } : {}),
    ...(v('shard-size') !== undefined ? { shardSize: count('shard-size', v('shard-size')!, 1) } : {}),
    ...(v('attempts') !== undefined ? { attempts: count('attempts', v('attempts')!, 1) } : {}),
    ...(v('lock') !== undefined ? { lockSeconds: num('lock', v('lock'))! } : {}),
  };
}

/** Scale-out options given without `--redis`. */
function scaleOptionsNeedRedis(values: Record<string, unknown>): void {
  if (values['redis'] !== undefined) return;
  for (const k of ['workers', 'shard-size', 'attempts', 'lock'])
    if (values[k] !== undefined) throw new ConfigError(`--${k} goes with --redis <url>`);
}

/** A command's summary, then how its distributed run went and each shard that failed. */
function withDistributed(text: string, r: DistributedSummary): string {
  return [
    text,
    `by the workers of ${r.queue}: ${r.shards} shard(s), ${r.alreadyDone} already done, ${r.retries} retried, ${r.failed.length} failed`,
    ...r.failed.map(
      (f) => `failed: shard ${f.shard} (images ${f.images[0]}–${f.images[1] - 1}): ${f.reason}`,
    ),
  ].join('\n');
}

/** The human summary of a pseudo-labels run. */
function formatLocalize(r: LocalizeCommandResult): string {
  const s = r.scores;
  return (
    `${r.images} image(s) of ${r.split} → ${r.output} (${r.msPerImage.toFixed(0)} ms per image)\n` +
    (s
      ? `seed precision ${pct(s.precision)}, recall ${pct(s.recall)} (foreground ${pct(s.fgPrecision)} / ${pct(s.fgRecall)}); ${pct(r.coverage)} of pixels seeded`
      : `${pct(r.coverage)} of pixels seeded (no ground truth to score against)`) +
    `\nreport: ${r.report}`
  );
}

function formatPseudoLabels(r: PseudoLabelResult): string {
  return (
    `${r.images} pseudo-label PNG(s) of ${r.split} → ${r.output}${r.crf ? ' (dense CRF)' : ''}; ${pct(r.coverage)} of pixels labelled; ${r.imagesPerSecond.toFixed(2)} img/s (${r.engine})` +
    (r.labelled
      ? `\nmIoU on labelled pixels ${pct(r.labelled.miou)}; with ambiguous pixels as background ${pct(r.ignoredAsBackground!.miou)}`
      : '')
  );
}

/**
 * A wasm heap exhausted (our guard's message, or the runtime's abort inside a kernel) gets what to change: the
 * heap stops at 4 GiB whatever the machine has.
 */
function withMemoryHint(msg: string, cmd: string): string {
  if (!isOutOfMemory(msg)) return msg;
  const heap = memoryUsage().wasmHeapBytes;
  const limit = wasmHeapLimitBytes();
  const size = heap
    ? ` (its heap is ${(heap / 2 ** 20).toFixed(0)} MiB; ${limit ? `WSSS_WASM_HEAP_LIMIT_MB allows ${limit / 2 ** 20} MiB` : 'wasm memory stops at 4096 MiB'})`
    : '';
  const what =
    cmd === 'train' || cmd === 'bench' || cmd === 'demo'
      ? 'train.accumulate (--accumulate <m>: each batch in m micro-batches, one update), train.recompute (--recompute all: the backbone, FCA and SF2 keep only their inputs and recompute the rest in the backward pass), a smaller train.batchSize or data.crop, or a GPU backend'
      : 'fewer or smaller images at once (eval.scales, --single-scale), or a GPU backend or --engine onnx';
  return `the wasm backend ran out of memory${size}: ${msg.replace(/\.$/, '')}. What uses less: ${what}.`;
}

/** A `wsss bench --find-batch` call's options as a trial child's arguments (without those the finder sets). */
function benchChildArgs(values: Record<string, unknown>): string[] {
  const own = new Set([
    'find-batch',
    'max-batch',
    'heap-limit',
    'batch',
    'reps',
    'json',
    'quiet',
    'train-only',
    'help',
  ]);
  const args: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (own.has(k) || v === undefined || v === false) continue;
    if (v === true) args.push(`--${k}`);
    else for (const x of Array.isArray(v) ? v : [v]) args.push(`--${k}`, String(x));
  }
  return args;
}

/** The demo's time and mIoU against their targets, each said plainly. */
export function demoVerdict(seconds: number, miou: number): string {
  const time =
    seconds <= DEMO_BUDGET_SECONDS
      ? `within the ${DEMO_BUDGET_SECONDS} s budget`
      : `OVER the ${DEMO_BUDGET_SECONDS} s budget by ${(seconds - DEMO_BUDGET_SECONDS).toFixed(0)} s`;
  const quality =
    miou >= DEMO_TARGET_MIOU
      ? `mIoU target (≥ ${DEMO_TARGET_MIOU * 100}%) met`
      : `mIoU target (≥ ${DEMO_TARGET_MIOU * 100}%) NOT met`;
  return `${time}; ${quality}`;
}

/** `--recompute all|none|5,6,7[,modules]` → backbone stages and whether FCA/SF2 recompute. */
function recomputeOption(v: string): { stages: number[]; modules: boolean } {
  if (v === 'all') return { stages: [2, 3, 4, 5, 6, 7], modules: true };
  if (v === 'none' || v === '') return { stages: [], modules: false };
  const parts = v.split(',').map((p) => p.trim());
  const stages = parts.filter((p) => p !== 'modules').join(',');
  return { stages: stages ? numList('recompute', stages)! : [], modules: parts.includes('modules') };
}

function numList(name: string, v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((s) => num(name, s)!);
}

/** Named options → a partial config (validated later with the key names). */
function optionOverrides(v: Record<string, unknown>): PartialConfig {
  const o: Record<string, unknown> = {};
  const s = (k: string, key: string, conv: (x: string) => unknown = (x) => x) => {
    if (v[k] !== undefined) setPath(o, key, conv(v[k] as string));
  };
  const n = (k: string) => (x: string) => num(k, x);
  s('backend', 'backend');
  if (v['threads'] !== undefined)
    setPath(o, 'threads', v['threads'] === 'auto' ? 'auto' : num('threads', v['threads'] as string));
  s('data', 'data.root');
  s('dataset', 'data.dataset');
  s('labels', 'data.labels');
  s('classes', 'data.classes');
  s('masks', 'data.masks');
  s('val', 'data.val');
  s('pixel-labels', 'data.pixelLabels');
  if (v['skip-bad']) setPath(o, 'data.skipBad', true);
  s('best-by', 'train.bestBy');
  s('method', 'method');
  s('variant', 'model.variant');
  s('runs', 'ficklenet.runs', n('runs'));
  s('background', 'ficklenet.background');
  s('saliency', 'ficklenet.saliencyMaps', (x) => resolvePath(x));
  s('weights', 'model.weights');
  s('epochs', 'train.epochs', n('epochs'));
  s('batch-size', 'train.batchSize', n('batch-size'));
  s('accumulate', 'train.accumulate', n('accumulate'));
  if (v['recompute'] !== undefined) {
    const r = recomputeOption(v['recompute'] as string);
    setPath(o, 'train.recompute', r.stages);
    setPath(o, 'train.recomputeModules', r.modules);
  }
  s('lr', 'optim.lr', n('lr'));
  s('seed', 'train.seed', n('seed'));
  s('val-every', 'train.valEvery', n('val-every'));
  s('crop', 'data.crop', n('crop'));
  // with --redis, --workers counts worker processes (scale-out), not data-loader threads
  if (v['redis'] === undefined) s('workers', 'data.workers', n('workers'));
  s('checkpoint-every', 'train.checkpointEvery');
  if (v['scales'] !== undefined) setPath(o, 'eval.scales', numList('scales', v['scales'] as string));
  if (v['no-flip']) setPath(o, 'eval.flip', false);
  if (v['single-scale']) {
    setPath(o, 'eval.scales', [1]);
    setPath(o, 'eval.flip', false);
  }
  s('bg-score', 'eval.bgScore', n('bg-score'));
  s('fp-cut', 'eval.fpCut', n('fp-cut'));
  if (v['gt-labels']) setPath(o, 'eval.useGtLabels', true);
  return o as PartialConfig;
}

function required(v: Record<string, unknown>, name: string, cmd: string): string {
  const x = v[name];
  if (typeof x !== 'string' || !x) throw new ConfigError(`--${name} is required (see wsss ${cmd} --help)`);
  return x;
}

/** `--stop-after` as the training options it sets (a step budget and/or a deadline). */
function stopAfter(text: string | undefined): { stopAfterSteps?: number; deadline?: number } {
  if (text === undefined) return {};
  let r: { seconds: number; steps: number };
  try {
    r = parseInterval(text);
  } catch {
    r = { seconds: 0, steps: 0 };
  }
  if (!r.seconds && !r.steps)
    throw new ConfigError(
      `--stop-after ${JSON.stringify(text)} is not allowed; expected a time (30m, 2h, 3h50m) or a step count (500steps), or both (2h,500steps)`,
    );
  return {
    ...(r.steps ? { stopAfterSteps: r.steps } : {}),
    ...(r.seconds ? { deadline: Date.now() + r.seconds * 1000 } : {}),
  };
}

/** `--engine` / `--ep`, checked before any model is loaded. */
function engineRequest(values: Record<string, unknown>): EngineRequest {
  const r: EngineRequest = {
    ...(values['engine'] !== undefined ? { engine: values['engine'] as string } : {}),
    ...(values['ep'] !== undefined ? { executionProvider: values['ep'] as string } : {}),
  };
  parseEngineRequest(r);
  return r;
}

/** The options of SPLIT_OUTPUT_OPTS commands (checkpoint and output required). */
function splitOutput(
  values: Record<string, unknown>,
  cmd: string,
  out: Output,
  overrides: PartialConfig[],
): SplitOutputOptions {
  return {
    checkpoint: required(values, 'checkpoint', cmd),
    output: required(values, 'output', cmd),
    out,
    overrides,
    ...(values['split'] ? { split: values['split'] as string } : {}),
    ...(values['limit'] ? { limit: num('limit', values['limit'] as string)! } : {}),
  };
}

/**
 * Where {@link main} writes and whether it handles signals; each field defaults to the process's own
 * (`process.stdout`, `process.stderr`, handlers installed).
 */
export interface MainIO {
  /** Where results, help and `--json` lines go. Default `process.stdout`. */
  stdout?: {
    /** Writes a chunk of text (newlines included). */
    write(s: string): unknown;
  };
  /** Where human messages and progress bars go (bars only when `isTTY` is true). Default `process.stderr`. */
  stderr?: {
    /** Writes a chunk of text (newlines included). */
    write(s: string): unknown;
    isTTY?: boolean;
  };
  /** Install SIGINT/SIGTERM handlers for training (default true). */
  signals?: boolean;
}

const pct = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(1)}%`;

type FickleResult = Awaited<ReturnType<typeof runFickleNetTrain>>;

function fickleSummary(r: FickleResult) {
  return {
    method: 'ficklenet',
    status: r.status,
    runDir: r.runDir,
    steps: r.steps,
    seeds: r.seeds,
    evaluation: r.evaluation,
    report: r.report ?? null,
  };
}

function formatFickle(r: FickleResult): string {
  const s = r.seeds?.scores;
  return [
    `run folder: ${r.runDir}`,
    `steps ${r.steps}${r.status === 'stopped' ? ' (stopped)' : ''}`,
    ...(s ? [`seeds: precision ${pct(s.precision)}, recall ${pct(s.recall)}`] : []),
    ...(r.evaluation
      ? [`DSRG on ${r.evaluation.images} held-out images: mIoU ${pct(r.evaluation.miou)}`]
      : []),
    ...(r.report ? [`report: ${r.report}`] : []),
  ].join('\n');
}

/** The options that continue a FickleNet run folder: its config.json with the command-line overrides on top. */
function fickleResumeOptions(
  dir: string,
  info: Awaited<ReturnType<typeof readRunConfig>>,
  overrides: PartialConfig[],
  out: Output,
  signal: AbortSignal,
  argv: string[],
): Parameters<typeof runFickleNetTrain>[0] {
  const config = savedConfig(info.config, ...overrides);
  validate(config);
  if (JSON.stringify(config.model) !== JSON.stringify(info.config.model))
    throw new ConfigError(
      '--resume: model options cannot change when resuming (the checkpoints hold that model)',
    );
  return { config, preset: info.preset, out, runDir: resolvePath(dir), resume: true, signal, argv };
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], io: MainIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    const topic = cmd === 'help' ? rest[0] : undefined;
    stdout.write(`${topic && COMMANDS[topic] ? COMMANDS[topic].help : MAIN_HELP}\n`);
    return cmd ? EXIT.OK : EXIT.USAGE;
  }
  if (cmd === '--version' || cmd === '-v') {
    stdout.write(`${version()}\n`);
    return EXIT.OK;
  }
  const spec = COMMANDS[cmd];
  if (!spec) {
    stderr.write(
      `wsss: unknown command '${cmd}'; commands are ${Object.keys(COMMANDS).join(', ')} (wsss --help)\n`,
    );
    return EXIT.USAGE;
  }
  let values: Record<string, unknown>;
  let positionals: string[] = [];
  try {
    const parsed = parseArgs({
      args: rest,
      options: spec.options,
      strict: true,
      allowPositionals: cmd === 'import' || cmd === 'infer',
    });
    values = parsed.values as Record<string, unknown>;
    positionals = parsed.positionals;
  } catch (e) {
    stderr.write(`wsss ${cmd}: ${(e as Error).message}\n(see wsss ${cmd} --help)\n`);
    return EXIT.USAGE;
  }
  if (values['help']) {
    stdout.write(`${spec.help}\n\n${EXIT_CODES_HELP}\n`);
    return EXIT.OK;
  }
  const out = new Output({ json: !!values['json'], quiet: !!values['quiet'], stdout, stderr });
  const controller = new AbortController();
  let interrupts = 0;
  let producer = false;
  const onSignal = (sig: string) => {
    interrupts++;
    if (interrupts > 1) {
      stderr.write(`\nwsss: second ${sig}, exiting without a checkpoint\n`);
      process.exit(EXIT.INTERRUPTED);
    }
    if (cmd === 'worker') {
      if (!values['quiet'])
        stderr.write(`\nwsss: ${sig} — finishing the shards in hand, then exiting (again to abort)\n`);
    } else if (producer) {
      // the producer holds no work: it stops watching; the queue stays for the workers and a re-run
    } else
      stderr.write(`\nwsss: ${sig} — finishing the current step and writing a checkpoint (again to abort)\n`);
    controller.abort();
  };
  producer = values['redis'] !== undefined && cmd !== 'worker';
  const signals = io.signals !== false && (cmd === 'train' || cmd === 'demo' || cmd === 'worker' || producer);
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  if (signals) {
    process.on('SIGINT', sigint);
    process.on('SIGTERM', sigterm);
  }
  try {
    const overrides = [optionOverrides(values), parseSets((values['set'] as string[] | undefined) ?? [])];
    switch (cmd) {
      case 'train': {
        const resume = values['resume'] as string | undefined;
        const runOut = values['out'] as string | undefined;
        const overwrite = !!values['overwrite'];
        if (resume && overwrite)
          throw new ConfigError(
            '--resume continues a run and --overwrite replaces one: give only one of them',
          );
        const stop = stopAfter(values['stop-after'] as string | undefined);
        const fickle = resume ? await fickleResumeSource(resume) : null;
        if (fickle) {
          const fork = runOut !== undefined && resolvePath(runOut) !== fickle.dir;
          if (!fork && fickle.file)
            throw new ConfigError(
              `--resume ${resume}: a FickleNet + DSRG run continues from its run folder (wsss train --resume ${fickle.dir}); with --out <new folder>, its classifier starts a new run (a fork)`,
            );
          const classifier = fickle.file ?? join(fickle.dir, 'checkpoints', CLASSIFIER_CHECKPOINT);
          if (fork && basename(classifier) !== CLASSIFIER_CHECKPOINT)
            throw new ConfigError(
              `--resume ${resume} --out: a fork of a FickleNet + DSRG run starts from its classifier; pass the run folder or its checkpoints/${CLASSIFIER_CHECKPOINT}`,
            );
          const base = fickleResumeOptions(fickle.dir, fickle.info, overrides, out, controller.signal, argv);
          // a fork killed before its classifier checkpoint was copied copies it when resumed
          const from = fickle.info.forkedFrom;
          const pending =
            !fork && from && !existsSync(classifier)
              ? { fork: { run: from.run, classifier: from.checkpoint } }
              : {};
          const r = await runFickleNetTrain({
            ...base,
            ...(fork
              ? { runDir: resolvePath(runOut!), resume: false, fork: { run: fickle.dir, classifier } }
              : pending),
            ...stop,
          });
          out.result({ command: 'train', ...fickleSummary(r) }, formatFickle(r));
          return EXIT.OK;
        }
        const resolved = resume
          ? null
          : await resolveConfig({
              ...(values['preset'] ? { preset: values['preset'] as string } : {}),
              ...(values['config'] ? { file: values['config'] as string } : {}),
              overrides,
            });
        if (resolved?.config.method === 'ficklenet') {
          const r = await runFickleNetTrain({
            config: resolved.config,
            preset: resolved.preset,
            out,
            runDir: resolvePath(runOut ?? defaultRunDir('ficklenet')),
            overwrite,
            signal: controller.signal,
            argv,
            ...stop,
          });
          out.result({ command: 'train', ...fickleSummary(r) }, formatFickle(r));
          return EXIT.OK;
        }
        const r = await runTrain({
          ...(resolved ? { config: resolved.config, preset: resolved.preset } : { preset: 'resume' }),
          out,
          ...(runOut ? { runDir: runOut } : {}),
          ...(resume ? { resume, overrides } : {}),
          overwrite,
          signal: controller.signal,
          argv,
          ...stop,
        }).catch(async (e) => {
          // a step that does not fit the wasm heap: trial steps in child processes name what would fit — for a
          // resumed run with its own config and the overrides given (the options tried may change on a resume)
          const message = (e as Error)?.message ?? '';
          if (!isOutOfMemory(message) || memoryUsage().backend !== 'wasm') throw e;
          const config = resolved
            ? resolved.config
            : savedConfig((await readRunConfig(resumeTarget(resume!).runDir)).config, ...overrides);
          throw new OutOfMemoryError(
            message,
            // a resumed run's folder holds its checkpoints: the same command (no --overwrite) continues it
            await fitAdvice(config, out, { namedRunDir: !!runOut && !resume }),
          );
        });
        out.result(
          {
            command: 'train',
            status: r.status,
            runDir: r.runDir,
            steps: r.steps,
            epochs: r.epochs,
            best: r.best,
            report: r.report ?? null,
            lastVal: r.lastVal,
          },
          `run folder: ${r.runDir}\nsteps ${r.steps}, epochs ${r.epochs}${r.lastVal ? `, last val mIoU ${pct(r.lastVal.miou)}` : ''}${r.best ? `, best checkpoint after epoch ${r.best.epoch} (score ${r.best.score.toFixed(4)})` : ''}` +
            (r.status === 'stopped'
              ? `\nstopped (--stop-after) with a checkpoint; continue with: wsss train --resume ${r.runDir}`
              : '') +
            `${r.report ? `\nreport: ${r.report}` : ''}`,
        );
        r.net.model.dispose();
        return EXIT.OK;
      }
      case 'eval': {
        const eo = {
          checkpoint: required(values, 'checkpoint', cmd),
          out,
          overrides,
          ...(values['split'] ? { split: values['split'] as string } : {}),
          ...(values['limit'] ? { limit: num('limit', values['limit'] as string)! } : {}),
          crf: !!values['crf'],
          ...(values['save'] ? { saveDir: values['save'] as string } : {}),
          engine: engineRequest(values),
        };
        if (values['redis'] !== undefined) {
          const r = await runDistributedEval({
            ...eo,
            ...distributedOptions(values),
            signal: controller.signal,
          });
          out.result({ command: 'eval', ...r }, withDistributed(formatEval(r), r));
          return r.failed.length ? EXIT.INPUT : EXIT.OK;
        }
        scaleOptionsNeedRedis(values);
        const r = await runEval(eo);
        out.result({ command: 'eval', ...r }, formatEval(r));
        return EXIT.OK;
      }
      case 'infer': {
        // --input may repeat, and a shell-expanded pattern leaves its other files as positionals
        const inputs = [...((values['input'] as string[] | undefined) ?? []), ...positionals];
        if (!values['input']) throw new ConfigError('--input is required (see wsss infer --help)');
        const io = {
          checkpoint: required(values, 'checkpoint', cmd),
          inputs,
          output: required(values, 'output', cmd),
          out,
          overlay: !values['no-overlay'],
          crf: !!values['crf'],
          overrides,
          engine: engineRequest(values),
          ...(values['labels'] ? { labels: values['labels'] as string } : {}),
        };
        if (values['redis'] !== undefined) {
          const r = await runDistributedInfer({
            ...io,
            ...distributedOptions(values),
            signal: controller.signal,
          });
          out.result({ command: 'infer', ...r }, withDistributed(`${r.images} image(s) → ${r.output}`, r));
          return r.failed.length ? EXIT.INPUT : EXIT.OK;
        }
        scaleOptionsNeedRedis(values);
        const r = await runInfer(io);
        out.result(
          { command: 'infer', images: r.images, output: r.output },
          `${r.images} image(s) → ${r.output}`,
        );
        return EXIT.OK;
      }
      case 'pseudo-labels': {
        scaleOptionsNeedRedis(values);
        const po = {
          ...splitOutput(values, cmd, out, overrides),
          engine: engineRequest(values),
          crf: !!values['crf'],
        };
        if (values['redis'] !== undefined) {
          const r = await runDistributedPseudoLabels({
            ...po,
            ...distributedOptions(values),
            signal: controller.signal,
          });
          out.result({ command: 'pseudo-labels', ...r }, withDistributed(formatPseudoLabels(r), r));
          return r.failed.length ? EXIT.INPUT : EXIT.OK;
        }
        const r = await runPseudoLabels(po);
        out.result({ command: 'pseudo-labels', ...r }, formatPseudoLabels(r));
        return EXIT.OK;
      }
      case 'worker': {
        const r = await runWorker({
          redis: required(values, 'redis', cmd),
          out,
          overrides,
          signal: controller.signal,
          ...(values['concurrency'] !== undefined
            ? { concurrency: count('concurrency', values['concurrency'] as string, 1) }
            : {}),
          ...(values['lock'] !== undefined ? { lockSeconds: num('lock', values['lock'] as string)! } : {}),
        });
        out.result(
          { command: 'worker', ...r },
          `worker stopped after ${r.shards} shard(s) (${r.failed} failed)`,
        );
        return EXIT.OK;
      }
      case 'localize': {
        const lo = { ...splitOutput(values, cmd, out, overrides), noMaps: !!values['no-maps'] };
        if (values['redis'] !== undefined) {
          const r = await runDistributedLocalize({
            ...lo,
            ...distributedOptions(values),
            signal: controller.signal,
          });
          out.result({ command: 'localize', ...r }, withDistributed(formatLocalize(r), r));
          return r.failed.length ? EXIT.INPUT : EXIT.OK;
        }
        scaleOptionsNeedRedis(values);
        const r = await runLocalize(lo);
        out.result({ command: 'localize', ...r }, formatLocalize(r));
        return EXIT.OK;
      }
      case 'demo': {
        if (values['resume'] && values['overwrite'])
          throw new ConfigError(
            '--resume continues a run and --overwrite replaces one: give only one of them',
          );
        const r = await runDemo({
          out,
          quick: !!values['quick'],
          ...(values['out'] ? { runDir: values['out'] as string } : {}),
          ...(values['resume'] ? { resume: values['resume'] as string } : {}),
          overwrite: !!values['overwrite'],
          overrides,
          signal: controller.signal,
          argv,
        });
        const s = r.stages;
        out.result(
          {
            command: 'demo',
            runDir: r.runDir,
            report: r.report,
            seconds: r.seconds,
            backend: r.backend,
            stages: s,
          },
          [
            `held-out mIoU (${s.images} images, with background): raw masks ${pct(s.raw.miou)} → PAMR-refined ${pct(s.pamr.miou)} ` +
              `(pseudo-labels ${pct(s.pseudoLabelled.miou)} on the ${pct(s.pseudoCoverage)} of pixels they label) → final prediction ${pct(s.pred.miou)}`,
            `time ${r.seconds.toFixed(0)} s on ${r.backend}${values['quick'] ? '' : `: ${demoVerdict(r.seconds, s.pred.miou)}`}`,
            `report: ${r.report}`,
          ].join('\n'),
        );
        return EXIT.OK;
      }
      case 'bench': {
        const { config } = await resolveConfig({
          preset: (values['preset'] as string | undefined) ?? (values['config'] ? undefined : 'demo'),
          ...(values['config'] ? { file: values['config'] as string } : {}),
          overrides,
          requireData: false,
        });
        if (values['find-batch']) {
          const maxBatch = values['max-batch'] ? num('max-batch', values['max-batch'] as string)! : 64;
          if (!Number.isInteger(maxBatch) || maxBatch < 1)
            throw new ConfigError(`--max-batch ${maxBatch} is not allowed; expected a positive integer`);
          const limit = values['heap-limit'] ? num('heap-limit', values['heap-limit'] as string)! : undefined;
          if (limit !== undefined && !(limit > 0))
            throw new ConfigError(`--heap-limit ${limit} is not allowed; expected a positive number of MiB`);
          for (const k of ['batch', 'reps'])
            if (values[k] !== undefined)
              throw new ConfigError(
                `--${k} and --find-batch: --find-batch chooses the batch itself; drop --${k}`,
              );
          const size = values['size'] ? num('size', values['size'] as string)! : config.data.crop;
          out.info(
            `finding the largest batch for a ${size}×${size} training step on ${config.backend} (trials up to ${maxBatch}, each in its own process)`,
          );
          const r = await searchLargestBatch(maxBatch, childTrial(benchChildArgs(values), limit));
          const human = formatFindBatch({
            ...r,
            size,
            backend: config.backend,
            ...(limit ? { heapLimitMiB: limit } : {}),
          });
          out.result({ command: 'bench', findBatch: true, size, heapLimitMiB: limit ?? null, ...r }, human);
          return EXIT.OK;
        }
        const r = await runBench({
          config,
          out,
          trainOnly: !!values['train-only'],
          ...(values['size'] ? { size: num('size', values['size'] as string)! } : {}),
          ...(values['batch'] ? { batch: num('batch', values['batch'] as string)! } : {}),
          ...(values['reps'] ? { reps: num('reps', values['reps'] as string)! } : {}),
          ...(values['classes'] ? { numClasses: num('classes', values['classes'] as string)! } : {}),
        });
        out.result({ command: 'bench', ...r }, formatBench(r));
        return EXIT.OK;
      }
      case 'import': {
        if (positionals.length !== 1)
          throw new ConfigError(
            `give exactly one checkpoint file${positionals.length ? `, got ${positionals.length}: ${positionals.join(' ')}` : ''} (see wsss import --help)`,
          );
        const r = await runImport({
          file: positionals[0]!,
          runDir: required(values, 'out', cmd),
          out,
          overwrite: !!values['overwrite'],
          ...(values['from'] ? { from: values['from'] as ImportSource } : {}),
          ...(values['variant'] ? { variant: values['variant'] as Variant } : {}),
          ...(values['classes'] ? { classes: values['classes'] as string } : {}),
          argv,
        });
        out.result(
          { command: 'import', ...r },
          `${r.architecture}, ${r.numClasses} classes, ${r.parameters.toLocaleString('en')} parameters → ${r.checkpoint} (${r.seconds.toFixed(1)} s)\nnext: wsss eval --checkpoint ${r.runDir} --data <VOC2012 folder>`,
        );
        return EXIT.OK;
      }
      case 'export': {
        // without --format: tfjs,safetensors (the DSRG network of a FickleNet run: tfjs)
        const given = values['format'] as string | undefined;
        const formats = given === undefined ? [] : given.split(',').map((f) => f.trim());
        for (const f of formats)
          if (!EXPORT_FORMATS.includes(f as ExportFormat))
            throw new ConfigError(
              `--format ${JSON.stringify(f)} is not allowed; expected ${EXPORT_FORMATS.join(', ')} (comma-separated)`,
            );
        const quantize = values['quantize'] as string | undefined;
        if (quantize !== undefined && quantize !== 'uint8' && quantize !== 'uint16')
          throw new ConfigError(
            `--quantize ${JSON.stringify(quantize)} is not allowed; expected uint8 or uint16`,
          );
        if (quantize && values['float16'])
          throw new ConfigError('--float16 and --quantize choose the weight storage: give only one of them');
        const r = await runExport({
          checkpoint: required(values, 'checkpoint', cmd),
          output: required(values, 'output', cmd),
          out,
          ...(given !== undefined ? { formats: formats as ExportFormat[] } : {}),
          weights: quantize ? (quantize as 'uint8' | 'uint16') : values['float16'] ? 'float16' : 'float32',
          overrides,
        });
        out.result({ command: 'export', files: r.files }, `wrote:\n  ${r.files.join('\n  ')}`);
        return EXIT.OK;
      }
    }
    return EXIT.INTERNAL;
  } catch (e) {
    const code = exitCodeOf(e);
    const msg =
      withMemoryHint((e as Error)?.message ?? String(e), cmd) +
      (e instanceof OutOfMemoryError ? e.advice : '');
    if (out.json)
      stdout.write(
        `${JSON.stringify({ type: 'error', exitCode: code, error: (e as Error)?.name, message: msg })}\n`,
      );
    stderr.write(`wsss ${cmd}: ${msg}\n`);
    if (code === EXIT.INTERNAL && (e as Error)?.stack) stderr.write(`${(e as Error).stack}\n`);
    return code;
  } finally {
    if (signals) {
      process.off('SIGINT', sigint);
      process.off('SIGTERM', sigterm);
    }
  }
}
