import { ConfigError, loadConfig, type Config } from './config.js';
import { startApp } from './server/app.js';
import { createLogger } from './server/logger.js';
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
    log.info({ signal }, 'shutting down: draining requests and closing subscriptions');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 15 s; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    app.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`start-up failed: ${(error as Error).message ?? error}\n`);
  process.exit(1);
});
