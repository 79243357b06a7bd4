/**
 * The ResNet-38d ("model A1", WideResNet-38) topology of spec §2.2 as data: one entry per residual unit,
 * with the reference module names (state-dict prefixes), channel counts, strides and dilations.
 */

/** Feature taps (spec §2.2): `conv3` = raw b3 output sum (stride 4), `conv6` = ReLU(bn7(b7)) (stride 8). */
export type Wrn38Tap = 'conv2' | 'conv3' | 'conv4' | 'conv5' | 'conv6';
/** Every tap {@link WideResNet38} can output, in network order (the `taps` option accepts these). */
export const WRN38_TAPS: readonly Wrn38Tap[] = ['conv2', 'conv3', 'conv4', 'conv5', 'conv6'];

/** Units per stage b2…b7: the reference (`full`) or one unit each (`light`, for CPU use and tests). */
export type Wrn38Depth = 'full' | 'light';
const UNITS: Record<Wrn38Depth, number[]> = { full: [3, 3, 6, 3, 1, 1], light: [1, 1, 1, 1, 1, 1] };

/** Reference channels (width 1): conv1a, then the output of stages b2…b7. */
export const WRN38_CHANNELS = [64, 128, 256, 512, 1024, 2048, 4096] as const;

/**
 * One residual unit of the ResNet-38d topology as {@link unitSpecs} lists it (spec §2.2): reference name,
 * stage, kind, channels, stride, dilations and dropout.
 */
export interface UnitSpec {
  /** Reference module name: `b4` for the first unit of stage 4, `b4_3` for the fourth. */
  name: string;
  stage: number;
  kind: 'basic' | 'bottleneck';
  inChannels: number;
  /** Basic units: channels between the two 3×3 convs. Bottlenecks use out/4 and out/2. */
  midChannels: number;
  outChannels: number;
  stride: number;
  /** Dilation (= padding) of the first 3×3 conv of a basic unit. */
  firstDilation: number;
  dilation: number;
  /** Channel-wise dropout rate inside a bottleneck (b6 0.3, b7 0.5), applied only when training. */
  dropout: number;
  /** Frozen in the reference (no gradient): b2, b2_1, b2_2 (spec §1.6). */
  frozenInReference: boolean;
}

/** Scales a reference channel count by `width`, keeping at least 4 and a multiple of 4 (bottlenecks use out/4). */
export function scaleChannels(c: number, width: number): number {
  return Math.max(4, Math.round((c * width) / 4) * 4);
}

/** The unit list of spec §2.2 for a width multiplier, a depth and optionally explicit stage channels. */
export function unitSpecs(width: number, depth: Wrn38Depth, channels?: readonly number[]): UnitSpec[] {
  const ch = channels ?? WRN38_CHANNELS.map((c) => scaleChannels(c, width));
  const [, c2, c3, c4, c5, c6, c7] = ch as [number, number, number, number, number, number, number];
  const units = UNITS[depth];
  // Stage b5's units keep a 512-channel middle in the reference (512→512→1024, 1024→512→1024): half the output.
  const stages = [
    { stage: 2, out: c2, mid: c2, stride: 2, first: 1, dil: 1, kind: 'basic' as const, dropout: 0 },
    { stage: 3, out: c3, mid: c3, stride: 2, first: 1, dil: 1, kind: 'basic' as const, dropout: 0 },
    { stage: 4, out: c4, mid: c4, stride: 2, first: 1, dil: 1, kind: 'basic' as const, dropout: 0 },
    { stage: 5, out: c5, mid: c5 / 2, stride: 1, first: 1, dil: 2, kind: 'basic' as const, dropout: 0 },
    { stage: 6, out: c6, mid: 0, stride: 1, first: 4, dil: 4, kind: 'bottleneck' as const, dropout: 0.3 },
    { stage: 7, out: c7, mid: 0, stride: 1, first: 4, dil: 4, kind: 'bottleneck' as const, dropout: 0.5 },
  ];
  const specs: UnitSpec[] = [];
  let inC = ch[0]!;
  stages.forEach((s, si) => {
    for (let u = 0; u < units[si]!; u++) {
      const first = u === 0;
      specs.push({
        name: first ? `b${s.stage}` : `b${s.stage}_${u}`,
        stage: s.stage,
        kind: s.kind,
        inChannels: inC,
        midChannels: s.mid,
        outChannels: s.out,
        stride: first ? s.stride : 1,
        // Only b5's first unit has first_dilation 1 ≠ dilation 2; later units use the stage dilation throughout.
        firstDilation: first ? s.first : s.dil,
        dilation: s.dil,
        dropout: s.dropout,
        frozenInReference: s.stage === 2,
      });
      inC = s.out;
    }
  });
  return specs;
}

/** Spatial size after the three stride-2 stages' convs (pad 1, kernel 3): floor((n − 1)/2) + 1 each (spec §2.2). */
export function wrn38OutputSize(inputSize: number, stride: 2 | 4 | 8): number {
  let n = inputSize;
  for (let s = 1; s < stride; s *= 2) n = Math.floor((n - 1) / 2) + 1;
  return n;
}

/** Output stride of each tap. */
export const TAP_STRIDE: Record<Wrn38Tap, 2 | 4 | 8> = { conv2: 2, conv3: 4, conv4: 8, conv5: 8, conv6: 8 };
