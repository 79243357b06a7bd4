/**
 * @wsss/datasets — PASCAL VOC 2012 (+SBD), MS COCO 2014, folders of own images and a synthetic WSSS set;
 * palette PNG masks read as class indices, spec §3.10 augmentation, spec §3.11 inference views, and a
 * prefetching, resumable loader that turns batches into NHWC tensors at the edge.
 */

export { CocoDataset, type CocoOptions } from './coco/cocoDataset.js';
export { fillPolygons } from './coco/polygon.js';
export { decodeRleString, encodeRleString, rleToMask } from './coco/rle.js';
export { IMAGE_EXTENSIONS, ImageFolderDataset, type ImageFolderOptions } from './folder/imageFolder.js';
export { type LabelRow, parseLabelsFile, readClassNames } from './folder/labelsFile.js';
export { formatProblems, type ScanOptions, scanDataset } from './folder/scan.js';
export { stratifiedSplit } from './folder/split.js';
export { writeFileAtomic } from './io/atomicWrite.js';
export type { RandomAccessDataset, StreamOptions } from './io/dataset.js';
export * from './io/errors.js';
export {
  type DecodeImageOptions,
  decodeImageBytes,
  encodeImage,
  readImage,
  writeImage,
} from './io/image.js';
export {
  type DecodedIndexPng,
  decodeIndexPng,
  encodeIndexPng,
  readIndexPng,
  writeIndexPng,
} from './io/indexPng.js';
export * from './io/types.js';
export {
  type Batch,
  DataLoader,
  type LoaderOptions,
  type LoaderPosition,
  type PreparedSample,
  type SampleTransform,
} from './loader/loader.js';
export { type BatchTensors, batchToTensors, disposeBatchTensors } from './loader/tensors.js';
export { overlayMask, writeOverlay, writePredictionPng } from './predictions/writePredictions.js';
export { type MatValue, parseMat5 } from './sbd/mat5.js';
export { convertSbdToPng, readSbdClsMat } from './sbd/sbd.js';
export {
  type GenerateSyntheticOptions,
  generateSyntheticSet,
  type SyntheticGenerator,
  type SyntheticSetSummary,
} from './synthetic/generate.js';
export {
  renderSyntheticSample,
  SYNTHETIC_CLASSES,
  SYNTHETIC_MAX_CLASSES,
  type SyntheticRenderOptions,
  type SyntheticSample,
} from './synthetic/render.js';
export { mixSeed, Rng } from './synthetic/rng.js';
export {
  renderSceneSample,
  SCENE_CLASS_IDS,
  SCENE_CLASS_NAMES,
  SCENE_MAX_CLASSES,
  type SceneRenderOptions,
} from './synthetic/scenes.js';
export {
  type AugmentedSample,
  type AugmentOptions,
  augmentTrain,
  colorJitter,
  flipHorizontal,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalizeImageNet,
  sampleCropBox,
  toUnitFloat,
} from './transforms/augment.js';
export {
  type InferenceViewOptions,
  type InferenceViews,
  makeInferenceViews,
  type ViewPlacement,
  viewToOriginal,
} from './transforms/inferenceViews.js';
export { type Box, resizeBicubic, resizeBilinearFloat, resizeNearest } from './transforms/resize.js';
export { VOC_CLASSES, VOC_NUM_CLASSES, vocColorMap } from './voc/classes.js';
export { CLASSES_FILE, VocDataset, type VocOptions } from './voc/vocDataset.js';
