/**
 * The page: pick, drop or choose a sample image → WS-FCN masks (+ PAMR, + CRF) drawn over it, a class legend and
 * the time of each step. Query parameters: `engine` (tfjs or onnx; default tfjs), `ep` (ONNX Runtime's execution
 * provider for engine onnx: wasm or webgpu; default wasm), `backend` (tfjs backend, for the tfjs engine's network and
 * every engine's pre- and post-processing: auto, webgpu, webgl, wasm, cpu; default auto), `pamr` and `crf` (0 turns
 * a refinement off; both on by default), `maxSide` (longer image side the image is scaled down to, default 512).
 * The report names the engine and backend that ran, the model's load time and the time per image.
 * `window.wsssPage` exposes the state for tests and the console.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendChoice, type BackendRequest, chooseBackend } from './backend.js';
import { classColor, overlayMask } from './palette.js';
import {
  ENGINES,
  type EngineName,
  loadSegmenter,
  ONNX_EPS,
  type OnnxEp,
  type Segmentation,
  type Segmenter,
} from './segmenter.js';
import './style.css';

/** What the page exposes on `window.wsssPage`. */
export interface PageState {
  /** Settles when the backend is set and the model loaded (rejects with the reason otherwise). */
  ready: Promise<void>;
  /** The tfjs backend: the tfjs engine's, and every engine's pre- and post-processing. */
  backend?: BackendChoice;
  /** The engine that runs the network, as loaded (an onnx WebGPU request may run on wasm: see `notes`). */
  engine?: { name: EngineName; label: string; ep?: OnnxEp; notes: string[] };
  /** Time to load the model for the engine (once per page load), in milliseconds. */
  modelLoadMs?: number;
  /** Segmentations finished so far. */
  runs: number;
  busy: boolean;
  last?: Segmentation & { name: string; numTensors: number };
  error?: string;
  numTensors(): number;
}

declare global {
  interface Window {
    wsssPage: PageState;
  }
}

const params = new URLSearchParams(location.search);
const backendRequest = (params.get('backend') ?? 'auto') as BackendRequest;
const engineRequest = (params.get('engine') ?? 'tfjs') as EngineName;
const epRequest = (params.get('ep') ?? 'wasm') as OnnxEp;
const maxSide = Number(params.get('maxSide') ?? 512);

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: no #${id}`);
  return e as T;
}

const fileInput = el<HTMLInputElement>('file');
const pamrBox = el<HTMLInputElement>('pamr');
const crfBox = el<HTMLInputElement>('crf');
const backendSelect = el<HTMLSelectElement>('backend');
const engineSelect = el<HTMLSelectElement>('engine');
const epSelect = el<HTMLSelectElement>('ep');
const status = el<HTMLElement>('status');
const reportEngine = el<HTMLElement>('report-engine');
const reportTime = el<HTMLElement>('report-time');
const legend = el<HTMLUListElement>('legend');
pamrBox.checked = params.get('pamr') !== '0';
crfBox.checked = params.get('crf') !== '0';
backendSelect.value = backendRequest;
engineSelect.value = engineRequest;
epSelect.value = epRequest;
epSelect.disabled = engineRequest !== 'onnx';

const state: PageState = {
  ready: Promise.resolve(),
  runs: 0,
  busy: false,
  numTensors: () => tf.memory().numTensors,
};
window.wsssPage = state;

function say(text: string, error = false): void {
  status.textContent = text;
  status.classList.toggle('error', error);
}

let segmenter: Segmenter | undefined;
let current: { name: string; pixels: ImageData } | undefined;

/** An image file as RGBA pixels, scaled down so that its longer side is at most `maxSide`. */
async function decode(blob: Blob): Promise<ImageData> {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const h = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  return ctx.getImageData(0, 0, w, h);
}

function draw(id: string, pixels: ImageData | null, caption: string): void {
  const figure = el<HTMLElement>(id);
  figure.hidden = pixels === null;
  if (!pixels) return;
  const canvas = figure.querySelector('canvas')!;
  canvas.width = pixels.width;
  canvas.height = pixels.height;
  canvas.getContext('2d')!.putImageData(pixels, 0, 0);
  figure.querySelector('figcaption')!.textContent = caption;
}

