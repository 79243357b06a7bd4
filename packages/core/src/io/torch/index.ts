/** PyTorch `.pth` checkpoint reading (browser-safe): `export * from './io/torch/index.js'`. */
export {
  detectPthFormat,
  type FindStateDictOptions,
  findStateDict,
  type ParsePthOptions,
  type PthDtype,
  type PthFile,
  parsePth,
  TorchTensor,
} from './pth.js';
export { pthToTensors } from './toTf.js';
export {
  PickleGlobal,
  PickleObject,
  type UnpickleOptions,
  type UnpickleResult,
  unpickle,
} from './unpickle.js';
export { crc32, type ReadZipOptions, readZip, type ZipArchive, type ZipEntry } from './zip.js';
