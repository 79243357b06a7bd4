/**
 * State-dict rules for modules whose weight names mirror the reference module tree (DESIGN §2): a conv named
 * `fca2/conv1_1` in the layer is `<prefix>fca2.conv1_1.weight` in PyTorch, a BatchNorm `bn1` is `<prefix>bn1.*`.
 */
import { batchNormRules, type StateDictRule } from './stateDict.js';

/**
 * The modules of a layer whose weight names mirror the reference module tree, for
 * {@link referenceModuleRules}: its convolutions and BatchNorms by layer-relative name.
 */
export interface ReferenceModuleNames {
  /** Convolutions by layer-relative name (`fca2/conv1_1`); `weight` → `kernel` (OIHW → HWIO), `bias` → `bias`. */
  convs: readonly string[];
  /** BatchNorms by layer-relative name (`bn1`, `global_avg_pool/2`). */
  bns: readonly string[];
}

/**
 * Rules for `loadStateDict` / `exportStateDict` mapping `<ptPrefix><module path>.<param>` onto
 * `<layerName>/<module/path>/<weight>`. Both directions are exact (plain-string rules).
 */
export function referenceModuleRules(
  layerName: string,
  ptPrefix: string,
  names: ReferenceModuleNames,
): StateDictRule[] {
  const pt = (n: string) => `${ptPrefix}${n.replace(/\//g, '.')}`;
  const rules: StateDictRule[] = [];
  for (const c of names.convs) {
    rules.push({ from: `${pt(c)}.weight`, to: `${layerName}/${c}/kernel`, transform: 'conv' });
    rules.push({ from: `${pt(c)}.bias`, to: `${layerName}/${c}/bias` });
  }
  for (const b of names.bns) rules.push(...batchNormRules(pt(b), `${layerName}/${b}`));
  return rules;
}
