#!/usr/bin/env node
// WS-FCN inference forward on three engines in lockstep (not part of the tests):
//   - tfjs: wsss on the wasm backend (SIMD; 1 thread = the plain SIMD build, more = the threaded-SIMD build through
//     setBackend's `wasmThreads`), `applyModel(model, x, { training: false })`;
//   - onnx: the same model exported with `exportOnnx` (@wsss/onnx) on onnxruntime-node's CPU provider
//     (intraOpNumThreads = threads, interOpNumThreads = 1);
//   - torch: PyTorch 1.13 (/usr/bin/python3, torch.set_num_threads) running bench/torch/_wsfcn.py's twin, served
//     by bench/torch/_serve_wsfcn.py.
// The network is `createWsFcn` as the CLI's `voc` preset builds it (full ResNet-38d, FCA + SF2, ψ 0.3, 20 classes,
// frozen BNs), batch 1, seeded initialisation. Its weights are written once with `exportStateDict` as a safetensors
// file that the torch twin loads (and a second Node process loads back), so all engines run the same weights.
//
// For every thread count one Node process (tfjs + ORT; wasm threads are fixed when its backend starts) and one
// Python process are started and kept; for every size each engine runs one warm-up forward (whose logits give the
// parity check), then `--reps` rounds of one forward per engine, the engine order rotating from round to round.
// Ratios tfjs/ORT and torch/ORT are taken within each round; the reported ratio is the median of those.
//
//   node bench/onnx.mjs [--sizes=321x321,375x500] [--threads=1,2] [--reps=3] [--engines=tfjs,onnx,torch]
//                       [--out=<file>] [--dir=<scratch folder>] [--keep]
// Sizes are H×W. Prints one JSON object on stdout (and writes it to --out), a table on stderr. Needs the built
// packages (`npx turbo run build`). Scratch files (weights ~0.6 GB, ONNX ~0.6 GB, inputs) go to --dir (default a
// fresh folder under the OS temp dir), removed at the end unless --keep.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { benchDir as here, machine, median, parseArgs } from './lib.mjs';

const args = parseArgs();
const SEED = 20261202;
const NUM_CLASSES = 20;

/**
 * Max |a − b| and max |ref| (the parity metric of @wsss/onnx's README, `rel` = their quotient, relative to the tfjs
 * logits) and `relL2` = ‖a − b‖₂ / ‖ref‖₂ over the whole tensor.
 */
