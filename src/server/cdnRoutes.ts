import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, pipeline } from 'node:stream';

import type { Logger } from 'pino';

import { TokenVerifier, type Caller } from '../auth/tokens.js';
import type { ByteRange } from '../cdn/provider.js';
import type { Config } from '../config.js';
import type { CdnIntegrationService } from '../services/cdn/service.js';
import { isHeaderValue } from '../services/cdn/rules.js';
import { DomainError, ErrorCode } from '../services/errors.js';
import type { Route } from './app.js';
import { sendGraphQLError, sendJson } from './httpUtil.js';

export interface CdnRouteOptions {
  config: Config;
  cdn: CdnIntegrationService;
  verifier: TokenVerifier;
  log: Logger;
}

/** Path prefix files are served under: the path of CDN_BASE_URL, `/cdn` by default. */
export function cdnPathPrefix(config: Config): string {
  return new URL(config.cdnBaseUrl ?? 'http://localhost/cdn').pathname.replace(/\/+$/, '');
}

export type RangeDecision =
  /** No Range, or one this server ignores (invalid syntax, several ranges): send everything with 200. */
  | { kind: 'full' }
  | { kind: 'partial'; range: ByteRange }
  /** 416: no byte of the requested range exists. */
  | { kind: 'unsatisfiable' };

/**
 * Interprets a `Range` header for a body of `size` bytes (RFC 9110 §14): one `bytes=` range,
 * `a-b`, `a-` or `-n`. Invalid or multi-range headers are ignored (full response), as the RFC
 * allows; a range starting at or past the end is unsatisfiable.
 */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (!header) return { kind: 'full' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'full' };
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? Number.MAX_SAFE_INTEGER : Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end: Math.min(end, size - 1) } };
}

/** True when an `If-None-Match` header names this entity tag (weak comparison, `*` matches any). */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * `GET|HEAD <prefix>/<fileId>/<fileName>` (primary region, failing over to others) and
 * `<prefix>/<region>/<fileId>/<fileName>`: the bytes of a local-provider file with its
 * Cache-Control, ETag (the sha256), 304, 206/416, 404 once deleted and 410 once expired.
 * Counted in memory, written in batches by the stats job.
 */
