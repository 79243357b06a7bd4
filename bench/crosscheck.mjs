#!/usr/bin/env node
// Cross-check of the TS modules against the independent PyTorch twins of bench/torch/_wsfcn.py (spec §4.2–§4.6):
//   /usr/bin/python3 bench/torch/modules.py --check /tmp/wsss-crosscheck.json
//   node bench/crosscheck.mjs [/tmp/wsss-crosscheck.json] [--backend=wasm|cpu]
// Loads the exported PyTorch weights through each layer's `stateDictRules()` (strict `loadStateDict`), runs the
// same NHWC inputs and prints the max |ours − torch| of every output as one JSON object. Not part of the tests.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { createWsFcn, WSFCN_LOSS_DEFAULTS, wsFcnLosses } from '@wsss/cli';
import { loadStateDict, setBackend } from '@wsss/core';
import { Fca } from '@wsss/fca';
import { Align, Sf2 } from '@wsss/sf2';

const path = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? '/tmp/wsss-crosscheck.json';
const backend = (process.argv.find((a) => a.startsWith('--backend=')) ?? '--backend=wasm').split('=')[1];
await setBackend(backend);
const d = JSON.parse(readFileSync(path, 'utf8'));
const T = (e) => tf.tensor(e.data, e.shape);
const maxDiff = (a, e) => {
  const x = a.dataSync();
  let m = 0;
  let ref = 0;
  if (x.length !== e.data.length) throw new Error(`size mismatch ${a.shape} vs ${e.shape}`);
  for (let i = 0; i < x.length; i++) {
    m = Math.max(m, Math.abs(x[i] - e.data[i]));
    ref = Math.max(ref, Math.abs(e.data[i]));
  }
  return { maxAbs: Number(m.toExponential(3)), refMaxAbs: Number(ref.toPrecision(4)) };
};
const report = { backend };

// FCA (eval: no dropout; frozen-stats BNs with the exported running statistics)
{
  const c = d.fca;
  const x = T(c.x);
  const layer = new Fca({ name: 'fca', channels: c.config.channels });
  layer.apply(x, { training: false }).dispose(); // builds
  const r = loadStateDict(layer, c.state, layer.stateDictRules('fca.'));
  const y = layer.apply(x, { training: false });
  report.fca = { ...maxDiff(y, c.out), loaded: r.loaded.length };
  tf.dispose([x, y]);
}

// Align + SF2 (SF2 in eval mode = running statistics, then training mode = batch statistics; eval first because
// a training-mode call updates the running statistics)
{
  const c = d.align_sf2;
  const low = T(c.low);
  const high = T(c.high);
  const align = new Align({ name: 'align1', projectChannels: c.config.project });
  const sf2 = new Sf2({ name: 'sf2', channels: c.config.channels });
  const w0 = align.apply([low, high]);
  tf.dispose(sf2.apply([low, w0]));
  w0.dispose();
  const ra = loadStateDict(
    align,
    c.state,
    [...align.stateDictRules('align1.'), ...sf2.stateDictRules('sf2.')],
    {
      strict: false,
    },
  );
  const rs = loadStateDict(
    sf2,
    c.state,
    [...align.stateDictRules('align1.'), ...sf2.stateDictRules('sf2.')],
    {
      strict: false,
    },
  );
  if (ra.missing.length || rs.missing.length) throw new Error(`missing: ${[...ra.missing, ...rs.missing]}`);
  const warped = align.apply([low, high]);
  report.align = { ...maxDiff(warped, c.warped), flowAbsMax: Number(c.flowAbsMax.toFixed(2)) };
  for (const mode of ['eval', 'train']) {
    const [h4, v4] = sf2.apply([low, warped], { training: mode === 'train' });
    report[`sf2_${mode}`] = { h4: maxDiff(h4, c[mode].h4), v4: maxDiff(v4, c[mode].v4) };
    tf.dispose([h4, v4]);
  }
  tf.dispose([low, high, warped]);
}

// Width-reduced WS-FCN, reference mode (frozen backbone BN + stem), eval: logits, scores, losses, gradients
{
  const c = d.wsfcn;
  const net = createWsFcn({
    numClasses: c.config.numClasses,
    backbone: { channels: c.config.channels, depth: c.config.depth },
  });
  const r = loadStateDict(net.model, c.state, net.stateDictRules());
  const images = T(c.images);
  const raw = T(c.raw);
  const labels = T(c.labels);
  const z = net.model.apply(images, { training: false });
  report.wsfcn = { loaded: r.loaded.length, z: maxDiff(z, c.z) };
  const batch = { images, raw, labels };
  const names = Object.keys(c.grads);
  const vars = names.map((n) => {
    const w = net.model.weights.find((v) => v.originalName === n || v.name === n);
    if (!w) throw new Error(`no weight ${n}`);
    return w.read();
  });
  let losses;
  const { grads } = tf.variableGrads(() => {
    const t = wsFcnLosses(net, batch, 1000, WSFCN_LOSS_DEFAULTS, false);
    losses = {
      loss: t.loss.dataSync()[0],
      clsLoss: t.clsLoss.dataSync()[0],
      maskLoss: t.maskLoss.dataSync()[0],
    };
    return t.loss;
  }, vars);
  for (const k of ['loss', 'clsLoss', 'maskLoss'])
    report.wsfcn[k] = {
      ours: losses[k],
      torch: c[k],
      absDiff: Number(Math.abs(losses[k] - c[k]).toExponential(3)),
    };
  report.wsfcn.grads = {};
  vars.forEach((v, i) => {
    report.wsfcn.grads[names[i]] = maxDiff(grads[v.name], c.grads[names[i]]);
  });
  tf.dispose([images, raw, labels, z, ...Object.values(grads)]);
}
process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
