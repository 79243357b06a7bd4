/**
 * Example: SF2's flow-aligned warp replacing bilinear upsampling in your own decoder.
 *
 * `Align` takes a low-level (high-resolution) and a high-level (low-resolution) feature, predicts a 2-D flow from
 * both, and warps the high-level feature onto the low-level grid. Its flow conv (`flow_make`) zeroed, it is
 * exactly `tf.image.resizeBilinear(high, [H, W], alignCorners = true)`: a learned generalisation of upsampling.
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { randomState, seedRandom, setBackend, setRandomState } from '@wsss/core';
import { Align } from '@wsss/sf2';

export interface Sf2AlignDecoderOptions {
  /** Low-level feature side (the decoder's output grid). Default 16. */
  lowSize?: number;
  /** High-level feature side. Default 4. */
  highSize?: number;
  /** Classes of the decoder's 1×1 classifier. Default 3. */
  numClasses?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface Sf2AlignDecoderResult {
  /** Shape of the decoder's output (N,H,W,K). */
  outputShape: number[];
  /** max |Align − bilinear upsampling| with the initial (learned, non-zero) flow conv. */
  diffWithFlow: number;
  /** max |Align − bilinear upsampling| after zeroing the flow conv (≈ 0). */
  diffZeroFlow: number;
}

/**
 * Builds a two-input decoder `[low, high] → Align → concat(low, aligned) → 1×1 conv`, runs it, then compares the
 * alignment with bilinear (align-corners) upsampling before and after zeroing its flow conv.
 */
export async function run(opts: Sf2AlignDecoderOptions = {}): Promise<Sf2AlignDecoderResult> {
  const H = opts.lowSize ?? 16;
  const h = opts.highSize ?? 4;
  const numClasses = opts.numClasses ?? 3;
  const seed = opts.seed ?? 2;
  const log = opts.log ?? console.log;

  const saved = randomState();
  seedRandom(seed); // Align's initial weights come from @wsss/core's random stream
  const lowIn = tf.input({ shape: [H, H, 8], name: 'low' });
  const highIn = tf.input({ shape: [h, h, 16], name: 'high' });
  const align = new Align({ projectChannels: 4 });
  const aligned = align.apply([lowIn, highIn]) as tf.SymbolicTensor; // (N,H,H,16): replaces an upsampling layer
  const fused = tf.layers.concatenate().apply([lowIn, aligned]) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: numClasses, kernelSize: 1 }).apply(fused) as tf.SymbolicTensor;
  const decoder = tf.model({ inputs: [lowIn, highIn], outputs: logits });

  const low = tf.randomNormal([2, H, H, 8], 0, 1, 'float32', seed);
  const high = tf.randomNormal([2, h, h, 16], 0, 1, 'float32', seed + 1);
  try {
    const out = decoder.predict([low, high]) as tf.Tensor;
    const outputShape = out.shape.slice();
    out.dispose();

    const maxDiff = async (): Promise<number> => {
      const d = tf.tidy(() =>
        tf.max(
          tf.abs(
            tf.sub(
              align.apply([low, high]) as tf.Tensor,
              tf.image.resizeBilinear(high as tf.Tensor4D, [H, H], true),
            ),
          ),
        ),
      );
      const v = (await d.data())[0]!;
      d.dispose();
      return v;
    };
    const diffWithFlow = await maxDiff();
    // Zero flow → the sample grid is the identity grid of align-corners bilinear upsampling.
    for (const w of align.weights) {
      if (w.originalName.endsWith('flow_make/kernel')) {
        const zeros = tf.zeros(w.shape as number[]);
        w.write(zeros);
        zeros.dispose();
      }
    }
    const diffZeroFlow = await maxDiff();
    log(
      `SF2 Align decoder: output [${outputShape}]; max |Align − resizeBilinear| = ${diffWithFlow.toExponential(2)} ` +
        `(learned flow), ${diffZeroFlow.toExponential(2)} (zero flow)`,
    );
    return { outputShape, diffWithFlow, diffZeroFlow };
  } finally {
    tf.dispose([low, high]);
    decoder.dispose();
    setRandomState(saved);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await setBackend('wasm');
  await run();
}
