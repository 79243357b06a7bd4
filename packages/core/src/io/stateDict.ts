/**
 * Mapping PyTorch state dicts onto tfjs weights and back, by declared rules (DESIGN §2: "a PyTorch state dict maps
 * onto it by a documented rule"; PyTorch weights are transposed on import, OIHW → HWIO).
 *
 * A rule maps a PyTorch key to a tfjs weight name and says how the layout changes:
 * - `conv`: PyTorch conv kernels are [out, in, kh, kw] (OIHW), tfjs conv2d kernels [kh, kw, in, out] (HWIO);
 * - `linear`: PyTorch `nn.Linear` weights are [out, in], tfjs dense kernels [in, out];
 * - `none`: same layout (biases, BatchNorm vectors, anything already NHWC-friendly).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';

/** How a weight's layout differs between PyTorch and tfjs. */
export type WeightLayout = 'conv' | 'linear' | 'none';

/** Maps a name matched by `from` to another name: a replacement string (`$1` etc.) or a function. */
export type NameMapper = string | ((match: RegExpExecArray, name: string) => string);

/**
 * One mapping rule. The first rule whose `from` matches a PyTorch key decides its fate.
 * - `from`: a string matches the key exactly; a RegExp matches if `exec` finds it anywhere (anchor it with `^…$`
 *   to match whole keys).
 * - `to`: the tfjs weight name. With a string `from`, a plain name. With a RegExp `from`, a string is a
 *   replacement pattern applied by `key.replace(from, to)` (so `$1` works, and only the matched part is
 *   rewritten); a function receives the match and the key and returns the whole tfjs name. `null` ignores the
 *   key (it is neither loaded nor reported as unexpected).
 * - `transform`: the layout change, default `'none'`.
 * - `reverse`: for `exportStateDict`, how to get the PyTorch key back from a tfjs name, in the same form
 *   (`from` matched against the tfjs name, `to` giving the PyTorch key). Not needed when both `from` and `to`
 *   are plain strings.
 */
export interface StateDictRule {
  from: string | RegExp;
  to: NameMapper | null;
  transform?: WeightLayout;
  reverse?: { from: string | RegExp; to: NameMapper };
}

/** A PyTorch state dict entry, as `parseSafetensors` returns it (row-major data). */
export interface StateDictEntry {
  shape: readonly number[];
  data: ArrayLike<number>;
}

/** A state dict: a Map (as from `parseSafetensors(...).tensors`) or a plain object. */
export type StateDict = Map<string, StateDictEntry> | Record<string, StateDictEntry>;

/**
 * Where weights live: a layer or model (its weights named `<layer name>/<weight name>`, e.g. `conv1/kernel`, for
 * every (nested) layer, however the layer was built), a list of `LayerVariable`s (named by `originalName`), or a
 * `Record<string, tf.Tensor>`.
 */
export type WeightTarget = { weights: LayerVariable[] } | LayerVariable[] | Record<string, tf.Tensor>;

/** One key whose shape does not fit, after the layout change. */
export interface MisshapedKey {
  /** PyTorch key. */
  key: string;
  /** tfjs weight name it maps to. */
  target: string;
  /** Shape of the tfjs weight. */
  expected: number[];
  /** Shape of the PyTorch value after the layout change (or before it, when the change was impossible). */
  actual: number[];
  /** The PyTorch shape. */
  source: number[];
}

/** What `loadStateDict` did. */
export interface LoadReport {
  /** tfjs weight names that received a value. */
  loaded: string[];
  /** tfjs weight names no PyTorch key provided (mis-shaped ones excluded; they are in `misshaped`). */
  missing: string[];
  /** PyTorch keys that no rule maps, or that map to a name the target lacks. */
  unexpected: string[];
  /** Keys whose value does not fit the weight they map to. */
  misshaped: MisshapedKey[];
  /** PyTorch keys dropped by an ignore rule (`to: null`). */
  ignored: string[];
}