async function serveFile(options: CdnRouteOptions, prefix: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const { cdn, log } = options;
  const notFound = () => sendJson(res, 404, { error: `No file at ${url.pathname}` });
  const segments = url.pathname.slice(prefix.length + 1).split('/').map(decodeSegment);
  if (segments.some((segment) => segment === undefined || segment === '')) return notFound();
  let region: string | undefined;
  let fileId: string;
  let fileName: string;
  if (segments.length === 2) [fileId, fileName] = segments as [string, string];
  else if (segments.length === 3) [region, fileId, fileName] = segments as [string, string, string];
  else return notFound();

  const target = await cdn.resolveDownload(fileId, fileName, region);
  if (target.kind === 'missing') return notFound();
  if (target.kind === 'expired') {
    return sendJson(res, 410, { error: `${target.file.fileName} expired at ${target.file.expiresAt?.toISOString()} and is no longer served` });
  }
  if (target.kind === 'unavailable') {
    return sendJson(res, 503, { error: 'No region holds this file right now; it is being replicated again' }, { 'retry-after': '30' });
  }

  const { file } = target;
  const etag = `"${file.checksum}"`;
  const headers: Record<string, string | number> = {
    etag,
    'cache-control': servableHeader(file.cacheControl, STORED_FALLBACK.cacheControl, 'cacheControl', file.id, log),
    'last-modified': file.uploadedAt.toUTCString(),
    'accept-ranges': 'bytes',
    // Artifacts are downloads, never pages of this origin: no sniffing into HTML, no scripts.
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
  };
  if (etagMatches(req.headers['if-none-match'], etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const ifRange = req.headers['if-range'];
  const decision = ifRange !== undefined && ifRange !== etag ? ({ kind: 'full' } as const) : decideRange(req.headers.range, file.fileSize);
  if (decision.kind === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${file.fileSize}`, 'content-length': 0 });
    res.end();
    return;
  }
  const range = decision.kind === 'partial' ? decision.range : undefined;
  const length = range ? range.end - range.start + 1 : file.fileSize;
  Object.assign(headers, {
    'content-type': servableHeader(file.mimeType, STORED_FALLBACK.mimeType, 'mimeType', file.id, log),
    'content-length': length,
    ...(range ? { 'content-range': `bytes ${range.start}-${range.end}/${file.fileSize}` } : {}),
  });
  const status = range ? 206 : 200;
  if (req.method === 'HEAD') {
    res.writeHead(status, { ...headers, 'x-cdn-region': target.regions[0]! });
    res.end();
    return;
  }

  let opened;
  try {
    opened = await cdn.openDownload(target, length === 0 ? undefined : range);
  } catch {
    return sendJson(res, 503, { error: 'The file cannot be read from any region right now; try again shortly' }, { 'retry-after': '30' });
  }
  // From here the file is open: whatever fails must close it, or each failing GET leaks a descriptor.
  try {
    res.writeHead(status, { ...headers, 'x-cdn-region': opened.region });
  } catch (error) {
    opened.stream.destroy();
    throw error;
  }
  if (length === 0) {
    opened.stream.destroy();
    res.end();
    cdn.recordDownload(file.id, opened.region, 0, true);
    return;
  }
  let sent = 0;
  opened.stream.on('data', (chunk: Buffer) => {
    sent += chunk.length;
  });
  pipeline(opened.stream, res, (error) => {
    if (error && (error as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
      log.warn({ err: error, fileId: file.id }, 'serving a cdn file failed mid-stream');
    }
    // A download is a response that delivered the file from its first byte to the end asked for.
    cdn.recordDownload(file.id, opened.region, sent, !error && sent === length && (range?.start ?? 0) === 0);
  });
}

/**
 * What a stored value that HTTP cannot carry is served as instead (rows written before upload
 * validated them): conservative, so a file meant to be private never lands in a shared cache.
 */
const STORED_FALLBACK = { cacheControl: 'private, no-cache', mimeType: 'application/octet-stream' };

/** `value` when node:http can send it, else `fallback` (logged: the row needs fixing, the file stays servable). */
function servableHeader(value: string, fallback: string, field: string, fileId: string, log: Logger): string {
  if (isHeaderValue(value)) return value;
  log.warn({ fileId, field }, 'a stored header value cannot be sent over HTTP; serving a safe default instead');
  return fallback;
}

const UPLOADS_PREFIX = '/uploads/';

async function authenticateAdmin(verifier: TokenVerifier, req: IncomingMessage, res: ServerResponse): Promise<Caller | undefined> {
  try {
    const token = TokenVerifier.bearer(req.headers.authorization);
    if (!token) {
      sendGraphQLError(res, ErrorCode.UNAUTHENTICATED, 'Authentication required: send "Authorization: Bearer <JWT>" with an admin token');
      return undefined;
    }
    const caller = await verifier.verify(token);
    if (caller.role !== 'admin') {
      sendGraphQLError(res, ErrorCode.FORBIDDEN, 'Uploading files needs the admin role');
      return undefined;
    }
    return caller;
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    sendGraphQLError(res, error.code, error.message);
    return undefined;
  }
}

/**
 * `PUT /uploads/<name>` (admin): streams the body into UPLOAD_DIR/<name> and answers 201 with
 * `{ path, size, checksum }`; `path` is what `uploadCdnFile(input: {filePath})` takes. 400 for a
 * bad name, 413 past MAX_FILE_SIZE (by Content-Length before reading, or while streaming).
 */
async function receiveUpload(options: CdnRouteOptions, req: IncomingMessage, res: ServerResponse, url: URL, requestId: string): Promise<void> {
  const caller = await authenticateAdmin(options.verifier, req, res);
  if (!caller) return;
  const raw = url.pathname.slice(UPLOADS_PREFIX.length);
  const name = raw.includes('/') ? undefined : decodeSegment(raw);
  if (name === undefined || name === '') {
    return sendGraphQLError(res, ErrorCode.BAD_USER_INPUT, 'PUT /uploads/<name> takes one URL-encoded file name, without "/"');
  }
  const lengthHeader = req.headers['content-length'];
  const declared = lengthHeader === undefined ? undefined : Number(lengthHeader);
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  // Piped, not pipeline(): a refused upload must leave the socket open to answer 413.
  req.pipe(body);
  req.once('close', () => {
    if (!req.complete) body.destroy(new Error('the client closed the connection before the upload finished'));
  });
  try {
    const result = await options.cdn.receiveUpload(name, body as AsyncIterable<Buffer>, Number.isFinite(declared) ? declared : undefined);
    options.log.info({ requestId, uploadedBy: caller.id, fileName: result.path, bytes: result.size }, 'file received through PUT /uploads');
    sendJson(res, 201, { ...result, filePath: result.path });
  } catch (error) {
    req.unpipe(body);
    body.destroy();
    if (!req.complete) {
      // Read and drop the rest so the client gets the answer; give up on absurd declared sizes.
      if (declared !== undefined && declared > options.config.maxFileSize + 16 * 1024 * 1024) res.setHeader('connection', 'close');
      else req.resume();
    }
    if (!(error instanceof DomainError)) throw error;
    if (res.headersSent || res.destroyed) return;
    sendGraphQLError(res, error.code, error.message);
  }
}

/** The HTTP routes of the CDN: file serving (local provider only) and PUT /uploads/<name>. */
export function cdnRoutes(options: CdnRouteOptions): Route[] {
  const routes: Route[] = [
    {
      name: 'uploads',
      method: 'PUT',
      match: (pathname) => pathname.startsWith(UPLOADS_PREFIX),
      handle: (req, res, { url, requestId }) => receiveUpload(options, req, res, url, requestId),
    },
  ];
  if (options.config.cdnProvider === 'local') {
    const prefix = cdnPathPrefix(options.config);
    routes.push({
      name: 'cdn',
      method: ['GET', 'HEAD'],
      match: (pathname) => pathname.startsWith(`${prefix}/`),
      handle: (req, res, { url }) => serveFile(options, prefix, req, res, url),
    });
  }
  return routes;
}
