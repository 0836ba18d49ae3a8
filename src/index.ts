import { ConfigError, loadConfig, type Config } from './config.js';
import { startApp } from './server/app.js';
import { createLogger, stdoutLog } from './server/logger.js';
import { installSharedRuntime } from './services/runtime.js';

/** Start-up only: config → database (+ migrations) → server; SIGTERM/SIGINT stop it gracefully. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`configuration error: ${problem}\n`);
    process.exit(1);
  }
  const log = createLogger(config.logLevel);
  const started = Date.now();
  const app = await startApp(config, log);
  installSharedRuntime(app.runtime);

  const tokenHint = config.jwtJwksUrl
    ? 'tokens come from your identity provider (JWT_JWKS_URL)'
    : `admin token: npm run token -- --role admin${config.jwtSecret ? '' : ` (secret generated in ${config.dataDir}/jwt-secret)`}`;
  log.info(
    { url: `${app.url}/graphql`, database: app.runtime.database.kind, cdnProvider: config.cdnProvider, startupMs: Date.now() - started },
    `Dev Forge Distribution listening on ${app.url}/graphql (WebSocket ws${app.url.slice(4)}/graphql); ${tokenHint}`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Armed first, and independent of logging: whatever else hangs, the process exits.
    const force = setTimeout(() => {
      safely(() => log.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown took longer than the grace period; exiting'));
      void stdoutLog.flush(200).finally(() => process.exit(1));
      setTimeout(() => process.exit(1), 250).unref();
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    safely(() => log.info({ signal }, 'shutting down: draining requests and closing subscriptions'));
    app.close().then(
      () => exitAfterFlush(0, () => log.info('stopped')),
      (error: unknown) => exitAfterFlush(1, () => log.error({ err: error }, 'shutdown failed')),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** How long a graceful stop may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 15_000;

/** Logging must never be why something fails: a log call that throws is ignored. */
function safely(logLine: () => void): void {
  try {
    logLine();
  } catch {
    // nowhere to report it
  }
}

/** Logs the last line, gives stdout a bounded moment to take it, and exits. */
function exitAfterFlush(code: number, lastLine: () => void): void {
  safely(lastLine);
  void stdoutLog.flush(1000).finally(() => process.exit(code));
}

// A reader of stdout/stderr that went away (EPIPE) must not crash or stall the server: writes
// through the streams (console, libraries) fail silently instead of throwing an 'error' event.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

main().catch((error: unknown) => {
  process.stderr.write(`start-up failed: ${(error as Error).message ?? error}\n`);
  process.exit(1);
});
