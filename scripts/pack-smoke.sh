#!/usr/bin/env bash
# Packs @wsss/core, installs the tarball into a scratch project outside the repo next to @tensorflow/tfjs and
# @tensorflow/tfjs-backend-wasm (from the npm registry), and trains a small model that uses conv2d with
# dilation 2 and gridSample on wasm. Prints the losses; exits non-zero unless the loss goes down.
# Needs the registry, so it is not part of `npm test`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${1:-$(mktemp -d /tmp/wsss-pack-smoke.XXXXXX)}"
mkdir -p "$scratch"
(cd "$repo" && npx turbo run build --filter=@wsss/core >/dev/null)
tarball="$(cd "$repo/packages/core" && npm pack --silent --pack-destination "$scratch" | tail -1)"
cd "$scratch"
cat > package.json <<'JSON'
{ "name": "wsss-pack-smoke", "private": true, "type": "module" }
JSON
npm install --no-audit --no-fund --silent "./$tarball" @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
cat > train.mjs <<'JS'
import * as tf from '@tensorflow/tfjs';
import { conv2d, gridSample, setBackend } from '@wsss/core';

console.log('backend', await setBackend('wasm'));
const x = tf.randomNormal([2, 17, 17, 3], 0, 1, 'float32', 1);
const target = tf.randomNormal([2, 9, 9, 4], 0, 1, 'float32', 2);
const w1 = tf.variable(tf.randomNormal([3, 3, 3, 8], 0, 0.3, 'float32', 3));
const w2 = tf.variable(tf.randomNormal([1, 1, 8, 4], 0, 0.3, 'float32', 4));
const flow = tf.variable(tf.zeros([2, 9, 9, 2]));
const base = tf.tidy(() => {
  const lin = tf.linspace(-1, 1, 9);
  const gx = tf.tile(tf.reshape(lin, [1, 1, 9, 1]), [2, 9, 1, 1]);
  const gy = tf.tile(tf.reshape(lin, [1, 9, 1, 1]), [2, 1, 9, 1]);
  return tf.concat([gx, gy], 3);
});
const opt = tf.train.adam(0.05);
const losses = [];
for (let step = 0; step < 30; step++) {
  const loss = opt.minimize(() => {
    const h = tf.relu(conv2d(x, w1, { padding: 2, dilation: 2 }));
    const y = conv2d(h, w2);
    const warped = gridSample(y, tf.add(base, tf.mul(flow, 0.1)), { alignCorners: true });
    return tf.mean(tf.square(tf.sub(warped, target)));
  }, true);
  losses.push(loss.dataSync()[0]);
  loss.dispose();
}
console.log('loss', losses.map((l) => l.toFixed(4)).join(' '));
console.log('tensors', tf.memory().numTensors);
if (!(losses.at(-1) < 0.8 * losses[0])) {
  console.error('the loss did not go down');
  process.exit(1);
}
console.log('ok: the loss went down from', losses[0].toFixed(4), 'to', losses.at(-1).toFixed(4));
JS
node train.mjs
