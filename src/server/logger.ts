import pino, { type Logger } from 'pino';

/** Structured JSON logs on stdout; every request-scoped line carries `requestId`. */
export function createLogger(level: string, name = 'dev-forge-distribution'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'connectionParams.authorization'], censor: '[redacted]' },
  });
}
