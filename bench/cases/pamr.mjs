// PAMR bench (bench/run.mjs protocol): spec §3.6 with the method's settings (10 iterations, dilations
// [1,2,4,8,12,24]) on a training-resolution mask (81×81, 21 classes; one image and a batch of 16) and an
// inference-size one (256×256).
// Paired with bench/torch/pamr.py.
import { pamr } from '@wsss/pamr';
import { seeded } from './_seeded.mjs';
import { emit, initBackend, quick, tf, timeIt } from './_util.mjs';

const backend = await initBackend();

const rows = [];
const sizes = [
  [1, 81, 81, 21, 10],
  [1, 256, 256, 21, 3],
];
// A training step's batch (spec §3.9).
if (!quick) sizes.push([16, 81, 81, 21, 3]);
for (const [n, h, w, c, reps] of sizes) {
  const image = tf.tensor4d(seeded(n * h * w * 3, 1), [n, h, w, 3]);
  const logits = tf.tensor4d(seeded(n * h * w * c, 2), [n, h, w, c]);
  const masks = tf.softmax(logits);
  const r = timeIt(() => pamr(image, masks), { warmup: 1, reps });
  rows.push({ id: `pamr/${n}x${h}x${w}x${c}`, impl: backend, ...r, threads: 1 });
  tf.dispose([image, logits, masks]);
}
emit(rows);
