import crypto from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

import type { Config } from '../config.js';
import { ProviderError, type ByteRange, type CdnProvider, type DeleteHint, type InvalidationResult, type PutInfo } from './provider.js';
import { encodeKeyPath, objectKeyProblem } from './remote.js';

export interface LocalProviderOptions {
  /** Root directory; each region gets `<root>/<region>/` with `objects/`, `keys/` and `tmp/` inside. */
  root: string;
  /** Regions in configured order; the first one is the primary (its URLs carry no region segment). */
  regions: readonly string[];
  /**
   * Base of the URLs this server serves files under (CDN_BASE_URL, default `<server url>/cdn`).
   * A function because the port is known only once the server listens.
   */
  publicBaseUrl: () => string;
}

/** Temp files older than this are leftovers of a crash and are removed when a region is first used. */
const STALE_TEMP_MS = 60 * 60 * 1000;
const READ_CHUNK = 256 * 1024;
/** Progress callbacks at most this often. */
const PROGRESS_EVERY_MS = 500;

/** Errors of a filesystem that may recover (disk full, directory fixed by an operator…). */
const PERMANENT_CODES = new Set(['ENAMETOOLONG', 'EINVAL']);

/**
 * The embedded store: plain files under DATA_DIR, served by this server (see
 * src/server/cdnRoutes.ts). Content-addressed: bytes live once per region in
 * `objects/<aa>/<bb>/<sha256>`, and each key (`<fileId>/<fileName>`) is a hard link to its blob,
 * so identical uploads share one copy on disk and a key never points at half-written bytes.
 *
 * Writes are atomic: the body streams into `tmp/`, its size and sha256 are checked against
 * PutInfo, the file is fsynced, then linked into place with a rename (and the directories are
 * fsynced). A failure at any step leaves nothing that `exists` or `get` would see.
 */
export class LocalCdnProvider implements CdnProvider {
  readonly name = 'local' as const;
  readonly regions: readonly string[];
  private readonly root: string;
  private readonly publicBaseUrl: () => string;
  private readonly preparedRegions = new Set<string>();

  constructor(options: LocalProviderOptions) {
    this.root = path.resolve(options.root);
    this.regions = [...options.regions];
    this.publicBaseUrl = options.publicBaseUrl;
  }

  /** The store for DATA_DIR/cdn with CDN_REGIONS. */
  static fromConfig(config: Config, publicBaseUrl: () => string): LocalCdnProvider {
    return new LocalCdnProvider({ root: path.join(config.dataDir, 'cdn'), regions: config.cdnRegions, publicBaseUrl });
  }

  /** Directory of one region (tests break a region by putting a regular file here). */
  regionDirectory(region: string): string {
    if (!this.regions.includes(region)) {
      throw new ProviderError(`local store: unknown region "${region}" (configured: ${this.regions.join(', ')})`, { retryable: false });
    }
    return path.join(this.root, region);
  }

