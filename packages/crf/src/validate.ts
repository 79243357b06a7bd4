/** Argument checks shared by the public entry points. Every message names the argument and what was expected. */

/** Throws unless `value` is an integer ≥ `min`. */
export function assertInteger(name: string, value: unknown, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
}

/** Throws unless `value` is a finite number > 0. */
export function assertPositive(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a finite number > 0, got ${String(value)}`);
  }
}

/** Throws unless `value` is a finite number. */
export function assertFinite(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new RangeError(`${name} must be a finite number, got ${String(value)}`);
  }
}

/** Throws unless `array` is an instance of `type` with exactly `length` elements; `shape` explains the length. */
export function assertArray(
  name: string,
  array: unknown,
  types: ReadonlyArray<abstract new (...args: never[]) => ArrayLike<number>>,
  length: number,
  shape: string,
): void {
  if (!types.some((t) => array instanceof t)) {
    const got = array === null ? 'null' : typeof array === 'object' ? array.constructor.name : typeof array;
    throw new TypeError(`${name} must be a ${types.map((t) => t.name).join(' or ')}, got ${got}`);
  }
  const n = (array as ArrayLike<number>).length;
  if (n !== length) {
    throw new RangeError(`${name} must have length ${shape} = ${length}, got ${n}`);
  }
}
