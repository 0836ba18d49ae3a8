import fs from 'node:fs';

import pino, { type DestinationStream, type Logger } from 'pino';

/** Lines held while stdout is slow; beyond this the oldest are dropped (and counted). */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
const RETRY_MS = 50;

/**
 * Where log lines go: fd 1, written asynchronously one batch at a time, so that logging can
 * never stop the server. pino's default destination (sonic-boom) retries a failed write
 * forever when it flushes at exit — with stdout a pipe whose reader is gone (EPIPE, e.g. a
 * restarted journald or log shipper) `process.exit` then never returns. Here a write error
 * other than EAGAIN turns logging off for good (there is nowhere left to write), a slow
 * reader costs memory up to MAX_PENDING_BYTES and then drops the oldest lines, and nothing
 * ever writes synchronously or waits unboundedly.
 */
export class LogDestination implements DestinationStream {
  private pending: string[] = [];
  private pendingBytes = 0;
  private writing = false;
  private broken = false;
  private dropped = 0;
  private readonly drainWaiters = new Set<() => void>();

  constructor(private readonly fd = 1) {}

  write(line: string): void {
    if (this.broken) return;
    this.pending.push(line);
    this.pendingBytes += line.length;
    while (this.pendingBytes > MAX_PENDING_BYTES && this.pending.length > 1) {
      this.pendingBytes -= this.pending.shift()!.length;
      this.dropped += 1;
    }
    if (!this.writing) this.writeNext();
  }

  /** Resolves once what was logged so far is written, or after `timeoutMs`, whichever first. */
  flush(timeoutMs: number): Promise<void> {
    if (this.broken || (!this.writing && this.pending.length === 0)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.drainWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.drainWaiters.add(done);
    });
  }

  private writeNext(): void {
    if (this.pending.length === 0 || this.broken) {
      this.writing = false;
      for (const waiter of [...this.drainWaiters]) waiter();
      return;
    }
    this.writing = true;
    if (this.dropped > 0) {
      this.pending.unshift(`${JSON.stringify({ level: 40, time: new Date().toISOString(), msg: `log output was too slow: ${this.dropped} lines dropped` })}\n`);
      this.dropped = 0;
    }
    const batch = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    this.writeOut(Buffer.from(batch));
  }

  private writeOut(buffer: Buffer): void {
    fs.write(this.fd, buffer, 0, buffer.length, null, (error, written) => {
      if (error) {
        if (error.code === 'EAGAIN') {
          setTimeout(() => this.writeOut(buffer), RETRY_MS).unref();
          return;
        }
        this.broken = true;
        this.pending = [];
        this.pendingBytes = 0;
        this.writeNext();
        return;
      }
      if (written < buffer.length) this.writeOut(buffer.subarray(written));
      else this.writeNext();
    });
  }
}

/** The process's log destination (stdout), shared by every logger createLogger makes. */
export const stdoutLog = new LogDestination(1);

/** Structured JSON logs on stdout; every request-scoped line carries `requestId`. */
export function createLogger(level: string, name = 'dev-forge-distribution'): Logger {
  return pino(
    {
      name,
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['req.headers.authorization', 'connectionParams.authorization'], censor: '[redacted]' },
    },
    stdoutLog,
  );
}
