import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import lockfile from 'proper-lockfile';

/**
 * DATA_DIR is one process's: the embedded database (PGlite) is a PostgreSQL data directory
 * without a postmaster to keep a second writer out, so two processes opening it each keep
 * their own view and one's acknowledged writes are lost. Everything under it (database, JWT
 * secret, CDN objects, uploads) is private to the service's user.
 */

/** The lock directory proper-lockfile creates and keeps fresh; beside it, who holds it. */
const LOCK_NAME = 'server.lock';
const HOLDER_NAME = 'server.lock.json';

/**
 * How old the lock's mtime must be before another host (or PID namespace) may take it over.
 * The holder refreshes it every half of this. On this host a dead holder is seen at once (PID).
 */
const STALE_MS = 60_000;

/** What the holder writes beside the lock, for the refusal message and same-host liveness. */
interface Holder {
  pid: number;
  host: string;
  since: string;
  command: string;
}

/** Locks held by this process, by lock directory: a second open in-process is refused too. */
const heldHere = new Set<string>();

export class DataDirLockedError extends Error {
  constructor(dataDir: string, holder: Holder | undefined) {
    const who = holder ? `PID ${holder.pid}${holder.host === os.hostname() ? '' : ` on ${holder.host}`} (${holder.command}, since ${holder.since})` : 'another process';
    super(
      `DATA_DIR ${dataDir} is in use by ${who}: only one process may open the embedded database; stop it, or give this one another DATA_DIR (or a DATABASE_URL)`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  /** Releases the lock (idempotent). The process exiting releases it too; a SIGKILL leaves a lock the next opener sees is dead. */
  release(): Promise<void>;
}

function readHolder(dataDir: string): Holder | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, HOLDER_NAME), 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

/**
 * The holder of a lock we just failed to take. A process that has taken the lock writes its
 * record a moment later, so a missing record, or one naming a dead process (perhaps the
 * previous holder's, about to be replaced), is read again for up to HOLDER_SETTLE_MS before
 * it counts: two servers started at once then both see the winner's PID, and the loser never
 * takes a fresh lock for a dead one.
 */
async function settledHolder(dataDir: string): Promise<Holder | undefined> {
  const lockDir = path.join(dataDir, LOCK_NAME);
  const deadline = Date.now() + HOLDER_SETTLE_MS;
  let holder = readHolder(dataDir);
  while ((!holder || !holderAlive(holder, lockDir)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    holder = readHolder(dataDir);
  }
  return holder;
}

const HOLDER_SETTLE_MS = 1_000;

/** False only when the holder certainly is gone: a PID of this host that no longer runs (or is ours without our holding it). */
function holderAlive(holder: Holder | undefined, lockDir: string): boolean {
  if (!holder || holder.host !== os.hostname()) return true;
  if (holder.pid === process.pid) return heldHere.has(lockDir);
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Takes the exclusive lock on `dataDir` (created 0700 if missing) or throws DataDirLockedError
 * at once, naming the PID that holds it. A lock left by a process that died (SIGKILL, power
 * loss) does not block: on this host its PID is checked; elsewhere it goes stale after a minute.
 * `onLost` runs if the lock is taken from us (its directory removed or refreshed by someone else).
 */
export async function lockDataDir(dataDir: string, onLost: (error: Error) => void): Promise<DataDirLock> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lockDir = path.join(dataDir, LOCK_NAME);
  const options = { lockfilePath: lockDir, realpath: false, stale: STALE_MS, retries: 0, onCompromised: onLost };
  let releaseLock: () => Promise<void>;
  try {
    releaseLock = await lockfile.lock(dataDir, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    const holder = await settledHolder(dataDir);
    if (holderAlive(holder, lockDir)) throw new DataDirLockedError(dataDir, holder);
    // The holder died without releasing: its lock directory is ours to remove.
    fs.rmSync(lockDir, { recursive: true, force: true });
    try {
      releaseLock = await lockfile.lock(dataDir, options);
    } catch (retryError) {
      if ((retryError as NodeJS.ErrnoException).code !== 'ELOCKED') throw retryError;
      throw new DataDirLockedError(dataDir, readHolder(dataDir));
    }
  }
  heldHere.add(lockDir);
  const holder: Holder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), command: path.basename(process.argv[1] ?? process.argv0) };
  const holderFile = path.join(dataDir, HOLDER_NAME);
  const temp = `${holderFile}.${process.pid}`;
  fs.writeFileSync(temp, JSON.stringify(holder), { mode: 0o600 });
  fs.renameSync(temp, holderFile);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(lockDir);
      if (readHolder(dataDir)?.pid === process.pid) fs.rmSync(holderFile, { force: true });
      await releaseLock().catch(() => {});
    },
  };
}

/**
 * Makes DATA_DIR private to this user: the process umask keeps every file created from now on
 * (PGlite's relations and WAL, uploads, CDN objects, the JWT secret) at 0600/0700, and what an
 * older version left readable or writable by others is tightened once here.
 */
export function makeDataDirPrivate(dataDir: string): void {
  try {
    process.umask(process.umask() | 0o077);
  } catch {
    // Worker threads cannot change the umask; the walk below still fixes what exists.
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  tighten(dataDir);
}

function tighten(target: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(target);
  } catch {
    return; // removed meanwhile
  }
  if (stat.isSymbolicLink() || stat.uid !== process.getuid?.()) return;
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(target, stat.mode & 0o700);
  if (!stat.isDirectory()) return;
  for (const name of fs.readdirSync(target)) tighten(path.join(target, name));
}
