/**
 * Presets: complete configurations that options and config files override. `voc` is the reference
 * configuration (spec §4.8), `coco` its COCO deviations, `demo` the embedded CPU demo (DESIGN §5).
 * The demo's numbers live here and nowhere else: tune `DEMO_PRESET` (and `DEMO_QUICK`).
 */
import { WSFCN_LOSS_DEFAULTS } from '../train/step.js';
import { deepMerge, type WsssConfig } from './schema.js';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> | T[K] : T[K] };
export type PartialConfig = DeepPartial<WsssConfig>;

/** The reference WS-FCN configuration (spec §4.8, §3.10, §3.11, §4.9). */
export const VOC_PRESET: WsssConfig = {
  method: 'wsfcn',
  model: {
    variant: 'wsfcn',
    backbone: { width: 1, depth: 'full', channels: null, bnMode: 'frozen', freezeStem: true },
    contextBnMode: 'frozenStats',
    psi: 0.3,
    weights: null,
  },
  data: {
    dataset: 'voc',
    root: null,
    trainSplit: 'train_aug',
    valSplit: 'val',
    synthetic: { train: 600, val: 200, size: 128, numClasses: 5, seed: 0 },
    crop: 321,
    scale: [0.9, 1.0],
    jitter: true,
    workers: 0,
    labels: null,
    classes: null,
    masks: null,
    val: '0.1',
    labelsFrom: 'mask',
    pixelLabels: 'auto',
    skipBad: false,
    preflight: true,
  },
  optim: { kind: 'sgd', lr: 1e-3, momentum: 0.9, weightDecay: 5e-4, lrMults: [1, 2, 20, 40] },
  train: {
    epochs: 31, // NUM_EPOCHS 30, range inclusive: epochs 0…30 (spec §4.1)
    batchSize: 16,
    accumulate: 1,
    recompute: [],
    recomputeModules: false,
    // losses, PAMR, focal penalty: the reference values of the training step (spec §3.5–§3.8, §4.8)
    pretrainEpochs: WSFCN_LOSS_DEFAULTS.pretrainEpochs,
    maskLossWeight: WSFCN_LOSS_DEFAULTS.maskLossWeight,
    focalP: WSFCN_LOSS_DEFAULTS.focalP,
    focalLambda: WSFCN_LOSS_DEFAULTS.focalLambda,
    pamrIterations: WSFCN_LOSS_DEFAULTS.pamrIterations,
    pamrDilations: [...WSFCN_LOSS_DEFAULTS.pamrDilations],
    valEvery: 2, // every even epoch (spec §3.10)
    valImages: 0,
    bestBy: 'loss',
    seed: 0,
    checkpointEvery: '5m',
  },
  eval: {
    scales: [1, 0.5, 1.5, 2],
    flip: true,
    bgScore: 0.25,
    fpCut: 0.1,
    useGtLabels: false,
    canvas: 1024,
    miouOver: 'present',
    size: 0,
  },
  // FickleNet + DSRG (method ficklenet): spec §5.2–§5.3 and DSRG's train-s/solver-s (§6.1–§6.3); the classifier's
  // epochs are not published ([default]): it trains until its epoch-mean loss has not fallen 2 % below its best for
  // 5 epochs, at most 30. Patience 5, not 3 (2026-12-03): 3 ended the demo's classifier mid-descent on both synthetic
  // sets — on `shapes` after epoch 23 (best 0.172 at 20; 0.102 at 30), on `scenes` after 18 (best 0.162 at 15; 0.148
  // at 30, 0.141 at 40) — each time at a three-epoch pause of a loss that went on falling
  ficklenet: {
    kernelSize: 9,
    rate: 0.9,
    classifierEpochs: 30,
    classifierMinEpochs: 0,
    classifierPatience: 5,
    classifierMinDelta: 0.02,
    classifierTargetLoss: 0,
    classifierDecayEpochs: 0,
    size: 321,
    runs: 200,
    aggregate: 'max',
    localizeScales: [1],
    localizeFlip: false,
    thFg: 0.5,
    thBg: 0.1,
    fgQuantile: 0,
    background: 'saliency',
    saliencyThreshold: 0.1,
    // [default] foreground seeds only where the saliency is ≥ 0.3 (the paper lets the map win everywhere): chosen on
    // the demo's `shapes` set, where DSRG rose from 68.3 / 69.8 % (training seeds 0 / 1) to 75.9 / 75.1 % (0.1:
    // 74.3 / 74.8; 0.5: 74.6 on seed 0); 0 restores the paper's rule
    fgMinSaliency: 0.3,
    saliencyMaps: null,
    lrMults: [1, 2, 10, 20],
    dsrgEpochs: 15, // 8000 iterations of batch 20 over train_aug's 10,582 images
    dsrgLr: 5e-4,
    dsrgLrStep: 1000,
    dsrgLrGamma: 0.33,
    headChannels: 1024,
    headDilations: [6, 12, 18, 24],
    growThFg: 0.85,
    growThBg: 0.99,
  },
  backend: 'auto',
  threads: 1,
};

