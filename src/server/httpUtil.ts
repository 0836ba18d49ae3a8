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

/**
 * Reads a request body up to `limit` bytes; rejects with BodyTooLargeError past it. Plain
 * 'data'/'end' listeners rather than `for await`: the async iterator's machinery was a
 * measurable share of a small update check.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // The rest is not kept: node:http discards it once the answer (413, Connection: close)
        // is out. Destroying the request here would take the socket, and the answer, with it.
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    // Destroyed before its end (a cut connection): the iterator rejected with "Premature close".
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
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
