/** The converter registry: one {@link Converter} per supported layer class name (`layer.getClassName()`). */
import { backboneConverters } from './backbone.js';
import type { Converter } from './context.js';
import { contextConverters } from './contextModules.js';
import { fusionConverters } from './fusion.js';
import { headConverters } from './heads.js';

export { type Converter, ConverterContext } from './context.js';

/** Every converter, by layer class name. */
export const CONVERTERS: ReadonlyMap<string, Converter> = new Map(
  Object.entries({ ...backboneConverters, ...contextConverters, ...fusionConverters, ...headConverters }),
);
