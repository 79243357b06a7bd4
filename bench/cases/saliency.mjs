// MB+ saliency bench (bench/run.mjs protocol), spec §5.3 item 4: `mbdSaliency` (@wsss/ficklenet) with its defaults
// (working size 300 px, Lab, 5×5 median, 3 FastMBD passes, backgroundness, centre bias, smoothing by reconstruction,
// contrast stretch) on a structured image — sky gradient, textured ground, two objects — at 321×321 (WS-FCN's crop)
// and 500×375 (a VOC photo), and at the demo's 128 px. The target (#20): ≤ 20 ms at 321×321 on one core.
// Pure JS + WebAssembly SIMD on typed arrays (no tfjs): rows have impl 'js' and are printed once, for --backend=wasm
// (the default); other backends print no rows. No torch pair: the authors' code is C++/OpenCV, not packaged here.
// Each row also gives `jsOnlyMs`: the same call with WebAssembly switched off (the fallback for engines without
// SIMD), from a second process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mbdSaliency } from '@wsss/ficklenet';

const backendArg = process.argv.find((a) => a.startsWith('--backend='));
const backend = backendArg ? backendArg.split('=')[1] : 'wasm';
const jsOnly = process.argv.includes('--js-only');
if (backend !== 'wasm' && !jsOnly) {
  process.stdout.write('[]\n');
  process.exit(0);
}
const quick = process.env.WSSS_BENCH_QUICK === '1';

/** A deterministic W×H RGB picture: a sky gradient over textured ground, a red ellipse and a blue one. */
function scene(W, H) {
  let s = 12345;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let rgb;
      if (y < H * 0.55) rgb = [120 + (y / H) * 96, 160 + (y / H) * 64, 230 - (y / H) * 32];
      else {
        const t = rnd() * 60;
        rgb = [70 + t, 110 + t * 0.8, 50 + t * 0.5];
      }
      const ax = (x - W * 0.45) / (W * 0.18);
      const ay = (y - H * 0.5) / (H * 0.25);
      if (ax * ax + ay * ay < 1) rgb = [200 + rnd() * 30, 40 + rnd() * 20, 40];
      const bx = (x - W * 0.78) / (W * 0.08);
      const by = (y - H * 0.7) / (H * 0.12);
      if (bx * bx + by * by < 1) rgb = [30, 30 + rnd() * 40, 140];
      for (let c = 0; c < 3; c++) data[(y * W + x) * 3 + c] = rgb[c] + (rnd() - 0.5) * 16;
    }
  return { width: W, height: H, data };
}

/** Median of `reps` calls, after 20 unmeasured ones (V8 optimises the loops over the first dozen or so calls). */
function time(fn, reps) {
  for (let i = 0; i < 20; i++) fn();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return Number(t[Math.floor(t.length / 2)].toFixed(2));
}

const reps = quick ? 5 : 50;
const sizes = [
  ['saliency/mbd-321', 321, 321],
  ['saliency/mbd-500x375', 500, 375],
  ['saliency/mbd-128', 128, 128],
];
if (jsOnly) {
  delete globalThis.WebAssembly; // before the first call: the kernels are looked up once
  process.stdout.write(
    `${JSON.stringify(sizes.map(([id, W, H]) => ({ id, ms: time(() => mbdSaliency(scene(W, H)), reps) })))}\n`,
  );
  process.exit(0);
}
const rows = sizes.map(([id, W, H]) => {
  const image = scene(W, H);
  return {
    id,
    impl: 'js',
    ms: time(() => mbdSaliency(image), reps),
    reps,
    threads: 1,
    note: `${W}x${H} RGB, defaults`,
  };
});
const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--js-only'], {
  encoding: 'utf8',
  env: process.env,
});
const plain = child.status === 0 ? JSON.parse(child.stdout.trim().split('\n').pop()) : [];
for (const row of rows) row.jsOnlyMs = plain.find((p) => p.id === row.id)?.ms ?? null;
process.stdout.write(`${JSON.stringify(rows)}\n`);