/**
 * Options of {@link loadStateDict}: strict checking, a dry run, and releasing state-dict entries as they
 * load.
 */
export interface LoadStateDictOptions {
  /** Throw (before assigning anything) if any key is missing, unexpected or mis-shaped. Default true. */
  strict?: boolean;
  /**
   * Check names and shapes only, assigning nothing: the report (and, in strict mode, the error) a load would give.
   * Entries need no `data` then, so a list of keys and shapes can be checked against a model.
   */
  dryRun?: boolean;
  /**
   * Delete each entry from the state dict (a `Map`) once its weight holds it, so that its memory can go while the
   * rest loads: the peak stays near one copy of the weights. Default false.
   */
  release?: boolean;
}

/** PyTorch BatchNorm parameter names → tfjs-layers BatchNormalization weight names. */
export const BATCH_NORM_NAMES: Readonly<Record<string, string>> = {
  weight: 'gamma',
  bias: 'beta',
  running_mean: 'moving_mean',
  running_var: 'moving_variance',
};

/** Rules that drop keys (e.g. `num_batches_tracked`, which tfjs has no use for). */
export function ignoreKeys(...patterns: (string | RegExp)[]): StateDictRule[] {
  return patterns.map((from) => ({ from, to: null }));
}

/**
 * Rules for one PyTorch BatchNorm module at `ptPrefix` (e.g. `layer1.0.bn1`) mapped onto tfjs weights under
 * `tfPrefix` (e.g. `layer1_0/bn1`): `weight → gamma`, `bias → beta`, `running_mean → moving_mean`,
 * `running_var → moving_variance`; `num_batches_tracked` is ignored.
 */
export function batchNormRules(ptPrefix: string, tfPrefix: string): StateDictRule[] {
  const p = ptPrefix === '' ? '' : `${ptPrefix}.`;
  const t = tfPrefix === '' ? '' : `${tfPrefix}/`;
  return [
    ...Object.entries(BATCH_NORM_NAMES).map(([pt, name]) => ({ from: `${p}${pt}`, to: `${t}${name}` })),
    ...ignoreKeys(`${p}num_batches_tracked`),
  ];
}

/** Layout permutations: `out.shape[k] = in.shape[perm[k]]`. */
const TO_TF: Record<WeightLayout, number[] | null> = { conv: [2, 3, 1, 0], linear: [1, 0], none: null };
const TO_TORCH: Record<WeightLayout, number[] | null> = { conv: [3, 2, 0, 1], linear: [1, 0], none: null };

/** Row-major transpose of `data` (shape `shape`) by `perm`. Keeps Int32Array as Int32Array, else Float32Array. */
function permute(
  data: ArrayLike<number>,
  shape: readonly number[],
  perm: number[],
): { data: Float32Array | Int32Array; shape: number[] } {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const n = data.length;
  const out = data instanceof Int32Array ? new Int32Array(n) : new Float32Array(n);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let k = rank - 1; k >= 0; k--) {
    inStrides[k] = s;
    s *= shape[k]!;
  }
  // Stride in the input of each output axis; walk the output in order with an odometer over its index.
  const stride = perm.map((p) => inStrides[p]!);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < n; i++) {
    out[i] = data[src]!;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]!++;
      src += stride[k]!;
      if (idx[k]! < outShape[k]!) break;
      src -= stride[k]! * outShape[k]!;
      idx[k] = 0;
    }
  }
  return { data: out, shape: outShape };
}

function relayout(
  entry: StateDictEntry,
  perm: number[] | null,
): { data: Float32Array | Int32Array; shape: number[] } | null {
  if (perm === null) {
    const d = entry.data;
    return {
      data: d instanceof Float32Array || d instanceof Int32Array ? d : Float32Array.from(d),
      shape: [...entry.shape],
    };
  }
  if (entry.shape.length !== perm.length) return null;
  return permute(entry.data, entry.shape, perm);
}

