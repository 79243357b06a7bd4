/**
 * @wsss/onnx — export of wsss networks (WS-FCN and its Table I variants, the DSRG segmentation network) from
 * TensorFlow.js to ONNX, for inference on ONNX Runtime (CPU, WebGPU, CUDA) with outputs equal to the tfjs forward.
 */

export { describeOnnx, type OnnxDescription, type OnnxTensorInfo } from './describe.js';
export {
  type ExportOnnxOptions,
  exportOnnx,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  ONNX_SUPPORTED_LAYERS,
  type OnnxHead,
  type OnnxLayout,
  WSFCN_REFERENCE_OUTPUTS,
} from './export.js';
export {
  loadOnnxRuntime,
  ONNX_EXECUTION_PROVIDERS,
  ONNXRUNTIME_INSTALL,
  type OnnxExecutionProvider,
  OnnxSession,
  type OnnxSessionInfo,
  type OnnxSessionOptions,
  type OrtModuleLike,
  type OrtSessionLike,
  type OrtTensorLike,
} from './runtime.js';
