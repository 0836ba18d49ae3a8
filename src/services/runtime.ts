import pino, { type Logger } from 'pino';

import { loadConfig, type Config } from '../config.js';
import { openDatabase, type Database, type DatabaseHandle } from '../db/client.js';
import { EventBus } from '../events/eventBus.js';
import { createJobEngine, type JobEngine } from '../jobs/engine.js';

/** What every service works over. */
export interface ServiceRuntime {
  config: Config;
  database: DatabaseHandle;
  db: Database;
  events: EventBus;
  /** Durable background jobs (src/jobs/engine.ts); started by the server, send-only in scripts. */
  jobs: JobEngine;
  log: Logger;
}

/** A runtime, or a way to get one the first time a service is used. */
export type RuntimeSource = ServiceRuntime | (() => Promise<ServiceRuntime>);

export async function createRuntime(config: Config, log: Logger): Promise<ServiceRuntime> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await database.migrate();
    const events = new EventBus(database, log);
    await events.start();
    // Created here, started beside the services (src/jobs/registry.ts startJobs): its handlers need them.
    const jobs = createJobEngine(database, config, log);
    return { config, database, db: database.db, events, jobs, log };
  } catch (error) {
    await database.close();
    throw error;
  }
}

export async function closeRuntime(runtime: ServiceRuntime): Promise<void> {
  await runtime.jobs.stop();
  await runtime.events.stop();
  await runtime.database.close();
}

let shared: Promise<ServiceRuntime> | undefined;

/**
 * The runtime behind the ready-made service instances (`versionManagementService`, …):
 * the server installs its own at start-up; a script that imports a service without a server
 * gets one opened from the environment (same variables as the server) on first use.
 */
export function sharedRuntime(): Promise<ServiceRuntime> {
  shared ??= (async () => {
    const runtime = await createRuntime(loadConfig(), pino({ level: process.env.LOG_LEVEL ?? 'info' }));
    // A script sends jobs but runs none (servers do). Imported here, not at the top: both
    // modules import this one.
    const [{ startJobs }, { createServices }] = await Promise.all([import('../jobs/registry.js'), import('./index.js')]);
    try {
      await startJobs({ runtime, services: createServices(runtime), work: false });
    } catch (error) {
      await closeRuntime(runtime);
      throw error;
    }
    return runtime;
  })();
  return shared;
}

export function installSharedRuntime(runtime: ServiceRuntime): void {
  shared = Promise.resolve(runtime);
}

/** Closes the runtime `sharedRuntime` opened (scripts call this before exiting). */
export async function closeSharedRuntime(): Promise<void> {
  const current = shared;
  shared = undefined;
  if (current) await closeRuntime(await current);
}

/** Base of the four services: resolves the runtime lazily so module-level instances work. */
export abstract class Service {
  private resolved: ServiceRuntime | undefined;

  constructor(private readonly source: RuntimeSource = sharedRuntime) {}

  protected async runtime(): Promise<ServiceRuntime> {
    if (this.resolved) return this.resolved;
    const runtime = typeof this.source === 'function' ? await this.source() : this.source;
    if (typeof this.source !== 'function') this.resolved = runtime;
    return runtime;
  }
}
