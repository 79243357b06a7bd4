/**
 * The configuration schema of `wsss` (DESIGN §5): every key of a run's configuration, its type, what values are
 * allowed and what it means. Presets, config files (JSON/YAML) and command-line options are all checked against
 * it; a bad value is reported with its dotted key, the value and what is allowed.
 */

import type { BackendChoice } from '@wsss/core';

/**
 * The network of `model.variant`: `wsfcn` = FCA + SF2 (the paper), `ssss` = ASPP + GCI (the SSSS baseline),
 * and the Table I mixes `fca-gci` and `aspp-sf2`.
 */
export type Variant = 'wsfcn' | 'ssss' | 'fca-gci' | 'aspp-sf2';
export const VARIANTS: readonly Variant[] = ['wsfcn', 'ssss', 'fca-gci', 'aspp-sf2'];
/**
 * The data set reader of `data.dataset`: PASCAL VOC 2012, COCO 2014, the generated synthetic set, or
 * `folder`: your own images with an image-level labels file.
 */
export type DatasetKind = 'voc' | 'coco' | 'synthetic' | 'folder';

/** The training method: WS-FCN (one stage) or FickleNet + DSRG (localize, then train a segmentation network). */
export type Method = 'wsfcn' | 'ficklenet';
export const METHODS: readonly Method[] = ['wsfcn', 'ficklenet'];

