import { expect } from 'vitest';

/** How far the database's clock and this process's may disagree, and timestamps round (same machine). */
const SLACK_MS = 1000;

/**
 * Asserts that `value` is a timestamp as the API writes them (ISO 8601, UTC) that falls between
 * `from` and `to` (epoch ms; `to` defaults to now) — a stronger check than "not null".
 */
export function expectTimestampBetween(value: unknown, from: number, to: number = Date.now()): void {
  expect(value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/);
  const at = Date.parse(value as string);
  expect(at).toBeGreaterThanOrEqual(from - SLACK_MS);
  expect(at).toBeLessThanOrEqual(to + SLACK_MS);
}