  async put(region: string, key: string, body: Readable, info: PutInfo): Promise<void> {
    const keyFile = this.keyFile(region, key);
    let temp: string | undefined;
    let handle: FileHandle | undefined;
    try {
      const tempDir = await this.prepare(region);
      temp = path.join(tempDir, `${crypto.randomUUID()}.part`);
      handle = await fs.open(temp, 'wx', 0o644);
      const hash = crypto.createHash('sha256');
      let size = 0;
      let reported = Date.now();
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > info.size) {
          throw new ProviderError(`local store, region ${region}: the body is longer than the declared ${info.size} bytes`, { retryable: false });
        }
        hash.update(chunk);
        await writeAll(handle, chunk);
        if (info.onProgress && Date.now() - reported >= PROGRESS_EVERY_MS) {
          reported = Date.now();
          info.onProgress(size);
        }
      }
      if (size !== info.size) {
        throw new ProviderError(`local store, region ${region}: the body ended after ${size} of ${info.size} bytes`, { retryable: false });
      }
      if (hash.digest('hex') !== info.checksum) {
        throw new ProviderError(`local store, region ${region}: the bytes do not match their sha256 (did the source change while it was read?)`, {
          retryable: false,
        });
      }
      await handle.sync();
      await handle.close();
      handle = undefined;
      await this.linkInto(region, temp, keyFile, info);
      info.onProgress?.(size);
    } catch (error) {
      body.destroy();
      throw failure(region, 'storing an object', error);
    } finally {
      await handle?.close().catch(() => {});
      if (temp) await fs.unlink(temp).catch(() => {});
    }
  }

  async copy(region: string, sourceKey: string, targetKey: string, info: PutInfo): Promise<void> {
    const source = this.keyFile(region, sourceKey);
    const target = this.keyFile(region, targetKey);
    try {
      const stat = await fs.stat(source);
      if (stat.size !== info.size) {
        throw new ProviderError(`local store, region ${region}: the source object has ${stat.size} bytes, expected ${info.size}`, { retryable: false });
      }
      await this.prepare(region);
      await this.linkInto(region, source, target, info);
    } catch (error) {
      throw failure(region, 'copying an object', error);
    }
  }

  async get(region: string, key: string, range?: ByteRange): Promise<Readable> {
    const file = this.keyFile(region, key);
    let handle: FileHandle;
    try {
      handle = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (error) {
      throw failure(region, 'opening an object', error);
    }
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_CHUNK });
  }

  async exists(region: string, key: string): Promise<boolean> {
    try {
      return (await fs.stat(this.keyFile(region, key))).isFile();
    } catch (error) {
      if (isMissing(error)) return false;
      throw failure(region, 'checking an object', error);
    }
  }

  async delete(region: string, key: string, hint?: DeleteHint): Promise<void> {
    const keyFile = this.keyFile(region, key);
    const regionDir = this.regionDirectory(region);
    try {
      await fs.unlink(keyFile).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
      await removeEmptyParents(path.dirname(keyFile), path.join(regionDir, 'keys'));
      if (hint?.checksum && /^[0-9a-f]{64}$/.test(hint.checksum)) {
        const blob = this.blobFile(region, hint.checksum);
        // A blob's own name is one link; with no key linking it any more, nothing serves it.
        // A put linking it at this very moment keeps its bytes through its own link.
        const stat = await fs.stat(blob).catch(() => undefined);
        if (stat && stat.nlink <= 1) {
          await fs.unlink(blob).catch(() => {});
          await removeEmptyParents(path.dirname(blob), path.join(regionDir, 'objects'));
        }
      }
    } catch (error) {
      throw failure(region, 'deleting an object', error);
    }
  }

  publicUrl(region: string, key: string): string {
    const base = this.publicBaseUrl().replace(/\/+$/, '');
    const regionPart = region === this.regions[0] ? '' : `/${encodeURIComponent(region)}`;
    return `${base}${regionPart}/${encodeKeyPath(key)}`;
  }

  /** No edge cache in front of this server: nothing to tell, nothing to wait for. */
  async invalidate(_paths: readonly string[]): Promise<InvalidationResult> {
    return { reference: null };
  }

  /** Creates the region's directories (once per process also clearing stale temp files); resolves the temp dir. */
  private async prepare(region: string): Promise<string> {
    const regionDir = this.regionDirectory(region);
    const tempDir = path.join(regionDir, 'tmp');
    await fs.mkdir(tempDir, { recursive: true });
    await fs.mkdir(path.join(regionDir, 'objects'), { recursive: true });
    await fs.mkdir(path.join(regionDir, 'keys'), { recursive: true });
    if (!this.preparedRegions.has(region)) {
      this.preparedRegions.add(region);
      const cutoff = Date.now() - STALE_TEMP_MS;
      for (const name of await fs.readdir(tempDir).catch(() => [] as string[])) {
        const file = path.join(tempDir, name);
        const stat = await fs.stat(file).catch(() => undefined);
        if (stat && stat.mtimeMs < cutoff) await fs.unlink(file).catch(() => {});
      }
    }
    return tempDir;
  }

  /**
   * Makes `keyFile` a hard link to the content-addressed blob of `source`'s bytes: the blob is
   * created from `source` when absent, reused when present (deduplication). The key appears
   * atomically (link to a temp name, then rename over any previous key).
   */
  private async linkInto(region: string, source: string, keyFile: string, info: PutInfo): Promise<void> {
    const blob = this.blobFile(region, info.checksum);
    await fs.mkdir(path.dirname(blob), { recursive: true });
    let linkFrom = source;
    try {
      await fs.link(source, blob);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const existing = await fs.stat(blob).catch(() => undefined);
      if (existing?.size === info.size) linkFrom = blob;
      else {
        // A blob of the wrong size is damage, not content: replace it with the verified bytes.
        const replacement = path.join(this.regionDirectory(region), 'tmp', `${crypto.randomUUID()}.blob`);
        await fs.link(source, replacement);
        await fs.rename(replacement, blob);
      }
    }
    await fs.mkdir(path.dirname(keyFile), { recursive: true });
    const keyTemp = path.join(this.regionDirectory(region), 'tmp', `${crypto.randomUUID()}.key`);
    try {
      await fs.link(linkFrom, keyTemp);
    } catch (error) {
      // The blob was garbage-collected between the two links: link the verified source instead.
      if (linkFrom === source || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await fs.link(source, keyTemp);
    }
    try {
      await fs.rename(keyTemp, keyFile);
    } catch (error) {
      await fs.unlink(keyTemp).catch(() => {});
      throw error;
    }
    await fsyncDirectory(path.dirname(keyFile));
    await fsyncDirectory(path.dirname(blob));
  }

  private keyFile(region: string, key: string): string {
    const problem = objectKeyProblem(key);
    if (problem) throw new ProviderError(`local store: invalid object key: ${problem}`, { retryable: false });
    return path.join(this.regionDirectory(region), 'keys', ...key.split('/'));
  }

  private blobFile(region: string, checksum: string): string {
    return path.join(this.regionDirectory(region), 'objects', checksum.slice(0, 2), checksum.slice(2, 4), checksum);
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset, null);
    offset += bytesWritten;
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes `dir` and its parents while empty, stopping at `stop` (never removed). */
async function removeEmptyParents(dir: string, stop: string): Promise<void> {
  let current = dir;
  while (current.startsWith(stop + path.sep)) {
    try {
      await fs.rmdir(current);
    } catch {
      return;
    }
    current = path.dirname(current);
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT';
}

/**
 * A ProviderError for a filesystem failure. The message names the region, the action and the
 * errno code but never the path: it may reach clients (region status) and DATA_DIR is private.
 */
function failure(region: string, action: string, error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') {
    return new ProviderError(`local store, region ${region}: ${action} failed: no such object`, { retryable: false, status: 404, cause: error });
  }
  return new ProviderError(`local store, region ${region}: ${action} failed (${code ?? (error as Error)?.name ?? 'error'})`, {
    retryable: !PERMANENT_CODES.has(code ?? ''),
    cause: error,
  });
}
