const DAY_MS = 86_400_000;
let dayStart = 0;
let dayEnd = 0;
let dayText = '';

/**
 * The UTC calendar day (`YYYY-MM-DD`) of a moment, default now. Counters on the update-check
 * path call it once per request, so the text is built once per day, not per call.
 */
export function utcDay(at: Date | number = Date.now()): string {
  const ms = typeof at === 'number' ? at : at.getTime();
  if (ms < dayStart || ms >= dayEnd) {
    dayStart = Math.floor(ms / DAY_MS) * DAY_MS;
    dayEnd = dayStart + DAY_MS;
    dayText = new Date(dayStart).toISOString().slice(0, 10);
  }
  return dayText;
}