/**
 * The configuration a run folder or checkpoint saved, completed for this version and with `overrides` on top: keys
 * added since it was written take the reference defaults, except a key whose default changed what a run does — a
 * saved config without it keeps the behaviour it was run with (a resumed run continues as it began, and a checkpoint
 * localizes as its run did).
 */
export function savedConfig(saved: PartialConfig, ...overrides: PartialConfig[]): WsssConfig {
  const before: PartialConfig = {};
  // ficklenet.fgMinSaliency (2026-12-03, default 0.3): before it, foreground seeds were never gated by saliency
  if (saved.ficklenet && saved.ficklenet.fgMinSaliency === undefined) before.ficklenet = { fgMinSaliency: 0 };
  return deepMerge(VOC_PRESET, saved, before, ...overrides);
}

/** COCO 2014: PAMR 5 iterations and focal λ 0.1 (spec §4.8 comments); 80 classes come from the data. */
export const COCO_PRESET: WsssConfig = deepMerge(VOC_PRESET, {
  data: { dataset: 'coco', trainSplit: 'train2014', valSplit: 'val2014' },
  train: { pamrIterations: 5, focalLambda: 0.1 },
} satisfies PartialConfig);

/**
 * The embedded demo: synthetic set (600 train + 200 held-out, 128×128, seed 0), width-reduced light WS-FCN
 * trained from scratch with batch-statistics BN, Adam, on wasm. Budget: 330 s on 2 CPU cores (`DEMO_BUDGET_SECONDS`),
 * so that a fresh clone's `npm ci && npm run demo` takes at most 6 minutes.
 */
