import type { Logger } from 'pino';

/** Operations on fewer bytes than this log only their end: progress lines would be noise. */
const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;
const PROGRESS_EVERY_MS = 2000;

/**
 * Structured progress of a long byte-moving operation (hashing, storing, replicating): at most
 * one `info` line every 2 s with bytes, total, percent and throughput, then one line at the end.
 */
export class ByteProgress {
  private readonly started = Date.now();
  private lastLogged = Date.now();

  constructor(
    private readonly log: Logger,
    private readonly fields: Record<string, unknown>,
    private readonly total: number,
    private readonly message: string,
  ) {}

  update(done: number): void {
    if (this.total < PROGRESS_MIN_BYTES || Date.now() - this.lastLogged < PROGRESS_EVERY_MS) return;
    this.lastLogged = Date.now();
    this.log.info(this.snapshot(done), `${this.message}: ${this.percent(done)}%`);
  }

  finish(done: number, extra: Record<string, unknown> = {}): void {
    this.log.info({ ...this.snapshot(done), ...extra }, `${this.message}: done`);
  }

  private percent(done: number): number {
    return this.total === 0 ? 100 : Math.floor((done / this.total) * 1000) / 10;
  }

  private snapshot(done: number): Record<string, unknown> {
    const seconds = (Date.now() - this.started) / 1000;
    return {
      ...this.fields,
      bytes: done,
      totalBytes: this.total,
      percent: this.percent(done),
      elapsedMs: Math.round(seconds * 1000),
      mbPerSecond: seconds > 0 ? Math.round(done / 1e6 / seconds) : null,
    };
  }
}
