import { BadInputError } from './errors.js';

/** Largest serialized `metadata` object accepted on versions, files and packages. */
export const MAX_METADATA_BYTES = 64 * 1024;

/** Validates a metadata value: a JSON object of bounded size. */
export function parseMetadata(metadata: unknown, field = 'metadata'): Record<string, unknown> {
  if (metadata === undefined || metadata === null) return {};
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new BadInputError(`${field} must be a JSON object such as {"channel": "beta"}`, { field });
  }
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
    throw new BadInputError(`${field} is larger than ${MAX_METADATA_BYTES / 1024} KiB`, { field });
  }
  return metadata as Record<string, unknown>;
}
