/**
 * Node-only helpers (file system). Import from '@wsss/core/node'.
 *
 * Importing this entry registers `file://` save/load routers for tfjs (unless one exists already, e.g. from
 * tfjs-node), so `model.save('file://dir')` and `tf.loadLayersModel('file://dir/model.json')` work.
 */
import { registerFileRouters } from './fileIO.js';

export { readPth } from '../io/torch/node.js';
export { isTempName, syncFolder, tempOwner, tempPathFor, writeFileAtomic } from './atomicWrite.js';
export { filePathOf, fileSystem, loadLayersModelFromFile, registerFileRouters } from './fileIO.js';
export { readSafetensorsFile, writeSafetensorsFile } from './safetensorsFile.js';

registerFileRouters();
