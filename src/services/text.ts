import { BadInputError } from './errors.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why PostgreSQL could not store this text, or null when it can. `text` and `jsonb` refuse
 * U+0000, and a lone UTF-16 surrogate has no UTF-8 form (jsonb refuses its escape; drivers
 * would silently turn it into U+FFFD).
 */
export function storableTextProblem(value: string): string | null {
  if (value.includes('\u0000')) return 'contains a NUL character (U+0000), which stored text cannot hold';
  if (LONE_SURROGATE.test(value)) return 'contains an unpaired UTF-16 surrogate, which is not a character stored text can hold';
  return null;
}

/** BAD_USER_INPUT naming `field` when `value` cannot be stored as text. */
export function assertStorableText(value: string, field: string): void {
  const problem = storableTextProblem(value);
  if (problem) throw new BadInputError(`${field} ${problem}`, { field });
}
