import { describe, expect, it } from 'vitest';

import { utcDay } from '../../src/services/utcDay.js';

describe('utcDay, the day report and offer counts are kept under', () => {
  it('names the UTC calendar day of each moment, across midnight and back again', () => {
    expect(utcDay(new Date('2026-11-26T23:59:59.999Z'))).toBe('2026-11-26');
    expect(utcDay(new Date('2026-11-27T00:00:00.000Z'))).toBe('2026-11-27');
    expect(utcDay(Date.parse('2026-11-26T12:00:00Z'))).toBe('2026-11-26');
    expect(utcDay(new Date('1969-12-31T23:00:00Z'))).toBe('1969-12-31');
    expect(utcDay()).toBe(new Date().toISOString().slice(0, 10));
  });
});