function regexExec(re: RegExp, s: string): RegExpExecArray | null {
  re.lastIndex = 0;
  return re.exec(s);
}

/** Applies `from`/`to` to `name`; `undefined` when `from` does not match. */
function applyMapper(from: string | RegExp, to: NameMapper, name: string): string | undefined {
  if (typeof from === 'string') {
    if (name !== from) return undefined;
    if (typeof to === 'string') return to;
    const m = Object.assign([name], { index: 0, input: name }) as unknown as RegExpExecArray;
    return to(m, name);
  }
  const m = regexExec(from, name);
  if (!m) return undefined;
  if (typeof to === 'string') {
    from.lastIndex = 0;
    return name.replace(from, to);
  }
  return to(m, name);
}

function matches(from: string | RegExp, name: string): boolean {
  return typeof from === 'string' ? name === from : regexExec(from, name) !== null;
}

/** The first rule matching `key` and the tfjs name it gives (`null` for ignored keys). */
function forward(
  rules: readonly StateDictRule[],
  key: string,
): { rule: StateDictRule; name: string | null } | undefined {
  for (const rule of rules) {
    if (!matches(rule.from, key)) continue;
    return { rule, name: rule.to === null ? null : applyMapper(rule.from, rule.to, key)! };
  }
  return undefined;
}

interface Slot {
  name: string;
  shape: number[];
  dtype: tf.DataType;
  assign(t: tf.Tensor): void;
  read(): tf.Tensor;
}

function isLayerVariable(x: unknown): x is LayerVariable {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as LayerVariable).read === 'function' &&
    typeof (x as LayerVariable).write === 'function' &&
    typeof (x as LayerVariable).originalName === 'string'
  );
}

interface LayerLike {
  name?: string;
  weights: LayerVariable[];
  layers?: LayerLike[];
}

/**
 * Weights of a layer or model named `<layer name>/<weight>`. tfjs-layers scopes a weight's `originalName` by the
 * layer name only when the layer is built inside a model (`apply`); a layer built directly has bare names
 * (`kernel`). Naming by the owning layer makes both cases, and nested models, give the same names.
 */
function namedLayerWeights(target: LayerLike): [string, LayerVariable][] {
  const out: [string, LayerVariable][] = [];
  const seen = new Set<LayerVariable>();
  const visit = (layer: LayerLike) => {
    if (Array.isArray(layer.layers)) {
      for (const child of layer.layers) visit(child);
    } else if (typeof layer.name === 'string') {
      const scope = `${layer.name}/`;
      for (const v of layer.weights) {
        if (seen.has(v)) continue;
        seen.add(v);
        const on = v.originalName ?? '';
        // Outer name scopes (e.g. a model built inside another) come before the layer's own scope: drop them.
        const k = on.lastIndexOf(`/${scope}`);
        out.push([on.startsWith(scope) ? on : k >= 0 ? on.slice(k + 1) : scope + on, v]);
      }
      return;
    }
    // A container's own weights not owned by any child layer, or a weights-only object: use the names as they are.
    for (const v of layer.weights) {
      if (seen.has(v)) continue;
      seen.add(v);
      out.push([v.originalName, v]);
    }
  };
  visit(target);
  return out;
}

