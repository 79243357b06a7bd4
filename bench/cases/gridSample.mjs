// gridSample bench (bench/run.mjs protocol): the WS-FCN AlignModule warp (spec §4.3), a (N,41,41,256) map
// sampled onto an 81×81 grid (identity + small flow), bilinear, zeros, alignCorners=true. Forward alone, and
// forward + backward w.r.t. x and grid. Paired with bench/torch/gridSample.py.
import { gridSample } from '@wsss/core';
import { emit, initBackend, quick, tf, timeIt } from './_util.mjs';

const backend = await initBackend();

function seeded(n, seed, scale = 1) {
  let s = seed >>> 0;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return v;
}

function problem(n) {
  const [h, w, c, ho, wo] = [41, 41, 256, 81, 81];
  const x = tf.tensor4d(seeded(n * h * w * c, 1), [n, h, w, c]);
  const flow = seeded(n * ho * wo * 2, 2, 0.05);
  const g = new Float32Array(n * ho * wo * 2);
  for (let p = 0; p < n * ho * wo; p++) {
    g[2 * p] = -1 + (2 * (p % wo)) / (wo - 1) + flow[2 * p];
    g[2 * p + 1] = -1 + (2 * (Math.floor(p / wo) % ho)) / (ho - 1) + flow[2 * p + 1];
  }
  const grid = tf.tensor4d(g, [n, ho, wo, 2]);
  const dy = tf.tensor4d(seeded(n * ho * wo * c, 3), [n, ho, wo, c]);
  return { x, grid, dy };
}

const rows = [];
const batches = quick ? [2] : [2, 16];
for (const n of batches) {
  const { x, grid, dy } = problem(n);
  const shape = `${n}x41x41x256-to-81`;
  const reps = n > 2 ? 5 : 20;
  const f = (a, b) => gridSample(a, b, { alignCorners: true });
  if (n === 2) {
    const fwd = timeIt(() => f(x, grid), { reps });
    rows.push({ id: `gridSample-fwd/${shape}`, impl: backend, ...fwd, threads: 1 });
  }
  const fb = timeIt(() => tf.grads(f)([x, grid], dy), { reps, warmup: n > 2 ? 1 : 3 });
  rows.push({ id: `gridSample-fwdbwd/${shape}`, impl: backend, ...fb, threads: 1 });
  tf.dispose([x, grid, dy]);
}
emit(rows);