const ms = (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;

function renderLegend(seg: Segmentation, names: string[]): void {
  const final = (seg.crf ?? seg.pamr ?? seg.network).classes;
  const counts = new Array<number>(names.length).fill(0);
  for (const c of final) counts[c]!++;
  legend.replaceChildren(
    ...names.map((name, c) => {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      const [r, g, b] = classColor(c);
      swatch.style.background = c === 0 ? 'transparent' : `rgb(${r},${g},${b})`;
      const share = (100 * counts[c]!) / final.length;
      const score = c > 0 ? ` · score ${seg.scores[c - 1]!.toFixed(2)}` : ' (not tinted)';
      li.append(swatch, `${name} — ${share.toFixed(1)}%${score}`);
      li.classList.toggle('absent', counts[c] === 0);
      li.dataset['class'] = String(c);
      return li;
    }),
  );
}

async function segmentCurrent(): Promise<void> {
  if (!segmenter || !current) return;
  const { name, pixels } = current;
  const seg = await segmenter.segment(pixels, { pamr: pamrBox.checked, crf: crfBox.checked });
  draw('view-image', pixels, `${name} · ${pixels.width}×${pixels.height}`);
  draw('view-network', overlayMask(pixels, seg.network.classes), `network · ${ms(seg.network.ms)}`);
  draw(
    'view-pamr',
    seg.pamr ? overlayMask(pixels, seg.pamr.classes) : null,
    `+ PAMR · ${ms(seg.pamr?.ms ?? 0)}`,
  );
  draw('view-crf', seg.crf ? overlayMask(pixels, seg.crf.classes) : null, `+ CRF · ${ms(seg.crf?.ms ?? 0)}`);
  renderLegend(seg, segmenter.info.classNames);
  const steps = [`inference ${ms(seg.network.ms)}`];
  if (seg.pamr) steps.push(`PAMR ${ms(seg.pamr.ms)}`);
  if (seg.crf) steps.push(`CRF ${ms(seg.crf.ms)}`);
  say(`${steps.join(' · ')} — ${seg.engine}`);
  const views = `${seg.views} view${seg.views === 1 ? '' : 's'}`;
  const split =
    seg.forwardMs === undefined
      ? `forward and post-processing, ${views}`
      : `forward ${ms(seg.forwardMs)} for ${views} + pre/post-processing ${ms(seg.network.ms - seg.forwardMs)}`;
  reportTime.textContent = `time per image (${pixels.width}×${pixels.height}): ${ms(seg.network.ms)} (${split})`;
  state.last = { ...seg, name, numTensors: tf.memory().numTensors };
}

// One segmentation at a time; a change while one runs (new image, a toggle) schedules exactly one more.
let again = false;
async function refresh(): Promise<void> {
  if (state.busy) {
    again = true;
    return;
  }
  state.busy = true;
  try {
    do {
      again = false;
      await segmentCurrent();
      state.runs++;
    } while (again);
  } catch (e) {
    state.error = (e as Error).message;
    say(`segmentation failed: ${state.error}`, true);
  } finally {
    state.busy = false;
  }
}

async function openImage(name: string, blob: Blob): Promise<void> {
  try {
    current = { name, pixels: await decode(blob) };
  } catch (e) {
    say(`cannot read ${name} as an image: ${(e as Error).message}`, true);
    return;
  }
  await refresh();
}

fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  if (file) void openImage(file.name, file);
});
for (const box of [pamrBox, crfBox]) box.addEventListener('change', () => void refresh());
// a new backend or engine loads the page again with the choice in its address
for (const [select, name] of [
  [backendSelect, 'backend'],
  [engineSelect, 'engine'],
  [epSelect, 'ep'],
] as const) {
  select.addEventListener('change', () => {
    params.set(name, select.value);
    location.search = params.toString();
  });
}
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const file = e.dataTransfer?.files[0];
  if (file) void openImage(file.name, file);
});
/**
 * The sample buttons: `samples/index.json`, written by `npm run web:model` (two held-out images of the demo's
 * synthetic set; none for a model trained on other data or imported — pick or drop an image then).
 */
async function addSamples(): Promise<void> {
  const base = `${import.meta.env.BASE_URL}samples/`;
  const res = await fetch(`${base}index.json`);
  const files: unknown = res.ok ? await res.json() : [];
  const samples = el<HTMLElement>('samples');
  if (!Array.isArray(files) || !files.length) {
    samples.textContent = 'none for this model';
    return;
  }
  for (const file of files.map(String)) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = file.replace(/\.png$/, '');
    button.addEventListener('click', async () => {
      const r = await fetch(`${base}${file}`);
      if (r.ok) await openImage(file, await r.blob());
      else say(`cannot load sample ${file}: HTTP ${r.status}`, true);
    });
    samples.append(button);
  }
}
void addSamples();

state.ready = (async () => {
  if (!ENGINES.includes(engineRequest))
    throw new Error(`engine must be one of ${ENGINES.join(', ')}, got '${engineRequest}'`);
  if (engineRequest === 'onnx' && !ONNX_EPS.includes(epRequest))
    throw new Error(`ep must be one of ${ONNX_EPS.join(', ')}, got '${epRequest}'`);
  say('starting the backend…');
  state.backend = await chooseBackend(backendRequest);
  say(`loading the model (engine ${engineRequest}, backend ${state.backend.name})…`);
  const t = performance.now();
  segmenter = await loadSegmenter(`${import.meta.env.BASE_URL}model/`, {
    engine: engineRequest,
    ep: epRequest,
    backend: state.backend.name,
  });
  state.modelLoadMs = performance.now() - t;
  const { engine } = segmenter;
  state.engine = {
    name: engine.name,
    label: engine.label,
    notes: engine.notes,
    ...(engine.ep ? { ep: engine.ep } : {}),
  };
  const tfjs = `TensorFlow.js ${tf.version_core} · ${state.backend.name}`;
  reportEngine.textContent =
    engine.name === 'tfjs'
      ? `engine: ${engine.label}`
      : `engine: ${engine.label}; pre/post-processing: ${tfjs}`;
  el<HTMLElement>('report-notes').replaceChildren(
    ...engine.notes.map((note) => {
      const li = document.createElement('li');
      li.textContent = note;
      return li;
    }),
  );
  el<HTMLElement>('report-load').textContent =
    `model loaded in ${ms(state.modelLoadMs)} (once per page load)`;
  const skipped = state.backend.skipped.length ? ` (skipped: ${state.backend.skipped.join('; ')})` : '';
  say(
    `ready — ${engine.label}, backend ${state.backend.name}${skipped}; model loaded in ${ms(state.modelLoadMs)}. Pick or drop an image.`,
  );
  const { classNames, checkpoint } = segmenter.info;
  el<HTMLElement>('model').textContent =
    `WS-FCN${checkpoint ? ` (${checkpoint})` : ''}, ${classNames.length - 1} classes: ${classNames.slice(1).join(', ')}`;
})();
state.ready.catch((e: Error) => {
  state.error = e.message;
  say(`could not start: ${e.message}`, true);
});