function slotsOf(target: WeightTarget, fn: string): Map<string, Slot> {
  const slots = new Map<string, Slot>();
  const add = (slot: Slot) => {
    if (slots.has(slot.name)) throw new Error(`${fn}: the target has two weights named '${slot.name}'`);
    slots.set(slot.name, slot);
  };
  const vars: [string, LayerVariable][] | undefined = Array.isArray(target)
    ? target.map((v) => [v?.originalName, v])
    : Array.isArray((target as { weights?: unknown }).weights)
      ? namedLayerWeights(target as LayerLike)
      : undefined;
  if (vars) {
    vars.forEach(([name, v], i) => {
      if (!isLayerVariable(v)) throw new Error(`${fn}: target weight ${i} is not a LayerVariable`);
      add({
        name,
        shape: [...v.shape] as number[],
        dtype: v.dtype,
        assign: (t) => v.write(t),
        read: () => v.read(),
      });
    });
    return slots;
  }
  const record = target as Record<string, tf.Tensor>;
  for (const [name, t] of Object.entries(record)) {
    if (!(t instanceof tf.Tensor)) throw new Error(`${fn}: target '${name}' is not a tf.Tensor`);
    add({
      name,
      shape: [...t.shape],
      dtype: t.dtype,
      assign: (value) => {
        const current = record[name]!;
        if (current instanceof tf.Variable) current.assign(value);
        else record[name] = tf.keep(value.clone());
      },
      read: () => record[name]!,
    });
  }
  return slots;
}

