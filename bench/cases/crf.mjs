// Dense CRF bench (bench/run.mjs protocol): WS-FCN's post-processing CRF (spec §4.9: Gaussian sxy 3/compat 3,
// bilateral sxy 30/srgb 13/compat 10, 10 mean-field iterations) on a synthetic 500×375 VOC-sized image, one core.
// Target from issue #7: pydensecrf takes ~2.9 s for 500×375, 21 labels, 10 iterations on one core.
// Pure JS on typed arrays (no tfjs): rows have impl 'js' and are printed once, for --backend=wasm (the default);
// other backends print no rows.
import { wsFcnCrf } from '@wsss/crf';
import { scene } from './_crfScene.mjs';

const backendArg = process.argv.find((a) => a.startsWith('--backend='));
const backend = backendArg ? backendArg.split('=')[1] : 'wasm';
if (backend !== 'wasm') {
  process.stdout.write('[]\n');
  process.exit(0);
}
const quick = process.env.WSSS_BENCH_QUICK === '1';

function time(fn, { warmup = 1, reps = 5 } = {}) {
  if (quick) reps = Math.min(reps, 2);
  for (let i = 0; i < warmup; i++) fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const med = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { ms: Number(med(wall).toFixed(1)), cpuMs: Number(med(cpu).toFixed(1)), reps };
}

const W = 500;
const H = 375;
const rows = [];
const all = Array.from({ length: 21 }, (_, l) => l);
for (const [id, present, presentClasses] of [
  ['crf/500x375-21labels', all, all.slice(1)],
  ['crf/500x375-4labels', [0, 3, 8, 15], undefined],
]) {
  const { image, fg, truth } = scene(W, H, present, 7);
  let result;
  const t = time(() => {
    result = wsFcnCrf(image, fg, presentClasses);
  });
  let correct = 0;
  for (let i = 0; i < W * H; i++) if (result.labels[i] === truth[i]) correct++;
  rows.push({
    id,
    impl: 'js',
    ms: t.ms,
    reps: t.reps,
    threads: 1,
    note:
      `WS-FCN settings, 10 iterations, ${result.activeLabels.length} active labels, JS + WebAssembly SIMD kernels` +
      `${presentClasses ? ' (presentClasses given)' : ' (auto: unary probability ≥ 1e-4)'}; ` +
      `median process CPU ${t.cpuMs} ms; pixel accuracy vs the synthetic truth ${(correct / (W * H)).toFixed(3)}`,
  });
}
process.stdout.write(`${JSON.stringify(rows)}\n`);