/** A fully resolved run configuration (what `config.json` in a run folder holds). */
export interface WsssConfig {
  /** WS-FCN (one stage, spec §4) or FickleNet + DSRG (classifier → localization → DSRG, spec §5–§6). */
  method: Method;
  model: {
    /** WS-FCN (FCA + SF2) or a Table I variant: SSSS (ASPP + GCI), FCA + GCI, ASPP + SF2. */
    variant: Variant;
    backbone: {
      width: number;
      depth: 'full' | 'light';
      channels: number[] | null;
      bnMode: 'frozen' | 'frozenStats' | 'batch';
      freezeStem: boolean;
    };
    contextBnMode: 'frozenStats' | 'batch';
    psi: number;
    /** ImageNet backbone weights (`.pth` or `.safetensors`), or null for random initialisation. */
    weights: string | null;
  };
  data: {
    dataset: DatasetKind;
    /**
     * VOC2012 folder, COCO folder, your image folder (`folder`), or where the synthetic set is generated (null:
     * inside the run folder).
     */
    root: string | null;
    trainSplit: string;
    valSplit: string;
    /** `folder`: the image-level labels file (CSV `image,labels`, JSON, JSON lines), paths relative to `root`. */
    labels: string | null;
    /** `folder`: a file of class names (one per line, or a JSON array); null: collected from the labels. */
    classes: string | null;
    /** `folder`: masks named like the images (`<path without extension>.png`, index or palette, 255 = ignore). */
    masks: string | null;
    /** `folder`: the validation images: a fraction of the labelled ones (seeded, stratified) or a file listing them. */
    val: string;
    /** VOC: image labels from the masks (the reference) or from `Annotations/<id>.xml`. */
    labelsFrom: 'mask' | 'xml';
    /**
     * Which training images train on their masks instead of PAMR pseudo labels (semi-supervised): `auto` (folder:
     * every training image that has a mask in `masks`; others: none), `none`, `all`, a fraction of the training
     * images that have masks (`0.1`, seeded), a split name (VOC: `train`, its 1,464 masks) or a file listing them.
     */
    pixelLabels: string;
    /** Skip images, masks or labels the pre-flight scan finds bad (listed in the run folder) instead of stopping. */
    skipBad: boolean;
    /** Check every image, mask and label once before training (cached in the run folder). */
    preflight: boolean;
    synthetic: { train: number; val: number; size: number; numClasses: number; seed: number };
    /** Square training crop side (spec §3.10). */
    crop: number;
    /** RandomResizedCrop area range. */
    scale: number[];
    jitter: boolean;
    /** Worker threads for augmentation (0: on the main thread). */
    workers: number;
  };
  optim: {
    kind: 'sgd' | 'adam';
    lr: number;
    momentum: number;
    weightDecay: number;
    /** Learning-rate multipliers of the four groups (spec §1.6). */
    lrMults: number[];
  };
  train: {
    epochs: number;
    batchSize: number;
    /**
     * Micro-batches per optimizer step (gradient accumulation, WS-FCN): each batch of `batchSize` images runs in
     * this many parts, one after the other, and one update is made from their summed gradients.
     */
    accumulate: number;
    /**
     * Backbone stages (2…7 = b2…b7) whose residual units recompute their activations in the backward pass instead
     * of keeping them (activation recomputation): less memory, one more forward of those stages, same gradients.
     */
    recompute: number[];
    /**
     * The context and fusion modules (FCA, SF2) recompute their activations in the backward pass too, keeping only
     * their inputs (activation recomputation, as for the backbone stages).
     */
    recomputeModules: boolean;
    /** Mask loss from this (0-based) epoch on (TRAIN.PRETRAIN). */
    pretrainEpochs: number;
    maskLossWeight: number;
    focalP: number;
    focalLambda: number;
    pamrIterations: number;
    pamrDilations: number[];
    /** Validate every k epochs (and after the last). */
    valEvery: number;
    /** Cap on validation images (0: all). */
    valImages: number;
    /**
     * What makes a checkpoint `best`: `loss` = 1 − mean validation loss (the reference rule; needs no masks),
     * `miou` (validation masks), `map` (mean average precision of the image labels).
     */
    bestBy: 'loss' | 'miou' | 'map';
    seed: number;
    /**
     * Checkpoints inside epochs (besides epoch ends, Ctrl-C and stops): a time (`30s`, `5m`, `1h`), a step count
     * (`200steps`), both (`10m,500steps`: whichever comes first), or `off`. See {@link parseInterval}.
     */
    checkpointEvery: string;
  };
  eval: {
    scales: number[];
    flip: boolean;
    /** Constant background score of the merged map (spec §4.9). */
    bgScore: number;
    /** Predicted-label cut (spec §3.11). */
    fpCut: number;
    /** Use ground-truth image labels instead of predicted ones (marked in the output). */
    useGtLabels: boolean;
    /** Zero-pad each view, centred, to this square before the forward (reference PAD_SIZE 1024); 0 = none. */
    canvas: number;
    /**
     * Classes the mIoU averages over: `present` = those in the ground truth or the predictions (a class absent from
     * both has no IoU; the VOC convention), `all` = every class, absent ones as 0 (the reference code's average).
     */
    miouOver: 'present' | 'all';
    /**
     * Side of the squares validation and the report batch images at (0: automatic, see `evalSize`); `wsss eval`
     * runs every image at its own size.
     */
    size: number;
  };
  /** The FickleNet + DSRG pipeline (`method: 'ficklenet'`); the backbone, data, optim and batch keys are shared. */
  ficklenet: {
    /** s: window of the stochastic selection (odd). [default] 9 (spec §5.2). */
    kernelSize: number;
    /** p: drop rate of the selection. 0.9 (spec §5.2, Table 5). */
    rate: number;
    /** At most this many epochs of classifier training (fewer when a stop rule ends it). [default] */
    classifierEpochs: number;
    /**
     * At least this many epochs (at most `classifierEpochs`): neither stop rule ends the classifier earlier, and a loss
     * target met before then stays met. 0 [default]: the rules may stop it at any epoch.
     */
    classifierMinEpochs: number;
    /**
     * "Until it fits": stop the classifier once its epoch-mean training loss has not fallen below its best by more
     * than `classifierMinDelta` (a fraction) for this many epochs, provided that best is below the epoch's prior
     * loss (scoring each class at its frequency) by `classifierMinDelta` too; 0 runs exactly `classifierEpochs`.
     * [default]
     */
    classifierPatience: number;
    /** The relative improvement that counts for `classifierPatience`. [default] */
    classifierMinDelta: number;
    /**
     * "Until it fits" as a level: stop the classifier once the mean of its last 5 epoch-mean losses is at most this
     * (and below the class-frequency level by `classifierMinDelta`), or, before `classifierMinEpochs`, at that minimum
     * if the mean has reached the level by then; 0 turns it off. [default] 0.
     */
    classifierTargetLoss: number;
    /**
     * The classifier's learning rate falls along a half cosine from `optim.lr` to 0 over its last this-many epochs of
     * `classifierEpochs` (per step; all of them when larger); 0 keeps it constant. [default] 0 (the paper publishes
     * no schedule, spec §5.2).
     */
    classifierDecayEpochs: number;
    /** Images are resized (not cropped) to this square for localization and DSRG (spec §6.2: 321). */
    size: number;
    /** N_inf random selections per image. [default] 200 (spec §5.3). */
    runs: number;
    aggregate: 'max' | 'mean';
    /**
     * Test-time augmentation of localization: the maps are averaged over these multiples of `size` (and mirrored
     * copies with `localizeFlip`), then renormalised per class — multi-scale CAM inference as in AffinityNet / IRN,
     * a deviation from FickleNet's single scale (spec §5.3). [default] [1].
     */
    localizeScales: number[];
    /** Test-time augmentation of localization: each scale on the mirrored image too. [default] false. */
    localizeFlip: boolean;
    /** θ_fg of the foreground seeds. [default] 0.5. */
    thFg: number;
    /** θ_bg of the low-activation background seeds (a deviation, spec §5.3 item 4). [default] 0.1. */
    thBg: number;
    /**
     * Adaptive foreground seeds: per image and present class, the top `fgQuantile` of the class's map (above θ_fg/5);
     * 0 [default]: the fixed θ_fg (spec §5.3).
     */
    fgQuantile: number;
    /**
     * Where background seeds come from: 'saliency' [default] — a saliency map below `saliencyThreshold`, as
     * FickleNet and DSRG do (spec §5.3 item 4, §6.2), from `saliencyMaps` or else the training-free MB+ detector;
     * 'low-activation' — every present class map below θ_bg.
     */
    background: 'saliency' | 'low-activation';
    /** Background seeds where the saliency is below this. [default] 0.1. */
    saliencyThreshold: number;
    /**
     * With `background: 'saliency'`: foreground seeds only where the saliency is at least this (below
     * `saliencyThreshold` the pixel is background, between unlabelled); 0: the foreground wins wherever its map
     * qualifies (spec §5.3). [default] 0.3, chosen on the demo data.
     */
    fgMinSaliency: number;
    /** A folder of saliency maps, `<id>.png` per image (grayscale, 0–255, the image's size), or null: MB+. */
    saliencyMaps: string | null;
    /** Learning-rate multipliers of the four groups of both stages (spec §6.1: 1/2/10/20). */
    lrMults: number[];
    /** Epochs of DSRG training. */
    dsrgEpochs: number;
    /** Base learning rate of DSRG (spec §6.3 step 5: 5e-4). */
    dsrgLr: number;
    /** Multiply the DSRG learning rate by `dsrgLrGamma` every `dsrgLrStep` steps (spec §6.3: 0.33 / 1000; 0 = never). */
    dsrgLrStep: number;
    dsrgLrGamma: number;
    /** Hidden channels and dilations of the DeepLab-v2 head (spec §6.1: 1024; 6/12/18/24). */
    headChannels: number;
    headDilations: number[];
    /** Region-growing thresholds (spec §6.3 step 3: 0.85 foreground, 0.99 background). */
    growThFg: number;
    growThBg: number;
  };
  backend: BackendChoice;
  /** wasm threads in Node (1 = single-threaded, 'auto' = the cores available, at most 8). */
  threads: number | 'auto';
}

