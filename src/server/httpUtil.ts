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
