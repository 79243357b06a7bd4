import * as tf from '@tensorflow/tfjs-core';
import {
  applyModel,
  backgroundSoftmax,
  balancedMaskLoss,
  cleanMasks,
  pseudoGtMask,
  resizeBilinear,
  seedRandom,
} from '@wsss/core';
import { expectNoTensorGrowth, seedWeights, useBackend } from '@wsss/core/testing';
import { pamr } from '@wsss/pamr';
import { beforeAll, describe, expect, it } from 'vitest';
import { createWsFcn } from '../model/wsfcn.js';
import { microBatchSizes, WSFCN_LOSS_DEFAULTS, WsFcnTrainer, wsFcnLosses } from './step.js';

/** Two-class toy batch: a bright square (class 1) and/or a dark disc (class 2) on grey. */
function toyBatch(n: number, size: number) {
  const raw = new Float32Array(n * size * size * 3).fill(0.5);
  const labels = new Float32Array(n * 2);
  for (let b = 0; b < n; b++) {
    const hasSq = b % 3 !== 2;
    const hasDisc = b % 3 !== 0;
    labels[b * 2] = hasSq ? 1 : 0;
    labels[b * 2 + 1] = hasDisc ? 1 : 0;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const o = ((b * size + y) * size + x) * 3;
        if (hasSq && x >= 3 && x < 14 && y >= 4 && y < 15) raw.fill(0.95, o, o + 3);
        if (hasDisc && (x - 22) ** 2 + (y - 22) ** 2 < 36) raw.set([0.1, 0.1, 0.6], o);
      }
  }
  const rawT = tf.tensor4d(raw, [n, size, size, 3]);
  const mean = tf.tensor1d([0.485, 0.456, 0.406]);
  const std = tf.tensor1d([0.229, 0.224, 0.225]);
  return {
    raw: rawT,
    images: tf.div(tf.sub(rawT, mean), std) as tf.Tensor4D,
    labels: tf.tensor2d(labels, [n, 2]),
  };
}

/** A tiny WS-FCN with seeded weights and an SGD trainer in the mask-loss phase (PAMR 2 iterations). */
function tinyTrainer(
  seed: number,
  opts: { accumulate?: number; recompute?: number[]; recomputeModules?: boolean; training?: boolean },
) {
  const net = createWsFcn({
    numClasses: 2,
    backbone: { channels: [4, 4, 8, 8, 8, 8, 8], depth: 'light', bnMode: 'batch', freezeStem: false },
    contextBnMode: 'batch',
  });
  seedWeights(net.model, seed);
  const trainer = new WsFcnTrainer(net, {
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
    weightDecay: 5e-4,
    loss: { pretrainEpochs: 0, pamrIterations: 2 },
    ...opts,
  });
  return { net, trainer };
}

/** The largest difference between two networks' weights, relative to each weight's largest magnitude. */
function worstRelativeDifference(a: { model: { weights: { read(): tf.Tensor }[] } }, b: typeof a): number {
  let worst = 0;
  a.model.weights.forEach((w, i) => {
    const x = w.read().dataSync();
    const y = b.model.weights[i]!.read().dataSync();
    const scale = Math.max(1e-3, ...Array.from(x, Math.abs));
    for (let k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs(x[k]! - y[k]!) / scale);
  });
  return worst;
}