function entriesOf(stateDict: StateDict): [string, StateDictEntry][] {
  return stateDict instanceof Map ? [...stateDict] : Object.entries(stateDict);
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

interface Buildable {
  name: string;
  built: boolean;
  build(shape: unknown): void;
  getClassName?(): string;
  inputShapeFromWeights?(shapes: ReadonlyMap<string, readonly number[]>): unknown;
}

/**
 * Builds an unbuilt layer (no weights yet) before loading into it: from the input shape its weights' shapes imply
 * (`inputShapeFromWeights`), or else throws saying which shape to build it with.
 */
function buildIfNeeded(target: WeightTarget, stateDict: StateDict, rules: readonly StateDictRule[]): void {
  const layer = target as unknown as Buildable;
  if (Array.isArray(target) || typeof layer.build !== 'function' || layer.built !== false) return;
  if (Array.isArray((target as { layers?: unknown }).layers)) return; // models are built when created
  const scope = `${layer.name}/`;
  const shapes = new Map<string, number[]>();
  let firstConv: { key: string; inChannels: number } | undefined;
  for (const [key, entry] of entriesOf(stateDict)) {
    const hit = forward(rules, key);
    if (!hit || hit.name === null) continue;
    const perm = TO_TF[hit.rule.transform ?? 'none'];
    if (perm && perm.length !== entry.shape.length) continue;
    const shape = perm ? perm.map((p) => entry.shape[p]!) : [...entry.shape];
    shapes.set(hit.name.startsWith(scope) ? hit.name.slice(scope.length) : hit.name, shape);
    if (!firstConv && hit.rule.transform === 'conv') firstConv = { key, inChannels: entry.shape[1]! };
  }
  const input = layer.inputShapeFromWeights?.(shapes);
  if (!input) {
    const hint = firstConv
      ? ` (the state dict's first convolution, '${firstConv.key}', takes ${firstConv.inChannels} channels: for a single input, layer.build([null, null, null, ${firstConv.inChannels}]))`
      : '';
    throw new Error(
      `loadStateDict: layer '${layer.name}' (${layer.getClassName?.() ?? 'layer'}) is not built, so it has no weights to load into; build it first with layer.build(inputShape) or apply it to an input${hint}`,
    );
  }
  layer.build(input);
  layer.built = true;
}

/**
 * Loads a PyTorch state dict into tfjs weights by `rules` (first matching rule wins), converting layouts. An
 * unbuilt wsss layer is built first, with the input shape its weights' shapes imply (`inputShapeFromWeights`);
 * when they cannot tell, the error says which shape to build it with.
 *
 * A `LayerVariable` is written in place; in a `Record<string, tf.Tensor>` target a `tf.Variable` is assigned
 * and any other tensor is replaced by a new tensor (the old one is left to its owner, not disposed).
 *
 * @returns what was loaded, missing, unexpected, mis-shaped and ignored.
 * @throws in strict mode (the default), one error listing every missing, unexpected and mis-shaped key with
 *   expected and actual shapes — nothing is assigned then. Always throws when two keys map to the same weight
 *   or a state dict entry's data does not match its shape.
 */
export function loadStateDict(
  target: WeightTarget,
  stateDict: StateDict,
  rules: readonly StateDictRule[],
  opts: LoadStateDictOptions = {},
): LoadReport {
  const { strict = true, dryRun = false, release = false } = opts;
  buildIfNeeded(target, stateDict, rules);
  const slots = slotsOf(target, 'loadStateDict');
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], misshaped: [], ignored: [] };
  const why = new Map<string, string>();
  const pending: { key: string; slot: Slot; entry: StateDictEntry; perm: number[] | null }[] = [];
  const claimedBy = new Map<string, string>();

  for (const [key, entry] of entriesOf(stateDict)) {
    const n = entry.shape.reduce((a, b) => a * b, 1);
    if (!dryRun && entry.data?.length !== n) {
      throw new Error(
        `loadStateDict: state dict '${key}' has ${entry.data?.length} values for shape ${shapeStr(entry.shape)} (${n})`,
      );
    }
    const hit = forward(rules, key);
    if (!hit) {
      report.unexpected.push(key);
      why.set(key, 'no rule matches');
      continue;
    }
    if (hit.name === null) {
      report.ignored.push(key);
      continue;
    }
    const slot = slots.get(hit.name);
    if (!slot) {
      report.unexpected.push(key);
      why.set(key, `maps to '${hit.name}', which the target lacks`);
      continue;
    }
    const other = claimedBy.get(hit.name);
    if (other !== undefined) {
      throw new Error(`loadStateDict: keys '${other}' and '${key}' both map to '${hit.name}'; fix the rules`);
    }
    claimedBy.set(hit.name, key);
    const layout = hit.rule.transform ?? 'none';
    const perm = TO_TF[layout];
    // shapes first: the data is moved into the tfjs layout only when it is assigned (one tensor at a time)
    const shape =
      perm === null
        ? [...entry.shape]
        : perm.length === entry.shape.length
          ? perm.map((p) => entry.shape[p]!)
          : null;
    if (!shape || !tf.util.arraysEqual(shape, slot.shape)) {
      report.misshaped.push({
        key,
        target: hit.name,
        expected: slot.shape,
        actual: shape ?? [...entry.shape],
        source: [...entry.shape],
      });
      if (!shape) why.set(key, `'${layout}' layout needs rank ${perm!.length}`);
      continue;
    }
    pending.push({ key, slot, entry, perm });
  }
  for (const name of slots.keys()) if (!claimedBy.has(name)) report.missing.push(name);

  if (strict && (report.missing.length || report.unexpected.length || report.misshaped.length)) {
    const lines: string[] = [];
    for (const m of report.missing) lines.push(`  missing: '${m}' (shape ${shapeStr(slots.get(m)!.shape)})`);
    for (const u of report.unexpected) lines.push(`  unexpected: '${u}' (${why.get(u)})`);
    for (const m of report.misshaped) {
      lines.push(
        `  mis-shaped: '${m.key}' → '${m.target}': expected ${shapeStr(m.expected)}, got ${shapeStr(m.actual)}` +
          (m.actual === m.source || tf.util.arraysEqual(m.actual, m.source)
            ? ''
            : ` (PyTorch ${shapeStr(m.source)})`) +
          (why.has(m.key) ? ` — ${why.get(m.key)}` : ''),
      );
    }
    throw new Error(
      `loadStateDict: state dict does not match the target (${report.missing.length} missing, ` +
        `${report.unexpected.length} unexpected, ${report.misshaped.length} mis-shaped; nothing was loaded):\n${lines.join('\n')}`,
    );
  }

  if (dryRun) {
    for (const p of pending) report.loaded.push(p.slot.name);
    return report;
  }
  for (const p of pending) {
    const { data, shape } = relayout(p.entry, p.perm)!;
    tf.tidy(() => p.slot.assign(tf.tensor(data, shape, p.slot.dtype)));
    report.loaded.push(p.slot.name);
    if (release && stateDict instanceof Map) stateDict.delete(p.key);
  }
  return report;
}