function parity(a, ref) {
  if (a.length !== ref.length) throw new Error(`parity: ${a.length} vs ${ref.length} values`);
  let d = 0;
  let m = 0;
  let d2 = 0;
  let r2 = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - ref[i]);
    if (e > d || Number.isNaN(e)) d = e;
    const r = Math.abs(ref[i]);
    if (r > m) m = r;
    d2 += e * e;
    r2 += r * r;
  }
  return {
    maxAbsDiff: Number(d.toExponential(3)),
    refMaxAbs: Number(m.toPrecision(4)),
    rel: Number((d / m).toExponential(3)),
    relL2: Number(Math.sqrt(d2 / r2).toExponential(3)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Worker (`--serve`): tfjs + ONNX Runtime in one Node process, one thread count.
// ---------------------------------------------------------------------------------------------------------------
async function serve() {
  const threads = Number(args.threads ?? 1);
  const dir = args.dir;
  const tf = await import('@tensorflow/tfjs-core');
  const core = await import('@wsss/core');
  const coreNode = await import('@wsss/core/node');
  const { createWsFcn, VOC_PRESET } = await import('@wsss/cli');
  const { describeOnnx, exportOnnx } = await import('@wsss/onnx');
  const ort = await import('onnxruntime-node');
  const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const ms = (t0) => Number((performance.now() - t0).toFixed(1));
  const info = { threads };

  await core.setBackend('wasm', { wasmThreads: threads });
  info.backend = core.describeBackend();

  // the network as the CLI's `voc` preset builds it (commands/common.ts buildNet), seeded
  const m = VOC_PRESET.model;
  const { channels, ...backbone } = m.backbone;
  const config = {
    numClasses: NUM_CLASSES,
    backbone: channels ? { ...backbone, channels } : backbone,
    context: 'fca',
    fusion: 'sf2',
    psi: m.psi,
    contextBnMode: m.contextBnMode,
  };
  let t0 = performance.now();
  core.seedRandom(SEED);
  const net = createWsFcn(config);
  core.seedRandom(null);
  info.buildMs = ms(t0);
  info.config = config;
  info.params = net.countParameters();

  // identical weights everywhere: the first worker writes them, later ones load them back
  const weightsFile = join(dir, 'wsfcn-voc.safetensors');
  t0 = performance.now();
  if (existsSync(weightsFile)) {
    const file = await coreNode.readSafetensorsFile(weightsFile);
    const r = core.loadStateDict(net.model, file.tensors, net.stateDictRules(), { release: true });
    info.weights = { loadedFrom: 'safetensors', loaded: r.loaded.length, ms: ms(t0) };
  } else {
    const sd = await core.exportStateDict(net.model, net.stateDictRules());
    await coreNode.writeSafetensorsFile(weightsFile, sd);
    info.weights = { exported: sd.size, ms: ms(t0) };
  }

  const onnxFile = join(dir, 'wsfcn-voc.onnx');
  let bytes;
  if (existsSync(onnxFile)) {
    bytes = new Uint8Array(readFileSync(onnxFile));
  } else {
    t0 = performance.now();
    bytes = exportOnnx(net.model);
    info.onnxExportMs = ms(t0);
    writeFileSync(onnxFile, bytes);
  }
  const d = describeOnnx(bytes);
  info.onnx = {
    bytes: bytes.length,
    opset: d.opset,
    irVersion: d.irVersion,
    nodeCount: d.nodeCount,
    initializerCount: d.initializerCount,
    parameterCount: d.parameterCount,
    inputs: d.inputs.map((o) => `${o.name} [${o.shape}]`),
    outputs: d.outputs.map((o) => `${o.name} [${o.shape}]`),
  };
  t0 = performance.now();
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  info.onnx.sessionCreateMs = ms(t0);
  info.onnx.ortVersion = ort.env?.versions?.common ?? null;
  bytes = null;
  const outName = session.outputNames[0];
  say({ ready: true, info });

  let x = null; // tf tensor (1, H, W, 3)
  let xo = null; // ort tensor over the same data
  let shape = null;
  const kept = {}; // warm-up logits per engine, for the parity check
  const heap = () => tf.backend().wasm?.HEAPU8?.length ?? null;
  const engines = {
    tfjs: () => {
      const y = core.applyModel(net.model, x, { training: false });
      const data = y.dataSync();
      const s = y.shape;
      y.dispose();
      return { data, shape: s };
    },
    onnx: async () => {
      const r = await session.run({ image: xo });
      return { data: r[outName].data, shape: [...r[outName].dims] };
    },
  };
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line);
    if (msg.cmd === 'quit') break;
    if (msg.cmd === 'input') {
      if (x) x.dispose();
      shape = [1, msg.h, msg.w, 3];
      x = tf.tidy(() => {
        const raw = tf.randomUniform(shape, 0, 1, 'float32', SEED + msg.h * 1000 + msg.w);
        return tf.div(tf.sub(raw, [0.485, 0.456, 0.406]), [0.229, 0.224, 0.225]);
      });
      const data = x.dataSync();
      writeFileSync(msg.path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      xo = new ort.Tensor('float32', data, shape);
      for (const k of Object.keys(kept)) delete kept[k];
      say({ ok: true, numTensors: tf.memory().numTensors });
    } else if (msg.cmd === 'run') {
      const c = process.cpuUsage();
      const t = performance.now();
      const out = await engines[msg.engine]();
      const elapsed = performance.now() - t;
      const cpu = process.cpuUsage(c);
      if (msg.keep) kept[msg.engine] = out;
      say({
        ms: elapsed,
        cpuMs: (cpu.user + cpu.system) / 1000,
        outShape: out.shape,
        numTensors: tf.memory().numTensors,
        wasmHeapBytes: heap(),
      });
    } else if (msg.cmd === 'parity') {
      const r = {};
      const ref = kept.tfjs;
      if (ref && kept.onnx) r.onnxVsTfjs = parity(kept.onnx.data, ref.data);
      if (msg.torchPath && existsSync(msg.torchPath)) {
        const b = readFileSync(msg.torchPath);
        const t = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
        if (ref) r.torchVsTfjs = parity(t, ref.data);
        if (kept.onnx) r.torchVsOnnx = parity(t, kept.onnx.data);
      }
      r.logitsShape = (ref ?? kept.onnx)?.shape ?? null;
      say(r);
    } else {
      say({ error: `unknown command ${msg.cmd}` });
    }
  }
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------------------------
// Orchestrator.
// ---------------------------------------------------------------------------------------------------------------

/** A child served over JSON lines: `ask(obj)` resolves to its next JSON reply. */
function start(label, cmd, argv) {
  const child = spawn(cmd, argv, { cwd: join(here, '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    for (;;) {
      const { value, done } = await lines.next();
      if (done) throw new Error(`${label} ended early (exit ${child.exitCode}, signal ${child.signalCode})`);
      if (!value.startsWith('{')) continue;
      const o = JSON.parse(value);
      if (o.error) throw new Error(`${label}: ${o.error}`);
      return o;
    }
  };
  return {
    child,
    ready: next(),
    ask(obj) {
      child.stdin.write(`${JSON.stringify(obj)}\n`);
      return next();
    },
    async stop() {
      child.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
      if (child.exitCode === null && child.signalCode === null)
        await new Promise((res) => child.once('exit', res));
    },
  };
}

async function main() {
  const sizes = (args.sizes ?? '321x321,375x500').split(',').map((s) => {
    const [h, w] = s.toLowerCase().split('x').map(Number);
    if (!(h > 0 && w > 0)) throw new Error(`bad size '${s}' (H×W, e.g. 375x500)`);
    return { h, w, label: `${h}x${w}` };
  });
  const threadList = (args.threads ?? '1,2').split(',').map(Number);
  const reps = Math.max(1, Number(args.reps ?? 3));
  const engines = (args.engines ?? 'tfjs,onnx,torch').split(',');
  for (const e of engines)
    if (!['tfjs', 'onnx', 'torch'].includes(e)) throw new Error(`unknown engine '${e}' (tfjs, onnx, torch)`);
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'wsss-onnx-bench-'));
  mkdirSync(dir, { recursive: true });
  const log = (s) => process.stderr.write(`[onnx] ${s}\n`);
  const r3 = (x) => Number(x.toFixed(3));
  const loadStart = loadavg().map((x) => Number(x.toFixed(2)));
  const started = [];
  const cleanup = () => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill();
  };
  process.on('exit', cleanup);

  const setup = [];
  const results = [];
  let onnxInfo = null;
  try {
    for (const threads of threadList) {
      log(`threads ${threads}: building the network (Node: tfjs + ORT) …`);
      const node = start(`node worker (${threads} threads)`, process.execPath, [
        fileURLToPath(import.meta.url),
        '--serve',
        `--threads=${threads}`,
        `--dir=${dir}`,
      ]);
      started.push(node.child);
      const nodeInfo = (await node.ready).info;
      log(
        `  tfjs ${JSON.stringify(nodeInfo.backend)}, build ${nodeInfo.buildMs} ms, weights ${JSON.stringify(nodeInfo.weights)}, ` +
          `ONNX ${(nodeInfo.onnx.bytes / 2 ** 20).toFixed(1)} MiB, session ${nodeInfo.onnx.sessionCreateMs} ms`,
      );
      if (!onnxInfo) {
        const { sessionCreateMs, ...rest } = nodeInfo.onnx;
        onnxInfo = { ...rest, exportMs: nodeInfo.onnxExportMs ?? null, sessionCreateMs: {} };
      }
      onnxInfo.sessionCreateMs[threads] = nodeInfo.onnx.sessionCreateMs;
      let torch = null;
      let torchInfo = null;
      if (engines.includes('torch')) {
        log(`threads ${threads}: starting PyTorch …`);
        torch = start(`torch (${threads} threads)`, python, [
          join(here, 'torch', '_serve_wsfcn.py'),
          '--threads',
          String(threads),
          '--weights',
          join(dir, 'wsfcn-voc.safetensors'),
        ]);
        started.push(torch.child);
        const { ready: _r, ...rest } = await torch.ready;
        torchInfo = rest;
        if (torchInfo.missingKeys.length || torchInfo.unexpectedKeys.length)
          throw new Error(
            `torch twin: weights do not match (missing ${torchInfo.missingKeys.slice(0, 5)}, unexpected ${torchInfo.unexpectedKeys.slice(0, 5)})`,
          );
        log(`  torch ${JSON.stringify(torchInfo)}`);
        torchInfo.missingKeys = torchInfo.missingKeys.length; // (0: checked above)
      }
      const { onnx: _o, config, ...tfjsInfo } = nodeInfo;
      setup.push({ threads, node: tfjsInfo, torch: torchInfo });

      const runners = {
        tfjs: (keep) => node.ask({ cmd: 'run', engine: 'tfjs', keep }),
        onnx: (keep) => node.ask({ cmd: 'run', engine: 'onnx', keep }),
        torch: (keep) => torch.ask({ cmd: 'run', count: keep }), // the warm-up counts the multiply-adds
      };
      for (const size of sizes) {
        const inputPath = join(dir, `x-${size.label}.f32`);
        await node.ask({ cmd: 'input', h: size.h, w: size.w, path: inputPath });
        if (torch) await torch.ask({ cmd: 'input', h: size.h, w: size.w, path: inputPath });
        const warm = {};
        let heapBytes = null;
        let gmac = null;
        for (const e of engines) {
          const r = await runners[e](true);
          warm[e] = r.ms / 1000;
          if (r.gmac) gmac = r.gmac;
          if (e === 'tfjs') heapBytes = r.wasmHeapBytes;
          log(`${size.label} ${threads}t warm-up ${e}: ${(r.ms / 1000).toFixed(2)} s`);
        }
        let torchPath;
        if (torch) {
          torchPath = join(dir, `torch-${size.label}.f32`);
          await torch.ask({ cmd: 'dump', path: torchPath });
        }
        const par = await node.ask({ cmd: 'parity', torchPath });
        log(`${size.label} ${threads}t parity ${JSON.stringify(par)}`);
        const rounds = [];
        let numTensors = null;
        for (let i = 0; i < reps; i++) {
          const order = engines.map((_, j) => engines[(i + j) % engines.length]);
          const round = {};
          const cpu = {};
          for (const e of order) {
            const r = await runners[e](false);
            round[e] = r.ms / 1000;
            cpu[e] = r.cpuMs / r.ms;
            if (e === 'tfjs') {
              heapBytes = Math.max(heapBytes ?? 0, r.wasmHeapBytes ?? 0);
              numTensors = r.numTensors;
            }
          }
          rounds.push({ order, s: round, cpu });
          log(
            `${size.label} ${threads}t round ${i + 1}/${reps}: ${order.map((e) => `${e} ${round[e].toFixed(2)} s`).join(', ')}`,
          );
        }
        const per = {};
        for (const e of engines) {
          const s = rounds.map((r) => r.s[e]);
          per[e] = {
            medianS: r3(median(s)),
            minS: r3(Math.min(...s)),
            runsS: s.map(r3),
            warmupS: r3(warm[e]),
            // process CPU time / wall time during the forward: ≈ the cores the engine kept busy
            cpuPerWall: Number(median(rounds.map((r) => r.cpu[e])).toFixed(2)),
            ...(gmac ? { gflopPerS: Number(((2 * gmac.nonPadding) / median(s)).toFixed(1)) } : {}),
          };
        }
        const ratios = {};
        if (engines.includes('onnx')) {
          for (const e of ['tfjs', 'torch']) {
            if (!engines.includes(e)) continue;
            const rr = rounds.map((r) => r.s[e] / r.s.onnx);
            ratios[`${e}/onnx`] = {
              median: Number(median(rr).toFixed(2)),
              rounds: rr.map((x) => Number(x.toFixed(2))),
            };
          }
        }
        results.push({
          id: `wsfcn-infer/voc-${size.label}`,
          size: size.label,
          h: size.h,
          w: size.w,
          threads,
          reps,
          engines: per,
          ratios,
          parity: par,
          gmac,
          ...(engines.includes('tfjs')
            ? {
                tfjsWasmHeapMiB: heapBytes ? Math.round(heapBytes / 2 ** 20) : null,
                tfjsNumTensors: numTensors,
              }
            : {}),
        });
      }
      await node.stop();
      if (torch) await torch.stop();
    }
  } finally {
    cleanup();
    if (!args.keep && !args.dir) rmSync(dir, { recursive: true, force: true });
  }

  const out = {
    date: new Date().toISOString(),
    machine: { ...machine(), loadavg: { start: loadStart, end: loadavg().map((x) => Number(x.toFixed(2))) } },
    id: 'wsfcn-infer/voc',
    network:
      "createWsFcn with the CLI's voc preset: full ResNet-38d (64…4096 channels, units 3/3/6/3/1/1), FCA + align + " +
      'SF2, ψ 0.3, 20 classes, frozen BNs; inference forward (eval), batch 1, NHWC input (ORT, tfjs), NCHW (torch)',
    params: setup[0]?.node.params ?? null,
    weights: {
      identical: true,
      how:
        'the tfjs model is built once with seedRandom and written with exportStateDict (PyTorch names and layouts) ' +
        'to a safetensors file; the torch twin loads it with load_state_dict (every parameter and BN statistic; ' +
        'only num_batches_tracked left, checked: no missing or unexpected key); a later Node worker (other thread ' +
        'count) builds the same seeded model and loadStateDict-s the file (strict); the ONNX file is exported from ' +
        'the tfjs model; `parity` confirms',
      note: 'random init (kaiming convs, BN running stats 0/1): timing and parity only',
    },
    engines: {
      tfjs: 'wsss on @tensorflow/tfjs-backend-wasm (SIMD; >1 thread: threaded-SIMD build), applyModel(training: false), dataSync',
      onnx: 'onnxruntime-node CPU provider, intraOpNumThreads = threads, interOpNumThreads 1, default graph optimisation',
      torch:
        'PyTorch (Debian python3-torch, oneDNN, generic BLAS), torch.set_num_threads(threads), no_grad, bench/torch/_wsfcn.py twin',
    },
    protocol:
      'per thread count one Node (tfjs + ORT) and one Python process; per size one warm-up forward each (its logits ' +
      'give `parity`: max|a − b| / max|tfjs|), then `reps` rounds of one forward per engine, order rotated each ' +
      'round; ratios are per-round quotients, median reported. Times in seconds per forward.',
    notes: [
      "`gmac`: the convolutions' multiply-adds of one forward, counted by the torch twin (`all` = every kernel tap, " +
        'what PyTorch computes; `nonPadding` = without the taps that only read zero padding, which wsss skips in ' +
        "FCA's dilated strip convs, same result); `gflopPerS` = 2 · nonPadding / median time",
      '`cpuPerWall`: process CPU time / wall time of a forward (Node: tfjs or ORT, torch: the Python process) — ' +
        'about the cores the engine got; below the thread count when the shared machine is busy',
      'PyTorch 1.13 runs undilated, unstrided 1×1 convolutions of a small batch through its native im2col + BLAS ' +
        "path instead of oneDNN when it has one thread (ConvParams::use_mkldnn); with Debian's reference libblas " +
        'the 1-thread torch times are mostly those 33 convolutions (torch.profiler, 321×321: 14.9 of 17.8 s in ' +
        'aten::_slow_conv2d_forward). From 2 threads on every convolution goes to oneDNN',
    ],
    reps,
    onnx: onnxInfo,
    setup,
    results,
  };
  const text = JSON.stringify(out, null, 2);
  process.stdout.write(`${text}\n`);
  if (args.out) {
    writeFileSync(`${args.out}.tmp`, text);
    (await import('node:fs')).renameSync(`${args.out}.tmp`, args.out);
    log(`wrote ${args.out}`);
  }

  // human table
  const pad = (s, n) => String(s).padEnd(n);
  const lines = [
    `${pad('size', 9)}${pad('thr', 4)}${engines.map((e) => pad(`${e} med/min s (cpu/wall)`, 26)).join('')}${pad('tfjs/ORT', 10)}torch/ORT`,
  ];
  for (const r of results) {
    lines.push(
      pad(r.size, 9) +
        pad(r.threads, 4) +
        engines
          .map((e) => {
            const x = r.engines[e];
            return pad(`${x.medianS.toFixed(2)} / ${x.minS.toFixed(2)} (${x.cpuPerWall})`, 26);
          })
          .join('') +
        pad(r.ratios['tfjs/onnx']?.median ?? '-', 10) +
        (r.ratios['torch/onnx']?.median ?? '-'),
    );
  }
  if (onnxInfo)
    lines.push(
      `ONNX ${(onnxInfo.bytes / 2 ** 20).toFixed(1)} MiB; ORT session creation ${Object.entries(
        onnxInfo.sessionCreateMs,
      )
        .map(([t, v]) => `${(v / 1000).toFixed(2)} s (${t}t)`)
        .join(', ')}`,
    );
  process.stderr.write(`${lines.join('\n')}\n`);
}

if (args.serve) await serve();
else await main();
