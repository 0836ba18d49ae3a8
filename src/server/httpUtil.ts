import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { ErrorCode, HTTP_STATUS } from '../services/errors.js';

/** A request id: the caller's `x-request-id` when sane, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : crypto.randomUUID();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A GraphQL-shaped error response for failures before GraphQL runs (auth, body size, JSON). */
export function sendGraphQLError(res: ServerResponse, code: ErrorCode, message: string, extra: Record<string, unknown> = {}): void {
  sendJson(res, HTTP_STATUS[code], { errors: [{ message, extensions: { code, ...extra } }] });
}

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body is larger than ${limit} bytes`);
  }
}

/** Reads a request body up to `limit` bytes; rejects with BodyTooLargeError past it. */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** True when the request carries a body (Content-Length above 0, or chunked). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Cuts a request whose body goes `idleMs` without a byte: 408 (when nothing was answered yet)
 * and the connection closed. The clock is the socket's idle timer, so it restarts with every
 * byte: an upload that keeps sending is never limited, however long it takes. Disarmed once
 * the body has been read, so slow work after it (a long mutation) is not cut. Calls
 * `onTimeout` first, so the caller can tell the handler's resulting failure from a real one.
 */
export function limitBodyIdleTime(req: IncomingMessage, res: ServerResponse, idleMs: number, onTimeout: () => void): void {
  if (!hasBody(req)) return;
  const onIdle = () => {
    onTimeout();
    const socket = req.socket;
    // Destroying the request (not only the socket) is what tells a handler still reading the body:
    // once the response is finished node:http forgets the request, and a closing socket alone
    // would leave that handler waiting for bytes forever.
    const cut = () => {
      req.destroy(new Error(`request body idle for ${idleMs} ms`));
      socket.destroy();
    };
    if (!res.headersSent) {
      sendJson(res, 408, { error: `The request body sent nothing for ${idleMs} ms; the connection is closed (BODY_IDLE_TIMEOUT)` }, { connection: 'close' });
      res.once('finish', cut);
    } else cut();
  };
  req.setTimeout(idleMs, onIdle);
  req.once('end', () => {
    req.off('timeout', onIdle);
    // After the response a keep-alive socket has its own timer (keepAliveTimeout): leave it be.
    if (!res.writableFinished) req.socket?.setTimeout(0);
  });
}
