import { describe, expect, it } from 'vitest';

import { auditDetails, LIST_LIMIT, SIZE_LIMIT, storableText, TEXT_LIMIT } from '../../src/services/audit/details.js';

/** What an audit entry keeps of an input: enough to tell what was asked, never a secret, never a megabyte. */
describe('auditDetails', () => {
  it('keeps plain input as it was given, with Dates as ISO text and undefined left out', () => {
    const at = new Date('2030-01-02T03:04:05.000Z');
    expect(auditDetails({ input: { version: '1.2.3', force: true, percentage: 12.5, scheduledAt: at, reason: undefined, note: null } })).toEqual({
      input: { version: '1.2.3', force: true, percentage: 12.5, scheduledAt: '2030-01-02T03:04:05.000Z', note: null },
    });
  });

  it('redacts values under keys that name secrets, at any depth', () => {
    const details = auditDetails({ input: { apiKey: 'k', metadata: { token: 't', nested: { clientSecret: 's', password: 'p' } }, authorization: 'Bearer x', name: 'ok' } });
    expect(details).toEqual({ input: { apiKey: '[redacted]', metadata: { token: '[redacted]', nested: { clientSecret: '[redacted]', password: '[redacted]' } }, authorization: '[redacted]', name: 'ok' } });
    expect(JSON.stringify(details)).not.toMatch(/Bearer|"k"|"t"|"s"|"p"/);
  });

  it('cuts long text and long lists and says how long they were', () => {
    const details = auditDetails({ input: { releaseNotes: 'n'.repeat(10_000), changelog: Array.from({ length: 50 }, (_, i) => i) } }) as { input: { releaseNotes: string; changelog: unknown[] } };
    expect(details.input.releaseNotes).toBe(`${'n'.repeat(TEXT_LIMIT)}… (10000 characters)`);
    expect(details.input.changelog).toHaveLength(LIST_LIMIT + 1);
    expect(details.input.changelog[LIST_LIMIT]).toBe(`… ${50 - LIST_LIMIT} more (50 in all)`);
  });

  it('replaces text the database cannot store (NUL, a surrogate half left by a cut)', () => {
    expect(auditDetails({ input: { id: 'a\u0000b' } })).toEqual({ input: { id: 'a\uFFFDb' } });
    const emoji = '😀'; // two UTF-16 units: a cut after the first leaves half of it
    const cut = storableText(`${'x'.repeat(TEXT_LIMIT - 1)}${emoji}`);
    expect(cut.startsWith(`${'x'.repeat(TEXT_LIMIT - 1)}\uFFFD…`)).toBe(true);
    expect(Buffer.from(cut, 'utf8').toString('utf8')).toBe(cut);
  });

  it('stops at four levels of nesting and keeps only the keys of details over the size limit', () => {
    expect(auditDetails({ input: { a: { b: { c: { d: 1 } } } } })).toEqual({ input: { a: { b: { c: '[nested]' } } } });
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'.repeat(TEXT_LIMIT)]));
    const details = auditDetails(wide);
    expect(Buffer.byteLength(JSON.stringify(details))).toBeLessThan(SIZE_LIMIT);
    expect(details.truncated).toMatch(/only their keys are kept/);
    expect(details.keys).toHaveLength(LIST_LIMIT);
  });
});
