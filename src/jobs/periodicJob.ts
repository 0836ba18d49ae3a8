import type { Logger } from 'pino';

/**
 * A piece of background work run every `intervalMs` in this process. Runs never overlap (a slow
 * run delays the next instead of stacking up); a failed run is logged and retried at the next
 * tick, so `perform` must be safe to run twice — every job here claims its rows in the
 * database, which also keeps several server instances from doing the same work.
 */
export class PeriodicJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;

  /**
   * @param name names the job in logs
   * @param perform one pass of the work
   */
  constructor(
    readonly name: string,
    private readonly intervalMs: number,
    private readonly perform: () => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Runs one pass now (waiting for a pass already running to finish first). */
  async runNow(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.perform()
      .catch((error: unknown) => this.log.error({ err: error, job: this.name }, 'background job failed; retrying at its next run'))
      .finally(() => {
        this.running = undefined;
      });
    await this.running;
  }

  /** Stops scheduling and waits for a running pass to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    while (this.running) await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runNow().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }
}