/** Thrown for a configuration or usage problem; main maps it to exit code 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** One key of {@link CONFIG_SCHEMA}: its kind and allowed values, and `doc`, the line `wsss --help` prints. */
export type Field = { doc: string } & (
  | { kind: 'number'; min?: number; max?: number; integer?: boolean; positive?: boolean }
  | { kind: 'threads' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'string'; nullable?: boolean }
  | {
      kind: 'pattern';
      /** Parses the string and throws when it is not allowed (the result is ignored). */
      check: (s: string) => unknown;
      /** What is allowed, for the error message. */
      allowed: string;
    }
  | {
      kind: 'numbers';
      length?: number;
      minLength?: number;
      min?: number;
      integer?: boolean;
      positive?: boolean;
      nullable?: boolean;
    }
  | { kind: 'object'; fields: Record<string, Field> }
);

const int = (doc: string, min = 0, max?: number): Field => ({ kind: 'number', integer: true, min, max, doc });
const pos = (doc: string): Field => ({ kind: 'number', positive: true, doc });
const nonneg = (doc: string): Field => ({ kind: 'number', min: 0, doc });

/** The schema: one entry per configuration key. */
export const CONFIG_SCHEMA: Field = {
  kind: 'object',
  doc: 'run configuration',
  fields: {
    method: {
      kind: 'enum',
      values: METHODS,
      doc: 'wsfcn = WS-FCN, one stage; ficklenet = FickleNet classifier → localization seeds → DSRG',
    },
    model: {
      kind: 'object',
      doc: 'the network',
      fields: {
        variant: {
          kind: 'enum',
          values: VARIANTS,
          doc: 'wsfcn = FCA + SF2 (the paper); ssss = ASPP + GCI; fca-gci; aspp-sf2 (Table I)',
        },
        backbone: {
          kind: 'object',
          doc: 'WideResNet-38 options',
          fields: {
            width: pos('width multiplier of every stage (1 = reference 64…4096)'),
            depth: {
              kind: 'enum',
              values: ['full', 'light'],
              doc: 'full = 3/3/6/3/1/1 units; light = one per stage',
            },
            channels: {
              kind: 'numbers',
              length: 7,
              integer: true,
              positive: true,
              nullable: true,
              doc: 'explicit channels [conv1a, b2…b7] (multiples of 4) overriding width, or null',
            },
            bnMode: {
              kind: 'enum',
              values: ['frozen', 'frozenStats', 'batch'],
              doc: "backbone BatchNorm: 'frozen' with ImageNet weights, 'batch' from scratch",
            },
            freezeStem: { kind: 'boolean', doc: 'freeze conv1a and b2 as the reference does' },
          },
        },
        contextBnMode: {
          kind: 'enum',
          values: ['frozenStats', 'batch'],
          doc: 'BatchNorm of the context module (reference frozenStats)',
        },
        psi: { kind: 'number', min: 0, max: 1, doc: 'ψ of the stochastic gate (spec §3.3)' },
        weights: {
          kind: 'string',
          nullable: true,
          doc: 'ImageNet backbone weights (.pth or .safetensors), or null',
        },
      },
    },
    data: {
      kind: 'object',
      doc: 'data set and augmentation',
      fields: {
        dataset: {
          kind: 'enum',
          values: ['voc', 'coco', 'synthetic', 'folder'],
          doc: 'which reader (folder = your images with a labels file)',
        },
        root: {
          kind: 'string',
          nullable: true,
          doc: 'VOC2012 folder, COCO folder (annotations/, train2014/, val2014/) or synthetic output folder',
        },
        trainSplit: { kind: 'string', doc: 'training split (VOC list name, COCO set; folder: train)' },
        valSplit: { kind: 'string', doc: 'validation split (folder: val)' },
        labels: {
          kind: 'string',
          nullable: true,
          doc: 'folder: image-level labels file (CSV image,labels with ; or | between labels; JSON; JSON lines)',
        },
        classes: {
          kind: 'string',
          nullable: true,
          doc: 'folder: class names file (one per line or a JSON array); null = collected from the labels',
        },
        masks: {
          kind: 'string',
          nullable: true,
          doc: 'folder: masks named like the images (.png, index or palette, 255 = ignore), for scoring and data.pixelLabels',
        },
        val: {
          kind: 'pattern',
          check: parseValSpec,
          allowed: "a fraction in (0, 1) such as '0.1', or a file listing the validation images",
          doc: 'folder: validation images (a seeded, stratified fraction of the labelled images, or a file)',
        },
        labelsFrom: {
          kind: 'enum',
          values: ['mask', 'xml'],
          doc: 'voc: image labels from the masks (reference) or Annotations/<id>.xml (no masks needed)',
        },
        pixelLabels: {
          kind: 'pattern',
          check: parsePixelLabels,
          allowed: "'auto', 'none', 'all', a fraction such as '0.1', a split name or a file",
          doc: 'training images that train on their masks (semi-supervised); auto = folder: all that have one',
        },
        skipBad: {
          kind: 'boolean',
          doc: 'skip the files the pre-flight scan finds bad (listed) instead of stopping',
        },
        preflight: {
          kind: 'boolean',
          doc: 'check every image, mask and label once before training (cached)',
        },
        synthetic: {
          kind: 'object',
          doc: 'synthetic set generation',
          fields: {
            train: int('training images', 1),
            val: int('held-out images', 1),
            size: int('image side in pixels', 32, 1024),
            numClasses: int('object classes', 1, 8),
            seed: int('generator seed', 0),
          },
        },
        crop: int('square training crop side in pixels', 16, 2048),
        scale: {
          kind: 'numbers',
          length: 2,
          positive: true,
          doc: 'RandomResizedCrop area range [from, to] (fractions of the image)',
        },
        jitter: { kind: 'boolean', doc: 'colour jitter (0.3/0.3/0.3/0.1)' },
        workers: int('augmentation worker threads (0 = main thread)', 0, 64),
      },
    },
    optim: {
      kind: 'object',
      doc: 'optimiser',
      fields: {
        kind: { kind: 'enum', values: ['sgd', 'adam'], doc: 'optimiser' },
        lr: pos('base learning rate'),
        momentum: { kind: 'number', min: 0, max: 1, doc: 'SGD momentum' },
        weightDecay: nonneg('L2 weight decay on weights and BN γ'),
        lrMults: {
          kind: 'numbers',
          length: 4,
          min: 0,
          doc: 'LR multipliers of pretrained weights/biases and new weights/biases (spec §1.6)',
        },
      },
    },
    train: {
      kind: 'object',
      doc: 'training schedule and losses',
      fields: {
        epochs: int('epochs to run', 1),
        batchSize: int('images per batch (per optimizer step)', 1),
        accumulate: int(
          'micro-batches per optimizer step: the batch runs in this many parts, one update from their summed gradients (WS-FCN)',
          1,
        ),
        recompute: {
          kind: 'numbers',
          integer: true,
          min: 2,
          doc: 'backbone stages 2…7 (b2…b7) whose units recompute their activations in the backward pass instead of keeping them (less memory, same gradients); [] none',
        },
        recomputeModules: {
          kind: 'boolean',
          doc: 'the context and fusion modules (FCA, SF2) recompute their activations in the backward pass too (WS-FCN)',
        },
        pretrainEpochs: int('mask loss from this 0-based epoch on', 0),
        maskLossWeight: nonneg('weight of the mask loss'),
        focalP: nonneg('focal penalty power p'),
        focalLambda: nonneg('focal penalty weight λ'),
        pamrIterations: int('PAMR iterations', 0, 100),
        pamrDilations: {
          kind: 'numbers',
          minLength: 1,
          integer: true,
          positive: true,
          doc: 'PAMR dilations',
        },
        valEvery: int('validate every k epochs (and after the last)', 1),
        valImages: int('validation images used during training (0 = all)', 0),
        bestBy: {
          kind: 'enum',
          values: ['loss', 'miou', 'map'],
          doc: "best checkpoint by 1 − mean val loss ('loss', the reference), val mIoU, or val mAP",
        },
        seed: int('seed of shuffling, augmentation, dropout and the gate', 0),
        checkpointEvery: {
          kind: 'pattern',
          check: parseInterval,
          allowed: "a time (30s, 5m, 1h), a step count (200steps), both (10m,500steps) or 'off'",
          doc: 'checkpoint inside epochs this often (also at epoch ends, Ctrl-C and stops); kill -9 loses at most this',
        },
      },
    },
    eval: {
      kind: 'object',
      doc: 'inference (spec §3.11, §4.9)',
      fields: {
        scales: { kind: 'numbers', minLength: 1, positive: true, doc: 'test scales' },
        flip: { kind: 'boolean', doc: 'add horizontally flipped views' },
        bgScore: { kind: 'number', min: 0, max: 1, doc: 'constant background score' },
        fpCut: { kind: 'number', min: 0, max: 1, doc: 'predicted-label threshold on sigmoid(score)' },
        useGtLabels: { kind: 'boolean', doc: 'use ground-truth image labels instead of predicted ones' },
        canvas: int(
          'zero-pad each view to this square (reference 1024; 0 = none; skipped when a view is larger)',
          0,
          8192,
        ),
        miouOver: {
          kind: 'enum',
          values: ['present', 'all'],
          doc: "mIoU over the classes present in ground truth or predictions, or over 'all' (absent = 0, the reference code)",
        },
        size: int(
          'side of the squares validation and the report batch at (0 = auto: synthetic native, square folders theirs, else data.crop)',
          0,
          4096,
        ),
      },
    },
    ficklenet: {
      kind: 'object',
      doc: 'FickleNet + DSRG (method ficklenet, spec §5–§6)',
      fields: {
        kernelSize: int('s: window of the stochastic selection (odd)', 1, 31),
        rate: { kind: 'number', min: 0, max: 0.99, doc: 'p: drop rate of the selection' },
        classifierEpochs: int('at most this many epochs of classifier training', 1),
        classifierMinEpochs: int(
          'at least this many epochs of classifier training (capped by classifierEpochs): no stop rule ends it earlier',
          0,
        ),
        classifierPatience: int(
          'stop the classifier after this many epochs without its training loss falling by classifierMinDelta (0: never)',
          0,
        ),
        classifierTargetLoss: {
          kind: 'number',
          min: 0,
          doc: 'stop the classifier once the mean of its last 5 epoch losses is (or, after classifierMinEpochs, has been) at most this (0: never)',
        },
        classifierMinDelta: {
          kind: 'number',
          min: 0,
          max: 1,
          doc: 'relative fall of the epoch-mean loss below its best that counts as progress for classifierPatience',
        },
        classifierDecayEpochs: int(
          "the classifier's learning rate falls along a half cosine to 0 over its last this-many epochs (0: constant)",
          0,
        ),
        size: int('square side images are resized to for localization and DSRG', 16, 2048),
        runs: int('random selections per image for localization maps', 1, 10000),
        aggregate: { kind: 'enum', values: ['max', 'mean'], doc: 'pixel-wise aggregation over selections' },
        localizeScales: {
          kind: 'numbers',
          minLength: 1,
          positive: true,
          doc: 'localization maps averaged over these multiples of size (test-time augmentation; [1]: size alone)',
        },
        localizeFlip: {
          kind: 'boolean',
          doc: 'localization maps averaged with those of the mirrored image too',
        },
        thFg: { kind: 'number', min: 0, max: 1, doc: 'θ_fg: foreground seeds above this map value' },
        thBg: { kind: 'number', min: 0, max: 1, doc: 'θ_bg: background seeds where every map is below' },
        fgQuantile: {
          kind: 'number',
          min: 0,
          max: 1,
          doc: "adaptive foreground seeds: the top fraction of each present class's map per image (0: the fixed θ_fg)",
        },
        background: {
          kind: 'enum',
          values: ['saliency', 'low-activation'],
          doc: 'background seeds from a saliency map (MB+, or saliencyMaps) or where every class map is below θ_bg',
        },
        saliencyThreshold: {
          kind: 'number',
          min: 0,
          max: 1,
          doc: 'background seeds where the saliency is below this',
        },
        fgMinSaliency: {
          kind: 'number',
          min: 0,
          max: 1,
          doc: 'with background saliency: foreground seeds only where the saliency is at least this (0: anywhere)',
        },
        saliencyMaps: {
          kind: 'string',
          nullable: true,
          doc: 'folder of saliency PNGs <id>.png (grayscale, the image size) instead of MB+, or null',
        },
        lrMults: {
          kind: 'numbers',
          length: 4,
          min: 0,
          doc: 'LR multipliers of backbone weights/biases and new weights/biases (spec §6.1)',
        },
        dsrgEpochs: int('epochs of DSRG training (0: stop after the seeds)', 0),
        dsrgLr: pos('base learning rate of DSRG'),
        dsrgLrStep: int('steps between DSRG learning-rate drops (0: constant)', 0),
        dsrgLrGamma: { kind: 'number', positive: true, max: 1, doc: 'factor of each drop' },
        headChannels: int('hidden channels of the DeepLab-v2 head', 1),
        headDilations: {
          kind: 'numbers',
          minLength: 1,
          integer: true,
          positive: true,
          doc: 'dilations of the head branches',
        },
        growThFg: { kind: 'number', min: 0, max: 1, doc: 'region growing: foreground threshold' },
        growThBg: { kind: 'number', min: 0, max: 1, doc: 'region growing: background threshold' },
      },
    },
    backend: {
      kind: 'enum',
      values: ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'],
      doc: 'compute backend',
    },
    threads: { kind: 'threads', doc: "wasm threads in Node: a positive integer or 'auto'" },
  },
};

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'undefined';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** What a field allows, in words. */
export function describeAllowed(f: Field): string {
  switch (f.kind) {
    case 'number': {
      const parts = [f.integer ? 'an integer' : 'a number'];
      if (f.positive) parts.push('> 0');
      if (f.min !== undefined) parts.push(`≥ ${f.min}`);
      if (f.max !== undefined) parts.push(`≤ ${f.max}`);
      return parts.join(' ');
    }
    case 'threads':
      return "a positive integer or 'auto'";
    case 'enum':
      return `one of ${f.values.map((v) => `'${v}'`).join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return f.nullable ? 'a string or null' : 'a non-empty string';
    case 'pattern':
      return f.allowed;
    case 'numbers': {
      const n =
        f.length !== undefined ? `${f.length} ` : f.minLength !== undefined ? `at least ${f.minLength} ` : '';
      const each = `${f.integer ? 'integers' : 'numbers'}${f.positive ? ' > 0' : f.min !== undefined ? ` ≥ ${f.min}` : ''}`;
      return `an array of ${n}${each}${f.nullable ? ', or null' : ''}`;
    }
    case 'object':
      return `an object with keys ${Object.keys(f.fields).join(', ')}`;
  }
}

function bad(key: string, value: unknown, f: Field): never {
  throw new ConfigError(`config: ${key} = ${show(value)} is not allowed; expected ${describeAllowed(f)}`);
}

function checkNumber(v: unknown, f: Extract<Field, { kind: 'number' | 'numbers' }>): boolean {
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (f.integer && !Number.isInteger(v)) return false;
  if (f.positive && !(v > 0)) return false;
  if (f.min !== undefined && v < f.min) return false;
  if ('max' in f && f.max !== undefined && v > f.max) return false;
  return true;
}

/**
 * Checks `value` against `field`; `partial` allows missing keys (for presets and overrides before merging).
 * @throws ConfigError naming the dotted key, the value and what is allowed; unknown keys list the known ones.
 */
export function validate(value: unknown, field: Field = CONFIG_SCHEMA, key = '', partial = false): void {
  const name = key || '(root)';
  switch (field.kind) {
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) bad(name, value, field);
      const obj = value as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        if (!(k in field.fields)) {
          throw new ConfigError(
            `config: unknown key '${key ? `${key}.` : ''}${k}'; allowed keys here are ${Object.keys(field.fields).join(', ')}`,
          );
        }
      }
      for (const [k, sub] of Object.entries(field.fields)) {
        const child = key ? `${key}.${k}` : k;
        if (!(k in obj) || obj[k] === undefined) {
          if (partial) continue;
          throw new ConfigError(`config: ${child} is missing; expected ${describeAllowed(sub)}`);
        }
        validate(obj[k], sub, child, partial);
      }
      return;
    }
    case 'number':
      if (!checkNumber(value, field)) bad(name, value, field);
      return;
    case 'threads':
      if (value !== 'auto' && !(typeof value === 'number' && Number.isInteger(value) && value >= 1))
        bad(name, value, field);
      return;
    case 'enum':
      if (typeof value !== 'string' || !field.values.includes(value)) bad(name, value, field);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') bad(name, value, field);
      return;
    case 'string':
      if (value === null && field.nullable) return;
      if (typeof value !== 'string' || value === '') bad(name, value, field);
      return;
    case 'pattern':
      if (typeof value !== 'string') bad(name, value, field);
      try {
        field.check(value);
      } catch {
        bad(name, value, field);
      }
      return;
    case 'numbers':
      if (value === null && field.nullable) return;
      if (!Array.isArray(value)) bad(name, value, field);
      if (field.length !== undefined && value.length !== field.length) bad(name, value, field);
      if (field.minLength !== undefined && value.length < field.minLength) bad(name, value, field);
      if (!value.every((v) => checkNumber(v, field))) bad(name, value, field);
      return;
  }
}

/** The schema field at a dotted key, or undefined. */
export function fieldAt(key: string, root: Field = CONFIG_SCHEMA): Field | undefined {
  let f: Field | undefined = root;
  for (const part of key.split('.')) {
    if (f?.kind !== 'object') return undefined;
    f = f.fields[part];
  }
  return f;
}

/** Every leaf key of the schema with its field, in schema order (for `--help` and the README). */
export function leafKeys(root: Field = CONFIG_SCHEMA, prefix = ''): [string, Field][] {
  if (root.kind !== 'object') return [[prefix, root]];
  return Object.entries(root.fields).flatMap(([k, f]) => leafKeys(f, prefix ? `${prefix}.${k}` : k));
}

/**
 * Parses a command-line string for the field at `key` (`--set key=value`, or an option mapped to a key):
 * numbers, booleans (true/false/yes/no/1/0), comma-separated arrays, `null` where allowed.
 * @throws ConfigError for an unknown key or a value that does not parse.
 */
export function parseValue(key: string, text: string): unknown {
  const f = fieldAt(key);
  if (!f || f.kind === 'object') {
    throw new ConfigError(
      `config: unknown key '${key}'; settable keys are ${leafKeys()
        .map(([k]) => k)
        .join(', ')}`,
    );
  }
  const t = text.trim();
  // a value that does not parse is reported as typed (JSON would print NaN as null)
  const num = (s: string) => {
    const n = s.trim() === '' ? Number.NaN : Number(s);
    if (!Number.isFinite(n))
      throw new ConfigError(
        `config: ${key} = ${JSON.stringify(text)} is not allowed; expected ${describeAllowed(f)}`,
      );
    return n;
  };
  switch (f.kind) {
    case 'number':
      return num(t);
    case 'threads':
      return t === 'auto' ? 'auto' : num(t);
    case 'boolean':
      if (/^(true|yes|1|on)$/i.test(t)) return true;
      if (/^(false|no|0|off)$/i.test(t)) return false;
      return t;
    case 'string':
      return f.nullable && (t === 'null' || t === '') ? null : t;
    case 'pattern':
      return t;
    case 'numbers':
      if (f.nullable && t === 'null') return null;
      return t
        .replace(/^\[|\]$/g, '')
        .split(',')
        .map(num);
    case 'enum':
      return t;
  }
}

/** Sets a dotted key in a nested plain object, creating objects on the way. */
export function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    if (o[p] === undefined || o[p] === null || typeof o[p] !== 'object') o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]!] = value;
}

/** Deep-merges plain objects (arrays and scalars replace). Returns a new object. */
export function deepMerge<T>(base: T, ...overrides: unknown[]): T {
  const isObj = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  const merge = (a: unknown, b: unknown): unknown => {
    if (b === undefined) return a;
    if (isObj(a) && isObj(b)) {
      const out: Record<string, unknown> = { ...a };
      for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v);
      return out;
    }
    return Array.isArray(b) ? [...b] : b;
  };
  let out: unknown = structuredClone(base);
  for (const o of overrides) out = merge(out, o);
  return out as T;
}

/**
 * Parses an interval such as `train.checkpointEvery` or `--stop-after`: comma-separated terms, each a time (`30s`,
 * `5m`, `2h`, `1h30m`) or a step count (`500steps`, `1step`); `off` (or `0`) is neither. Both criteria may be
 * given: whichever comes first counts.
 * @throws Error for anything else.
 */
export function parseInterval(text: string): { seconds: number; steps: number } {
  const t = text.trim().toLowerCase();
  const r = { seconds: 0, steps: 0 };
  if (t === 'off' || t === '0') return r;
  const units: Record<string, number> = { s: 1, m: 60, h: 3600 };
  for (const term of t.split(',').map((x) => x.replace(/\s+/g, ''))) {
    const steps = /^(\d+)steps?$/.exec(term);
    if (steps) {
      if (r.steps || !(Number(steps[1]) > 0)) throw new Error(`bad step count ${JSON.stringify(term)}`);
      r.steps = Number(steps[1]);
      continue;
    }
    if (!/^(\d+(\.\d+)?[hms])+$/.test(term)) throw new Error(`cannot read ${JSON.stringify(term)}`);
    let seconds = 0;
    for (const m of term.matchAll(/(\d+(?:\.\d+)?)([hms])/g)) seconds += Number(m[1]) * units[m[2]!]!;
    if (r.seconds || !(seconds > 0)) throw new Error(`bad time ${JSON.stringify(term)}`);
    r.seconds = seconds;
  }
  return r;
}

/** `data.val`: a fraction in (0, 1) or a file path. */
export function parseValSpec(text: string): { fraction: number } | { file: string } {
  const t = text.trim();
  if (t === '') throw new Error('empty');
  if (/^[0-9.]+$/.test(t)) {
    const f = Number(t);
    if (!(f > 0 && f < 1)) throw new Error(`fraction ${t} outside (0, 1)`);
    return { fraction: f };
  }
  return { file: t };
}

/** `data.pixelLabels` (see {@link WsssConfig}). */
export function parsePixelLabels(
  text: string,
):
  | { kind: 'auto' | 'none' | 'all' }
  | { kind: 'fraction'; fraction: number }
  | { kind: 'named'; name: string } {
  const t = text.trim();
  if (t === '') throw new Error('empty');
  if (t === 'auto' || t === 'none' || t === 'all') return { kind: t };
  if (/^[0-9.]+$/.test(t)) {
    const f = Number(t);
    if (!(f >= 0 && f <= 1)) throw new Error(`fraction ${t} outside [0, 1]`);
    return f === 0 ? { kind: 'none' } : f === 1 ? { kind: 'all' } : { kind: 'fraction', fraction: f };
  }
  return { kind: 'named', name: t };
}
