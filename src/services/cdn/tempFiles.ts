import fs from 'node:fs/promises';
import path from 'node:path';

import type { ServiceRuntime } from '../runtime.js';

/**
 * Temp files are how uploads stay atomic: PUT /uploads streams into `UPLOAD_DIR/.incoming-*`,
 * the local store into `DATA_DIR/cdn/<region>/tmp/` (`*.part` bodies, `*.blob`/`*.key` links).
 * Each writer removes its own on failure, but a process that dies (kill -9, power loss, a
 * shutdown that gave up) cannot: start-up and the expiry sweep remove what it left.
 *
 * Age-bounded, never "everything": another live instance sharing the directory may be writing
 * one right now. A live writer touches its file with every chunk, and an upload whose client
 * stops sending is cut after BODY_IDLE_TIMEOUT, so a temp file untouched for longer than
 * `staleTempAgeMs` belongs to nobody.
 */

/** A temp file untouched for this long is an orphan: ten minutes, or twice BODY_IDLE_TIMEOUT if longer. */
export function staleTempAgeMs(config: ServiceRuntime['config']): number {
  return Math.max(10 * 60_000, 2 * config.bodyIdleTimeoutMs);
}

/** Temp names of PUT /uploads in UPLOAD_DIR (real uploads never start with "."; receiveUpload refuses them). */
const INCOMING_PREFIX = '.incoming-';

export interface TempCleanup {
  files: number;
  bytes: number;
}

/**
 * Removes orphaned temp files of every kind: `.incoming-*` in UPLOAD_DIR and everything in
 * `DATA_DIR/cdn/<region>/tmp/` for every region directory present (configured or not any more)
 * whose mtime is older than `olderThanMs`. Never throws for a file that vanished meanwhile.
 */
export async function removeStaleTempFiles(runtime: Pick<ServiceRuntime, 'config' | 'log'>, olderThanMs = staleTempAgeMs(runtime.config), now = Date.now()): Promise<TempCleanup> {
  const { uploadDir, dataDir } = runtime.config;
  const cutoff = now - olderThanMs;
  const candidates = (await names(uploadDir)).filter((name) => name.startsWith(INCOMING_PREFIX)).map((name) => path.join(uploadDir, name));
  const store = path.join(dataDir, 'cdn');
  for (const region of await names(store)) {
    const tmp = path.join(store, region, 'tmp');
    candidates.push(...(await names(tmp)).map((name) => path.join(tmp, name)));
  }
  const removed: TempCleanup = { files: 0, bytes: 0 };
  for (const file of candidates) {
    const stat = await fs.lstat(file).catch(() => undefined);
    if (!stat?.isFile() || stat.mtimeMs > cutoff) continue;
    try {
      await fs.unlink(file);
      removed.files += 1;
      removed.bytes += stat.size;
    } catch {
      // Gone already (its writer finished, or another instance's sweep): nothing to do.
    }
  }
  if (removed.files > 0) runtime.log.info({ ...removed, olderThanMs }, 'removed temp files left by crashed or interrupted uploads');
  return removed;
}

async function names(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => [] as string[]);
}
