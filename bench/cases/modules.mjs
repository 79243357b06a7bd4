// WS-FCN module benches (bench/run.mjs protocol), at the full-size training shapes (spec §4.6), training mode,
// forward + backward w.r.t. the inputs and every trainable weight (upstream gradient dy). Paired with
// bench/torch/modules.py.
// - fca-fwdbwd/321: FCA (spec §4.2) on conv6 2×41×41×4096 → 256 (BNs frozen stats, dropout on), batch 2.
// - sf2-fwdbwd/321: Align (§4.3) + SF2 (§4.4) on conv3 2×81×81×256 and the context 2×41×41×256, batch 2;
//   sf2-fwdbwd/321-b1: the same at batch 1.
// Each case runs in its own child process (a wasm abort must not lose the other rows; batch 2 of SF2 peaks near
// 2.6 GB of wasm heap). Correctness against the PyTorch twins: bench/crosscheck.mjs.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Fca } from '@wsss/fca';
import { Align, Sf2 } from '@wsss/sf2';
import { emit, initBackend, quick, tf, timeIt } from './_util.mjs';

// Heavy: wasm (and webgpu) only; the plain-JS cpu backend prints no rows (WSSS_BENCH_ALL_BACKENDS=1 forces it).
if (/--backend=cpu\b/.test(process.argv.join(' ')) && process.env.WSSS_BENCH_ALL_BACKENDS !== '1') {
  process.stdout.write('[]\n');
  process.exit(0);
}
const CASES = ['fca-fwdbwd/321', 'sf2-fwdbwd/321', 'sf2-fwdbwd/321-b1'];
const one = process.env.WSSS_BENCH_CASE;

if (!one) {
  const rows = [];
  const only = process.env.WSSS_BENCH_ID;
  for (const id of CASES) {
    if (only && !id.includes(only)) continue;
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      encoding: 'utf8',
      env: { ...process.env, WSSS_BENCH_CASE: id },
      maxBuffer: 16 << 20,
    });
    const line = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('['))
      .pop();
    if (r.status === 0 && line) rows.push(...JSON.parse(line));
    else
      process.stderr.write(
        `[modules] ${id} failed (exit ${r.status}): ${r.stderr.split('\n').slice(-12).join('\n')}\n`,
      );
  }
  process.stdout.write(`${JSON.stringify(rows)}\n`); // the children's rows as they are (threads set by each child)
} else {
  const backend = await initBackend();
  const rnd = (shape, seed) => tf.randomNormal(shape, 0, 1, 'float32', seed);

  /** Forward + backward: grads of Σ out·dy w.r.t. the inputs and the layers' trainable weights. */
  const fwdBwd = (inputs, layers, forward, dys) => {
    const xs = inputs.map((x) => tf.variable(x));
    const vars = [...xs, ...layers.flatMap((l) => l.trainableWeights.map((w) => w.read()))];
    return () => {
      const { value, grads } = tf.variableGrads(() => {
        const outs = forward(xs);
        return tf.addN(outs.map((o, i) => tf.sum(tf.mul(o, dys[i]))));
      }, vars);
      return [value, ...Object.values(grads)];
    };
  };

  let row;
  if (one === 'fca-fwdbwd/321') {
    const n = 2;
    const x = rnd([n, 41, 41, 4096], 1);
    const dy = rnd([n, 41, 41, 256], 2);
    const fca = new Fca({ name: 'fca' });
    tf.dispose(fca.apply(x, { training: false }));
    const step = fwdBwd([x], [fca], ([v]) => [fca.apply(v, { training: true })], [dy]);
    row = { ...timeIt(step, { warmup: 1, reps: 3 }), note: `batch ${n}, 41x41x4096 -> 256` };
  } else {
    const n = one.endsWith('-b1') ? 1 : 2;
    const conv3 = rnd([n, 81, 81, 256], 3);
    const ctx = rnd([n, 41, 41, 256], 4);
    const dh = rnd([n, 81, 81, 256], 5);
    const dv = rnd([n, 81, 81, 256], 6);
    const align = new Align({ name: 'align1', projectChannels: 128 });
    const sf2 = new Sf2({ name: 'sf2', channels: 256 });
    tf.dispose(sf2.apply([conv3, align.apply([conv3, ctx])]));
    const step = fwdBwd(
      [conv3, ctx],
      [align, sf2],
      ([l, h]) => sf2.apply([l, align.apply([l, h], { training: true })], { training: true }),
      [dh, dv],
    );
    row = {
      ...timeIt(step, { warmup: 1, reps: quick ? 3 : 5 }),
      note: `batch ${n}, conv3 81x81x256 + ctx 41x41x256`,
    };
  }
  emit([{ id: one, impl: backend, ms: row.ms, reps: row.reps, threads: 1, note: row.note }]);
}
