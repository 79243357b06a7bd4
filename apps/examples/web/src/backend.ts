/**
 * Backend choice for the page: webgpu when the browser has a hardware adapter, else webgl when it renders on a
 * GPU, else wasm (XNNPACK, SIMD), else cpu. Software renderers (SwiftShader, llvmpipe) are skipped in `auto`:
 * they run slower than wasm (DESIGN §3). A backend named explicitly (`?backend=webgl`) is used even in software.
 *
 * Every backend package is imported on demand, so the page downloads only the one it uses.
 */

import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import { provideModule, setBackend } from '@wsss/core';

export const PAGE_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];
export type BackendRequest = 'auto' | PageBackend;

/** The backend in use and why the ones before it were passed over. */
export interface BackendChoice {
  name: PageBackend;
  skipped: string[];
}

// @wsss/core's setBackend imports optional backend packages by name at run time; a bundle has to hand them over.
provideModule('@tensorflow/tfjs-backend-cpu', () => import('@tensorflow/tfjs-backend-cpu'));
provideModule('@tensorflow/tfjs-backend-webgpu', () => import('@tensorflow/tfjs-backend-webgpu'));
provideModule('@tensorflow/tfjs-backend-wasm', async () => {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // The .wasm binaries are emitted by Vite next to the bundle (hashed names); tfjs picks one of them by what the
  // browser supports (threads need a cross-origin-isolated page).
  wasm.setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmUrl,
    'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
  });
  return wasm;
});

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

/** The WebGL renderer string, or null without WebGL 2. */
function webglRenderer(): string | null {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return null;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return renderer;
}

async function useWebgl(explicit: boolean): Promise<void> {
  const renderer = webglRenderer();
  if (renderer === null) throw new Error('webgl: this browser has no WebGL 2');
  if (!explicit && SOFTWARE_RENDERER.test(renderer))
    throw new Error(`webgl: software renderer (${renderer}), slower than wasm`);
  await import('@tensorflow/tfjs-backend-webgl');
  if (!(await tf.setBackend('webgl'))) throw new Error('webgl: initialisation failed');
  await tf.ready();
}

async function use(name: PageBackend, explicit: boolean): Promise<void> {
  if (name === 'webgl') return useWebgl(explicit);
  // webgpu: a software adapter only when asked for by name; setBackend says why when none is found.
  await setBackend(name, name === 'webgpu' ? { allowSoftwareAdapter: explicit } : {});
}

/** Sets the backend: the one asked for, or the first of webgpu → webgl → wasm → cpu that starts. */
export async function chooseBackend(request: BackendRequest): Promise<BackendChoice> {
  if (request !== 'auto') {
    if (!PAGE_BACKENDS.includes(request))
      throw new Error(`backend must be auto or one of ${PAGE_BACKENDS.join(', ')}, got '${String(request)}'`);
    await use(request, true);
    return { name: request, skipped: [] };
  }
  const skipped: string[] = [];
  for (const name of PAGE_BACKENDS) {
    try {
      await use(name, false);
      return { name, skipped };
    } catch (e) {
      skipped.push((e as Error).message);
    }
  }
  throw new Error(`no backend could start:\n${skipped.join('\n')}`);
}