describe('WsFcnTrainer', () => {
  beforeAll(() => useBackend('wasm'));

  it('a width-reduced WS-FCN overfits one batch on wasm: cls loss < 0.05, then the mask loss halves, flat tensor count', async () => {
    const net = createWsFcn({
      numClasses: 2,
      backbone: {
        channels: [16, 16, 32, 32, 64, 64, 64],
        depth: 'light',
        bnMode: 'batch',
        freezeStem: false,
      },
      fcaBranches: [
        { kernel: 1, dilation: 1, padding: 0 },
        { kernel: 3, dilation: 2, padding: 2 },
      ],
      contextBnMode: 'batch',
    });
    const trainer = new WsFcnTrainer(net, {
      optimizer: { kind: 'adam', lr: 5e-3 },
      weightDecay: 0,
      lrMults: [1, 1, 1, 1],
      loss: { pretrainEpochs: 1, pamrIterations: 5 },
    });
    const batch = toyBatch(6, 32);
    seedWeights(net.model, 3);
    seedRandom(11); // dropout and the stochastic gate: the same draws on every run

    let cls = Number.POSITIVE_INFINITY;
    let steps = 0;
    while (cls >= 0.05 && steps < 300) {
      cls = (await trainer.step(batch, 0)).clsLoss;
      steps++;
    }
    expect(cls).toBeLessThan(0.05);
    // 50 steps with the mask loss on; dropout and the gate make single steps noisy, so compare 5-step means
    const mask: number[] = [];
    await expectNoTensorGrowth(async () => {
      const r = await trainer.step(batch, 1);
      expect(r.maskLoss).not.toBeNull();
      mask.push(r.maskLoss!);
    }, 50);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const [first, last] = [mean(mask.slice(0, 5)), mean(mask.slice(-5))];
    expect(last).toBeLessThan(first / 2);
    seedRandom(null);
    console.log(
      `overfit: cls < 0.05 after ${steps} steps; mask loss ${first.toFixed(4)} → ${last.toFixed(4)} (5-step means)`,
    );
    trainer.dispose();
    net.model.dispose();
  }, 300_000);

  it("semi-supervised: a true mask replaces exactly its own image's pseudo ground truth (cpu and wasm)", async () => {
    const semiBy: number[] = [];
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      const net = createWsFcn({
        numClasses: 2,
        backbone: { channels: [4, 4, 8, 8, 8, 8, 8], depth: 'light', bnMode: 'batch', freezeStem: false },
        contextBnMode: 'batch',
      });
      seedWeights(net.model, 5);
      const batch = toyBatch(3, 32);
      const cfg = { ...WSFCN_LOSS_DEFAULTS, pretrainEpochs: 0, pamrIterations: 2 };
      // true masks: image 0 a hand-drawn map (with ignored pixels), image 2 another; image 1 has none (its row is 255)
      const m = new Int32Array(3 * 32 * 32).fill(255);
      for (let i = 0; i < 32 * 32; i++) {
        m[i] = i % 7 === 0 ? 255 : i < 400 ? 1 : 0;
        m[2 * 1024 + i] = i % 5 === 0 ? 2 : 0;
      }
      const losses = (masks: Int32Array | null, hasMask: number[]) =>
        tf.tidy(() => {
          const b = masks
            ? { ...batch, masks: tf.tensor3d(masks, [3, 32, 32], 'int32'), hasMask: Uint8Array.from(hasMask) }
            : batch;
          const t = wsFcnLosses(net, b, 0, cfg, false);
          return [t.maskLoss!.dataSync()[0]!, t.gate!.dataSync()] as const;
        });
      const [weak] = losses(null, []);
      // the expected loss from the parts: pseudo GT of every image, then images 0 and 2 replaced by their masks
      const expected = tf.tidy(() => {
        const z = applyModel(net.model, batch.images, { training: false }) as tf.Tensor4D;
        const { logits, masks } = backgroundSoftmax(z);
        const refined = pamr(
          resizeBilinear(batch.raw, [masks.shape[1], masks.shape[2]], { alignCorners: true }),
          masks,
          {
            iterations: cfg.pamrIterations,
            dilations: cfg.pamrDilations,
          },
        );
        const pseudo = pseudoGtMask(
          cleanMasks(resizeBilinear(refined, [32, 32], { alignCorners: true }), batch.labels),
          cfg.pseudo,
        );
        // one-hot built here, not with tf.oneHot (wasm's own OneHot wrote int32 bits into float32 outputs)
        const hot = new Float32Array(3 * 32 * 32 * 3);
        m.forEach((c, i) => {
          if (c < 3) hot[i * 3 + c] = 1;
        });
        const truth = tf.tensor4d(hot, [3, 32, 32, 3]);
        const gt = tf.concat([
          tf.slice(truth, [0], [1]),
          tf.slice(pseudo, [1], [1]),
          tf.slice(truth, [2], [1]),
        ]) as tf.Tensor4D;
        const r = balancedMaskLoss(logits, gt, batch.labels, { trusted: tf.tensor1d([1, 0, 1]) });
        return r.loss.dataSync()[0]!;
      });
      const [semi, gate] = losses(m, [1, 0, 1]);
      semiBy.push(semi);
      expect(semi).toBeCloseTo(expected, 5);
      // true masks alone: a real loss (an all-zero target would give exactly 0)
      expect(losses(m, [1, 1, 1])[0]).toBeGreaterThan(0.05);
      expect(semi).not.toBeCloseTo(weak, 3);
      expect(gate[0]).toBe(1);
      expect(gate[2]).toBe(1);
      // image 1 is not pixel-labelled: whatever its row of the mask tensor holds leaks nowhere
      const m2 = m.slice();
      m2.fill(1, 1024, 2048);
      expect(losses(m2, [1, 0, 1])[0]).toBeCloseTo(semi, 6);
      // and with no image flagged the loss is the weak one
      expect(losses(m, [0, 0, 0])[0]).toBeCloseTo(weak, 6);
      tf.dispose([batch.images, batch.raw, batch.labels]);
      net.model.dispose();
    }
    expect(semiBy[1]).toBeCloseTo(semiBy[0]!, 4); // wasm = cpu
  });
  it('accumulate 3 on a batch of 5 (2 + 2 + 1 images): the full batch update, with semi-supervised masks; one step each; flat tensors', async () => {
    await useBackend('wasm');
    // deterministic (no dropout, gate or batch statistics): the accumulated update must equal the full one
    const build = (accumulate: number) => tinyTrainer(7, { accumulate, training: false });
    const full = build(1);
    const acc = build(3);
    const toy = toyBatch(5, 32);
    const masks = new Int32Array(5 * 32 * 32).fill(255);
    for (let i = 0; i < 1024; i++) masks[3 * 1024 + i] = i < 500 ? 1 : 0; // image 3 pixel-labelled
    const batch = {
      ...toy,
      masks: tf.tensor3d(masks, [5, 32, 32], 'int32'),
      hasMask: Uint8Array.from([0, 0, 0, 1, 0]),
    };
    for (let step = 0; step < 2; step++) {
      const [a, b] = [await full.trainer.step(batch, 0), await acc.trainer.step(batch, 0)];
      const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(1e-6, Math.abs(y));
      expect(rel(b.loss, a.loss)).toBeLessThan(1e-5);
      expect(rel(b.clsLoss, a.clsLoss)).toBeLessThan(1e-5);
      expect(rel(b.maskLoss!, a.maskLoss!)).toBeLessThan(1e-5);
      expect(b.maskGate).toBeCloseTo(a.maskGate!, 6);
    }
    expect(acc.trainer.optimizer.iterations).toBe(2);
    expect(worstRelativeDifference(full.net, acc.net)).toBeLessThan(1e-5);
    // the weights moved: the comparison is not between two untouched networks
    const fresh = build(1);
    expect(worstRelativeDifference(full.net, fresh.net)).toBeGreaterThan(1e-3);
    fresh.trainer.dispose();
    fresh.net.model.dispose();
    await expectNoTensorGrowth(async () => {
      await acc.trainer.step(batch, 0);
    }, 2);
    expect(microBatchSizes(7, 3)).toEqual([3, 2, 2]);
    expect(microBatchSizes(2, 4)).toEqual([1, 1]);
    expect(() => new WsFcnTrainer(acc.net, { optimizer: { kind: 'sgd', lr: 1 }, accumulate: 0 })).toThrow(
      /accumulate must be a whole number ≥ 1/,
    );
    tf.dispose([toy.images, toy.raw, toy.labels, batch.masks]);
    for (const x of [full, acc]) {
      x.trainer.dispose();
      x.net.model.dispose();
    }
  }, 120_000);
  it('recompute every backbone stage, FCA and SF2: the plain step to 1e-5 (dropout, gate and batch statistics replayed), running statistics updated once', async () => {
    await useBackend('wasm');
    const build = (recompute: number[], recomputeModules = false) =>
      tinyTrainer(9, { recompute, recomputeModules });
    const plain = build([]);
    const ck = build([2, 3, 4, 5, 6, 7], true);
    expect([ck.net.context.recompute, ck.net.fusion.recompute]).toEqual([true, true]);
    const batch = toyBatch(3, 32);
    for (let step = 0; step < 2; step++) {
      seedRandom(21 + step);
      const a = await plain.trainer.step(batch, 0);
      seedRandom(21 + step);
      const b = await ck.trainer.step(batch, 0);
      expect(Math.abs(b.loss - a.loss) / Math.abs(a.loss)).toBeLessThan(1e-5);
    }
    seedRandom(null);
    // every weight, BatchNorm running statistics included
    expect(worstRelativeDifference(plain.net, ck.net)).toBeLessThan(1e-5);
    await expectNoTensorGrowth(async () => {
      await ck.trainer.step(batch, 0);
    }, 2);
    expect(() => new WsFcnTrainer(ck.net, { optimizer: { kind: 'sgd', lr: 1 }, recompute: [8] })).toThrow(
      /backbone stages are 2…7/,
    );
    tf.dispose([batch.images, batch.raw, batch.labels]);
    for (const x of [plain, ck]) {
      x.trainer.dispose();
      x.net.model.dispose();
    }
  }, 120_000);

  it('the mask loss puts no full-resolution (N,H,W,C) tensor on the gradient tape: PAMR and pseudo labels run untaped', async () => {
    await useBackend('wasm');
    const { net, trainer } = tinyTrainer(4, {});
    const batch = toyBatch(2, 33);
    const engine = tf.engine() as unknown as {
      state: { activeTape: { kernelName: string; outputs: tf.Tensor[] }[] };
    };
    // the taped ops with a (2,33,33,3) output — the size of the images, which have 3 channels like the 3 classes:
    // the classification phase (epoch 0 < pretrain 1) has only the network's own at the input
    const taped = (epoch: number) => {
      const full: string[] = [];
      let nodes = 0;
      const { value, grads } = tf.variableGrads(() => {
        const t = wsFcnLosses(net, batch, epoch, { ...trainer.loss, pretrainEpochs: 1 });
        nodes = engine.state.activeTape.length;
        for (const node of engine.state.activeTape)
          for (const o of node.outputs)
            if (o.rank === 4 && o.shape[1] === 33 && o.shape[2] === 33 && o.shape[3] === 3)
              full.push(`${node.kernelName} [${o.shape}]`);
        return t.loss;
      });
      expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
      tf.dispose([value, grads]);
      return { full, nodes };
    };
    const cls = taped(0);
    const mask = taped(1);
    expect(mask.nodes).toBeGreaterThan(cls.nodes); // the mask loss is taped…
    expect(mask.full).toEqual(cls.full); // …but at the logits' resolution
    tf.dispose([batch.images, batch.raw, batch.labels]);
    trainer.dispose();
    net.model.dispose();
  });
});
