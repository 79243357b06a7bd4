/**
 * Mapping between the reference ResNet-38d state dict (spec §2.3: `conv1a.weight`, `b4_3.conv_branch2a.weight`,
 * `b5.bn_branch2a.running_mean`, `bn7.weight`, …) and a `WideResNet38` layer's weights
 * (`<layer>/b4_3/conv_branch2a/kernel`, `<layer>/b5/bn_branch2a/moving_mean`, `<layer>/bn7/gamma`, …).
 */
import { BATCH_NORM_NAMES, type StateDictRule } from '@wsss/core';

const TF_BN: Record<string, string> = BATCH_NORM_NAMES as Record<string, string>;
const TORCH_BN: Record<string, string> = Object.fromEntries(Object.entries(TF_BN).map(([k, v]) => [v, k]));
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Rules for `loadStateDict` / `exportStateDict` (from @wsss/core) for a WideResNet38 layer named `layerName`.
 * Convolution kernels change layout OIHW → HWIO; `num_batches_tracked` and the ImageNet classifier
 * (`linear1000.*`, `fc*.*`) are ignored. `prefix` strips a key prefix such as `module.` or `backbone.`.
 */
export function wrn38StateDictRules(layerName: string, prefix = ''): StateDictRule[] {
  const L = escapeRegExp(layerName);
  const P = escapeRegExp(prefix);
  const unit = '(conv1a|b\\d(?:_\\d+)?)';
  return [
    { from: new RegExp(`^${P}(?:.*\\.)?num_batches_tracked$`), to: null },
    { from: new RegExp(`^${P}(?:linear1000|fc\\d*)\\.`), to: null },
    {
      from: new RegExp(`^${P}conv1a\\.weight$`),
      to: () => `${layerName}/conv1a/kernel`,
      transform: 'conv',
      reverse: { from: new RegExp(`^${L}/conv1a/kernel$`), to: () => `${prefix}conv1a.weight` },
    },
    {
      from: new RegExp(`^${P}${unit}\\.(conv_branch\\w+)\\.weight$`),
      to: (m) => `${layerName}/${m[1]}/${m[2]}/kernel`,
      transform: 'conv',
      reverse: {
        from: new RegExp(`^${L}/${unit}/(conv_branch\\w+)/kernel$`),
        to: (m) => `${prefix}${m[1]}.${m[2]}.weight`,
      },
    },
    {
      from: new RegExp(`^${P}${unit}\\.(bn_branch\\w+)\\.(weight|bias|running_mean|running_var)$`),
      to: (m) => `${layerName}/${m[1]}/${m[2]}/${TF_BN[m[3]!]}`,
      reverse: {
        from: new RegExp(`^${L}/${unit}/(bn_branch\\w+)/(gamma|beta|moving_mean|moving_variance)$`),
        to: (m) => `${prefix}${m[1]}.${m[2]}.${TORCH_BN[m[3]!]}`,
      },
    },
    {
      from: new RegExp(`^${P}bn7\\.(weight|bias|running_mean|running_var)$`),
      to: (m) => `${layerName}/bn7/${TF_BN[m[1]!]}`,
      reverse: {
        from: new RegExp(`^${L}/bn7/(gamma|beta|moving_mean|moving_variance)$`),
        to: (m) => `${prefix}bn7.${TORCH_BN[m[1]!]}`,
      },
    },
  ];
}
