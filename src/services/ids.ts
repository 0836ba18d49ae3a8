const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Entity ids are UUIDs; anything else cannot name a row (callers answer NOT_FOUND or BAD_USER_INPUT). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
