import type { Logger } from 'pino';
import postgres from 'postgres';

/**
 * Which instance of a deployment runs the recurring tasks (`JobEngine.every`).
 *
 * PostgreSQL: a session advisory lock held on a connection of its own. The holder keeps it for
 * as long as that connection lives, so after the first successful `pg_try_advisory_lock` it runs
 * its tasks without asking the database again; the others try again at most once a second,
 * only when one of their tasks is due. A holder killed (even with SIGKILL) drops its socket, the
 * server releases the lock, and the next instance whose task comes due takes over. If the
 * holder's connection closes while it lives (server restart, terminated backend), it stops
 * counting itself leader at once and competes again like the others.
 *
 * PGlite: one process per data directory, so that process always leads.
 */
export interface Leadership {
  /** True when this instance may run deployment-wide recurring work now. */
  held(): Promise<boolean>;
  close(): Promise<void>;
}

/** Any fixed 64-bit number, distinct from the migration lock's. */
const LEADER_LOCK_ID = 7_241_019_554;
const FOLLOWER_RETRY_MS = 1_000;

export function soleLeadership(): Leadership {
  return { held: async () => true, close: async () => {} };
}

export function advisoryLockLeadership(databaseUrl: string, log: Logger): Leadership {
  let holding = false;
  let closed = false;
  let retryAt = 0;
  let checking: Promise<boolean> | undefined;
  const client = postgres(databaseUrl, {
    max: 1,
    idle_timeout: 0,
    // The lock lives as long as the connection: never recycle it on purpose.
    max_lifetime: null,
    onnotice: () => {},
    connection: { application_name: 'dev-forge-distribution-leader' },
    onclose: () => {
      if (holding) log.warn('job leadership lost: its connection closed; competing for it again');
      holding = false;
    },
  });

  async function tryAcquire(): Promise<boolean> {
    try {
      const [row] = await client<{ ok: boolean }[]>`select pg_try_advisory_lock(${LEADER_LOCK_ID}) as ok`;
      // A connection that closed during the query may have taken the lock with it.
      const ok = Boolean(row?.ok) && !closed;
      if (ok && !holding) log.info({ pid: process.pid }, 'job leadership taken: this instance runs the recurring tasks');
      holding = ok;
    } catch (error) {
      if (!closed) log.warn({ err: error }, 'job leadership check failed');
      holding = false;
    }
    if (!holding) retryAt = Date.now() + FOLLOWER_RETRY_MS;
    return holding;
  }

  return {
    async held() {
      if (closed) return false;
      if (holding) return true;
      if (Date.now() < retryAt) return false;
      checking ??= tryAcquire().finally(() => {
        checking = undefined;
      });
      return checking;
    },
    async close() {
      closed = true;
      holding = false;
      await checking?.catch(() => {});
      await client.end({ timeout: 2 });
    },
  };
}