/** A PyTorch-layout tensor as `exportStateDict` gives it; serializable by `serializeSafetensors`. */
export interface ExportedTensor {
  dtype: 'F32' | 'I32' | 'BOOL';
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** The PyTorch key of tfjs weight `name`, found through the rules' reverse mappings. */
function reverseName(rules: readonly StateDictRule[], name: string): string | undefined {
  for (const rule of rules) {
    if (rule.to === null) continue;
    if (rule.reverse) {
      const key = applyMapper(rule.reverse.from, rule.reverse.to, name);
      if (key !== undefined) return key;
    } else if (typeof rule.from === 'string' && typeof rule.to === 'string' && rule.to === name) {
      return rule.from;
    }
  }
  return undefined;
}

/**
 * Exports tfjs weights as a PyTorch state dict (PyTorch names and layouts, HWIO → OIHW), the inverse of
 * `loadStateDict` with the same rules, so export → import is exact. Each name found through a reverse mapping
 * is checked by mapping it forward again.
 *
 * @throws one error listing every weight no rule can name, and for any weight whose reverse name does not
 *   import back to it with a layout its shape allows.
 */
export async function exportStateDict(
  weights: WeightTarget,
  rules: readonly StateDictRule[],
): Promise<Map<string, ExportedTensor>> {
  const slots = slotsOf(weights, 'exportStateDict');
  const out = new Map<string, ExportedTensor>();
  const unnamed: string[] = [];
  const dtypes: Partial<Record<tf.DataType, ExportedTensor['dtype']>> = {
    float32: 'F32',
    int32: 'I32',
    bool: 'BOOL',
  };
  for (const slot of slots.values()) {
    const key = reverseName(rules, slot.name);
    if (key === undefined) {
      unnamed.push(slot.name);
      continue;
    }
    const back = forward(rules, key);
    if (!back || back.name !== slot.name) {
      throw new Error(
        `exportStateDict: '${slot.name}' exports as '${key}', but the rules import '${key}' as ` +
          `${back ? (back.name === null ? 'ignored' : `'${back.name}'`) : 'unexpected (no rule matches)'}; make reverse the inverse of from/to`,
      );
    }
    if (out.has(key)) throw new Error(`exportStateDict: two weights export as '${key}'`);
    const dtype = dtypes[slot.dtype];
    if (!dtype)
      throw new Error(
        `exportStateDict: weight '${slot.name}' has dtype ${slot.dtype}; expected float32, int32 or bool`,
      );
    const layout = back.rule.transform ?? 'none';
    const perm = TO_TORCH[layout];
    if (perm && perm.length !== slot.shape.length) {
      throw new Error(
        `exportStateDict: weight '${slot.name}' has shape ${shapeStr(slot.shape)}, but its rule's '${layout}' layout needs rank ${perm.length}`,
      );
    }
    const values = (await slot.read().data()) as Float32Array | Int32Array | Uint8Array;
    if (!perm) {
      out.set(key, { dtype, shape: [...slot.shape], data: values.slice() });
    } else {
      const moved = permute(values, slot.shape, perm);
      out.set(key, {
        dtype,
        shape: moved.shape,
        data: dtype === 'BOOL' ? Uint8Array.from(moved.data) : moved.data,
      });
    }
  }
  if (unnamed.length) {
    throw new Error(
      `exportStateDict: no rule gives a PyTorch name for ${unnamed.length} weight(s): ${unnamed.map((n) => `'${n}'`).join(', ')}` +
        ' (rules with a RegExp `from` need `reverse`)',
    );
  }
  return out;
}
