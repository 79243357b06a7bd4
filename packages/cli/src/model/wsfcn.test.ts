import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@wsss/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { createWsFcn } from './wsfcn.js';

describe('createWsFcn', () => {
  beforeAll(() => useBackend('cpu'));

  // The reference code's counts (21 classes incl. background → 20 foreground logits). The paper's Table I
  // (137.10 / 143.52 / 140.92 / 147.34 M) is consistently 0.87 M lower; these are the code's.
  it.each([
    ['aspp', 'gci', 137_973_172],
    ['fca', 'gci', 144_395_718],
    ['aspp', 'sf2', 141_791_060],
    ['fca', 'sf2', 148_213_606],
  ] as const)('full size %s + %s has %i parameters, as the reference code', (context, fusion, expected) => {
    const net = createWsFcn({ context, fusion, backbone: { init: 'zeros' } });
    expect(net.countParameters()).toBe(expected);
    net.model.dispose();
  });

  it('places trainable variables in the four reference groups (spec §1.6)', () => {
    const net = createWsFcn({ backbone: { width: 1 / 16, depth: 'light' } });
    const groups = net.paramGroups();
    expect(groups.map((g) => [g.name, g.lrMult, g.weightDecay])).toEqual([
      ['pretrained weights', 1, 5e-4],
      ['new weights', 20, 5e-4],
      ['new biases', 40, 0],
    ]); // ResNet-38 has no biases; its BNs are frozen
    const names = (i: number) => groups[i]!.variables.map((v) => v.name);
    expect(names(0).every((n) => /conv_branch|conv1a/.test(n))).toBe(true);
    expect(names(1).some((n) => /gamma/.test(n))).toBe(true);
    expect(names(2).some((n) => /beta/.test(n)) && names(2).some((n) => /8\/bias/.test(n))).toBe(true);
    expect(net.countParameters()).toBeGreaterThan(0);
    net.model.dispose();
  });

  it('maps 321×321 to stride-4 logits of 81×81 and rejects bad options by name', async () => {
    await useBackend('wasm');
    const net = createWsFcn({ numClasses: 3, backbone: { width: 1 / 16, depth: 'light' } });
    const z = tf.tidy(() => (net.model.predict(tf.zeros([1, 321, 321, 3])) as tf.Tensor).shape);
    expect(z).toEqual([1, 81, 81, 3]);
    expect(() => createWsFcn({ context: 'ppm' as never })).toThrow(
      /context must be 'fca' or 'aspp', got 'ppm'/,
    );
    expect(() => createWsFcn({ clases: 3 } as never)).toThrow(/unknown option 'clases'/);
    net.model.dispose();
  });
});
