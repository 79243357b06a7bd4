// FickleNet localization bench (bench/run.mjs protocol), spec §5.3: Grad-CAM maps of N = 200 random selections
// per image, max-aggregated, and seeds, at the demo size: one 128×128 image through a width-reduced WRN-38
// (channels [16, 32, 64, 128, 256, 256, 256], depth 'light', tap conv6 → 16×16×256), then the FickleNet layer
// (s = 9, p = 0.9, K = 20) with two present classes. The whole `localize` call is timed (backbone once + 200
// selections + seeds).
// - ficklenet/localize-200: the default analytic Grad-CAM weights (per-offset binomial sums, exact in distribution).
// - ficklenet/localize-200-autodiff: tf.grad through the layer, one forward + backward per run and class.
// - ficklenet/selection-train-step: one training forward + backward of the layer alone (batch 16, 16×16×256).
// No torch pair: FickleNet has no public reference implementation (spec §5).
import { wrn38 } from '@wsss/backbone-wrn38';
import { FickleSelection, localize } from '@wsss/ficklenet';
import { emit, initBackend, quick, tf, timeIt } from './_util.mjs';

// Heavy: wasm (and webgpu) only, as the backbone bench; WSSS_BENCH_ALL_BACKENDS=1 forces cpu.
if (/--backend=cpu\b/.test(process.argv.join(' ')) && process.env.WSSS_BENCH_ALL_BACKENDS !== '1') {
  process.stdout.write('[]\n');
  process.exit(0);
}
const backend = await initBackend();
const rows = [];
const only = process.env.WSSS_BENCH_ID;
const want = (id) => !only || id.includes(only);

const backbone = wrn38({ channels: [16, 32, 64, 128, 256, 256, 256], depth: 'light', taps: ['conv6'] });
const selection = new FickleSelection({ numClasses: 20 });
const image = tf.randomNormal([1, 128, 128, 3], 0, 1, 'float32', 1);
const featureExtractor = (im) => backbone.apply(im, { training: false });
const feats = featureExtractor(image);
selection.apply(feats);
const classifier = { featureExtractor, selection };
const labels = [[3, 11]];
const note = `1 image 128x128, conv6 ${feats.shape.slice(1).join('x')}, s=9, p=0.9, K=20, 2 present classes`;

if (want('ficklenet/localize-200')) {
  const r = timeIt(
    () => {
      const { maps, seeds } = localize(classifier, image, labels, { runs: 200 });
      return [maps, seeds];
    },
    { warmup: 1, reps: quick ? 3 : 10 },
  );
  rows.push({ id: 'ficklenet/localize-200', impl: backend, ...r, note: `${note}, analytic` });
}
if (want('ficklenet/localize-200-autodiff')) {
  const r = timeIt(
    () => {
      const { maps, seeds } = localize(classifier, image, labels, { runs: 200, gradient: 'autodiff' });
      return [maps, seeds];
    },
    { warmup: 0, reps: 1 },
  );
  rows.push({ id: 'ficklenet/localize-200-autodiff', impl: backend, ...r, note: `${note}, autodiff` });
}
if (want('ficklenet/selection-train-step')) {
  const x = tf.randomNormal([16, 16, 16, 256], 0, 1, 'float32', 2);
  const y = tf.cast(tf.greater(tf.randomUniform([16, 20], 0, 1, 'float32', 3), 0.8), 'float32');
  const vars = selection.trainableWeights.map((w) => w.read());
  const r = timeIt(
    () => {
      const { value, grads } = tf.variableGrads(
        () => tf.losses.sigmoidCrossEntropy(y, selection.apply(x, { training: true })),
        vars,
      );
      return [value, ...Object.values(grads)];
    },
    { warmup: 1, reps: quick ? 3 : 10 },
  );
  rows.push({
    id: 'ficklenet/selection-train-step',
    impl: backend,
    ...r,
    note: 'batch 16, 16x16x256 → 20, s=9',
  });
  tf.dispose([x, y]);
}
emit(rows);
