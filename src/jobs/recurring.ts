import type { Logger } from 'pino';

/**
 * A piece of work run every `intervalMs` by this process. Runs never overlap (a slow run
 * delays the next instead of stacking up); a failed run is logged and tried again at the next
 * tick, so `perform` must be safe to run twice. `mayRun` is asked before each run: the job
 * engine passes its deployment-wide leadership check there, so that of several instances only
 * one runs the work (`JobEngine.every`); per-instance work passes nothing.
 */
export class RecurringTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    readonly name: string,
    readonly intervalMs: number,
    private readonly perform: () => Promise<unknown>,
    private readonly log: Logger,
    private readonly mayRun: () => Promise<boolean> = async () => true,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Runs one pass now if allowed (after a pass already running has finished). */
  async runNow(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.runOnce().finally(() => {
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

  private async runOnce(): Promise<void> {
    try {
      if (!(await this.mayRun())) return;
      await this.perform();
    } catch (error) {
      this.log.error({ err: error, task: this.name }, 'recurring task failed; retrying at its next run');
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runNow().finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }
}