// Sized for the first run: [8…128] channels at 96 px, a batch-16 step ≈ 0.55–0.66 s on wasm with 2 threads, an
// epoch ≈ 20–24 s. 13 epochs (2026-12-02/03, background score 0.5): the whole demo in 286–297 s with held-out mIoU
// 72.0 / 64.1 / 57.5 / 54.8 / 69.0 % for train seeds 0 / 1 / 2 / 3 / 4 — seed-sensitive: seed 3 is still climbing
// (66.9 % at 16 epochs, ~350 s, over the budget), seed 2 never learns one class (53.4 % at 20 epochs). The learning
// rate is constant, so a shorter run is the first epochs of a longer one. History: 20 epochs gave 65.2 / 65.7 %
// at the reference's background score 0.25 (2026-11-21); 12 epochs had stopped mid-climb (51.5–64 %), 16 gave
// 60.3 %, both at 0.25. Shorter runs were tried again on 2026-12-02 (80 px crops, 10–16 epochs, 2 classification epochs,
// higher learning rates: 228–340 s) and are not robust: seed 1 stays on the classification-only plateau (the mask
// loss's gate open on ~20 % of the images) until epoch 8–9, and the final epochs swing by ±8 points (80 px, 16
// epochs: 54.0 % for seed 0, 62.1 % for seed 1; 12 epochs: 61.7 / 51.7 %). Evaluation adds a background score of
// 0.5 instead of 0.25: chosen on a separate synthetic set (generator seed 7, 200 images), where it lifted the
// 20-epoch model from 67.3 to 71.8 % (held-out 65.2 → 69.8 %), and every shorter run's model by 6–9 points.
export const DEMO_PRESET: WsssConfig = deepMerge(VOC_PRESET, {
  model: {
    backbone: {
      channels: [8, 16, 32, 64, 128, 128, 128],
      depth: 'light',
      bnMode: 'batch',
      freezeStem: false,
    },
    contextBnMode: 'batch',
  },
  data: {
    dataset: 'synthetic',
    trainSplit: 'train',
    valSplit: 'val',
    synthetic: { train: 600, val: 200, size: 128, numClasses: 5, seed: 0 },
    crop: 96,
    scale: [0.9, 1.0],
    jitter: true,
  },
  optim: { kind: 'adam', lr: 1e-3, momentum: 0, weightDecay: 0, lrMults: [1, 1, 1, 1] },
  // validation on 50 held-out images every 4 epochs keeps it cheap; the report then scores all 200
  train: { epochs: 13, batchSize: 16, pretrainEpochs: 3, pamrIterations: 10, valEvery: 4, valImages: 50 },
  // two views (scale 1 + flip) per image: the multi-scale merge costs ~3× more for little gain at 128 px
  eval: { scales: [1], flip: true, canvas: 0, bgScore: 0.5 },
  // method ficklenet on the demo data: the 128-px images whole (16×16 maps); a 3×3 selection window keeps the
  // paper's window-to-map ratio (9 on VOC's 41×41 maps); a head sized to the maps; Adam
  ficklenet: {
    kernelSize: 3,
    // 80 epochs, the stop rule off (2026-12-03, chosen on `shapes`, training seeds 0 / 1): the loss goes on falling
    // past 40 (0.075 / 0.092 at 40; best 0.018 at 66 / 0.019 at 74) but jumps by ±50 % between epochs near zero,
    // which the rule (patience 5, 2 %) reads as a pause: it would stop them after 42 / 43. DSRG held-out mIoU:
    // 40 epochs 76.8 / 76.8 %, 80 epochs 77.3 / 77.1 %. Before, at most 40 with the rule (30 until earlier on
    // 2026-12-03: 76.1 / 75.1 %). The whole run: 17.5 minutes on 2 threads, 11 with 40 epochs. 120 epochs (θ_fg 0.6)
    // over training seeds 0–3: DSRG 78.3 / 78.4 / 78.8 / 76.0 % against 78.7 / 77.6 / 77.2 / 78.2 % (mean 77.9 both).
    // A loss target instead of the count (classifierTargetLoss 0.035, the five-epoch mean loss these 80 epochs reach
    // here: stops at 64 / 64 / 80 / 73) gave 78.2 / 75.8 / 77.2 / 78.0 % (mean 77.3), so it is not a replacement
    // (2026-12-04). Since later that day the count is a floor and the level a stop after it ("until it fits": the
    // loss decides, not a count): at least 80 epochs, then on until the five-epoch mean has reached 0.035, at most
    // 160. On `shapes` all four training seeds have reached it by epoch 80 (above), so they train exactly the 80
    // epochs they did; a set whose loss falls later (on `scenes` it is 0.076 at epoch 80) trains on until it fits
    classifierEpochs: 160,
    classifierMinEpochs: 80,
    classifierTargetLoss: 0.035,
    classifierPatience: 0,
    // θ_fg 0.6, not the paper's 0.5 (2026-12-03, chosen on `shapes` with the 80-epoch classifiers, training seeds
    // 0 / 1): DSRG held-out mIoU 0.5 → 77.3 / 77.1 %, 0.6 → 78.7 / 77.6 %, 0.7 → 77.7 / 77.1 %; foreground seeds
    // (seed 0) 94.3 / 34.4 % → 95.7 / 24.7 % precision / recall. A cosine tail on the classifier's learning rate
    // (classifierDecayEpochs 40) was measured too: 77.3 / 77.0 %, not adopted
    thFg: 0.6,
    size: 128,
    lrMults: [1, 1, 1, 1],
    dsrgEpochs: 6,
    dsrgLr: 1e-3,
    dsrgLrStep: 0,
    headChannels: 64,
    headDilations: [2, 4, 6, 8],
  },
  backend: 'wasm',
  threads: 2,
} satisfies PartialConfig);

/** `wsss demo --quick`: the demo pipeline on tiny data in seconds (for tests and smoke checks). */
export const DEMO_QUICK: PartialConfig = {
  model: { backbone: { channels: [4, 4, 8, 8, 8, 8, 8] } },
  data: { synthetic: { train: 36, val: 16, size: 32 }, crop: 32 }, // 36 / 8: the dropped remainder is exercised
  train: { epochs: 2, batchSize: 8, pretrainEpochs: 1, pamrIterations: 2, valEvery: 1 },
  eval: { scales: [1], flip: false },
  ficklenet: {
    classifierEpochs: 2,
    size: 32,
    runs: 8,
    dsrgEpochs: 1,
    headChannels: 8,
    headDilations: [1, 2],
  },
};

export const PRESETS = { voc: VOC_PRESET, coco: COCO_PRESET, demo: DEMO_PRESET } as const;
export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
