import { BadInputError } from './errors.js';
import { storableTextProblem } from './text.js';

/** Largest serialized `metadata` object accepted on versions, files and packages. */
export const MAX_METADATA_BYTES = 64 * 1024;
/** Deepest nesting of objects and arrays in `metadata` (the object itself is level 1). */
export const MAX_METADATA_DEPTH = 16;

/**
 * Validates a metadata value: a JSON object of bounded depth and size whose keys and strings
 * PostgreSQL can store. The walk is iterative, so a value nested thousands of levels deep is
 * refused before anything recursive touches it. Returns a plain copy (objects parsed from
 * GraphQL literals have no prototype, which the database layer cannot handle).
 */
export function parseMetadata(metadata: unknown, field = 'metadata'): Record<string, unknown> {
  if (metadata === undefined || metadata === null) return {};
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new BadInputError(`${field} must be a JSON object such as {"channel": "beta"}`, { field });
  }
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: metadata, path: field, depth: 1 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const problem = storableTextProblem(value);
      if (problem) throw new BadInputError(`${path} ${problem}`, { field });
      continue;
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new BadInputError(`${path} is not a finite number; JSON has no NaN or Infinity`, { field });
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_METADATA_DEPTH) {
      throw new BadInputError(`${field} nests deeper than ${MAX_METADATA_DEPTH} levels of objects and arrays (at ${path})`, { field, maxDepth: MAX_METADATA_DEPTH });
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push({ value: item, path: `${path}[${index}]`, depth: depth + 1 }));
      continue;
    }
    for (const [key, item] of Object.entries(value)) {
      const problem = storableTextProblem(key);
      if (problem) throw new BadInputError(`${path} has a key that ${problem}`, { field });
      stack.push({ value: item, path: `${path}.${key}`, depth: depth + 1 });
    }
  }
  const json = JSON.stringify(metadata);
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES) {
    throw new BadInputError(`${field} is larger than ${MAX_METADATA_BYTES / 1024} KiB as JSON`, { field, maxBytes: MAX_METADATA_BYTES });
  }
  return JSON.parse(json) as Record<string, unknown>;
}
