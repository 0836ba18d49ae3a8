import crypto from 'node:crypto';

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type DocumentNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface GraphQLResponse<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string; [key: string]: unknown } }[];
}

type Operation<T, V> = TypedDocumentNode<T, V> | DocumentNode | string;

function text(operation: Operation<unknown, unknown>): string {
  return typeof operation === 'string' ? operation : print(operation);
}

/** A GraphQL-over-HTTP client as a dashboard or release script would be (real fetch). */
export class HttpClient {
  constructor(
    readonly url: string,
    readonly token: string | undefined,
  ) {}

  async request<T, V = Record<string, unknown>>(operation: Operation<T, V>, variables?: V, headers: Record<string, string> = {}): Promise<GraphQLResponse<T>> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      body: JSON.stringify({ query: text(operation), variables }),
    });
    const body = (await response.json()) as GraphQLResponse<T>;
    return { ...body, status: response.status };
  }

  /** Returns data, failing the test with the errors when there are any. */
  async data<T, V = Record<string, unknown>>(operation: Operation<T, V>, variables?: V): Promise<T> {
    const response = await this.request(operation, variables);
    if (response.errors?.length || !response.data) {
      throw new Error(`GraphQL errors: ${JSON.stringify(response.errors ?? response)}`);
    }
    return response.data;
  }

  /** Returns the first error's extensions.code (undefined when the call succeeded). */
  async errorCode<T, V = Record<string, unknown>>(operation: Operation<T, V>, variables?: V): Promise<string | undefined> {
    const response = await this.request(operation, variables);
    return response.errors?.[0]?.extensions?.code;
  }
}

/** Events of one subscription, in arrival order, awaited one by one with a deadline. */
export class Subscription<T> {
  private readonly queue: T[] = [];
  private readonly waiters: ((value: T) => void)[] = [];
  readonly errors: unknown[] = [];
  private dispose: () => void = () => {};

  constructor(client: Client, operation: Operation<T, unknown>, variables: Record<string, unknown> | undefined) {
    this.dispose = client.subscribe<T>(
      { query: text(operation), variables },
      {
        next: (result) => {
          if (result.errors) this.errors.push(result.errors);
          const value = result as unknown as T;
          const waiter = this.waiters.shift();
          if (waiter) waiter(value);
          else this.queue.push(value);
        },
        error: (error) => this.errors.push(error),
        complete: () => {},
      },
    );
  }

  /** Whether the server has answered anything yet: a result or an error. */
  answered(): boolean {
    return this.queue.length > 0 || this.errors.length > 0;
  }

  /** The next event (an execution result with `data`), or a rejection after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<T> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(onValue), 1);
        reject(new Error(`no subscription event within ${timeoutMs} ms (errors: ${JSON.stringify(this.errors)})`));
      }, timeoutMs);
      const onValue = (value: T) => {
        clearTimeout(timer);
        resolve(value);
      };
      this.waiters.push(onValue);
    });
  }

  /** Resolves true when no event arrives within `ms` (for "must not be told" checks). */
  async quietFor(ms: number): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  close(): void {
    this.dispose();
  }
}

/** What wsClient's clients know of the server's "subscription live" acknowledgements. */
interface Acks {
  /** The id graphql-ws gave the last subscription started (it generates it synchronously in subscribe). */
  lastId?: string;
  live: Set<string>;
}
const acksOf = new WeakMap<Client, Acks>();

/**
 * A graphql-ws client over a real WebSocket, authenticated like an extension client. It asks the
 * server to acknowledge each subscription once it listens (connectionParams.subscriptionAcks),
 * which `subscribe` waits for.
 */
export function wsClient(url: string, token: string | undefined, onClosed?: (event: { code: number; reason: string }) => void): Client {
  const acks: Acks = { live: new Set() };
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: { ...(token ? { authorization: `Bearer ${token}` } : {}), subscriptionAcks: true },
    generateID: () => (acks.lastId = crypto.randomUUID()),
    on: {
      ...(onClosed ? { closed: (event: unknown) => onClosed(event as { code: number; reason: string }) } : {}),
      ping: (received, payload) => {
        if (received && typeof payload?.subscribed === 'string') acks.live.add(payload.subscribed);
      },
    },
    // Non-lazy clients print every close to stderr by default; tests observe closes via onClosed.
    onNonLazyError: () => {},
  });
  acksOf.set(client, acks);
  return client;
}

/**
 * Subscribes and waits until the subscription is live: the server's acknowledgement for clients
 * made by wsClient, or the subscription's first result or error (a refused one is never
 * acknowledged). Other clients get no acknowledgement, so they are given a moment instead.
 */
export async function subscribe<T>(client: Client, operation: Operation<T, unknown>, variables?: Record<string, unknown>): Promise<Subscription<{ data?: T; errors?: unknown[] }>> {
  const acks = acksOf.get(client);
  const subscription = new Subscription<{ data?: T; errors?: unknown[] }>(client, operation as never, variables);
  const id = acks?.lastId;
  if (!acks || id === undefined) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    return subscription;
  }
  const deadline = Date.now() + 10_000;
  while (!acks.live.has(id) && !subscription.answered() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  acks.live.delete(id);
  return subscription;
}

/** What one operation over WebSocket ended with: its first result, or the errors graphql-ws reported. */
export interface WsOutcome<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; [key: string]: unknown } }[];
}

/**
 * Runs one query or mutation over graphql-ws and resolves with its first result, or with the
 * errors the server refused it with (graphql-ws `error` message: validation, limits, access).
 * Rejects when the socket closes first.
 */
export function wsRequest<T, V = Record<string, unknown>>(client: Client, operation: Operation<T, V>, variables?: V): Promise<WsOutcome<T>> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const dispose = client.subscribe<T>(
      { query: text(operation), variables: variables as Record<string, unknown> | undefined },
      {
        next: (result) => {
          if (settled) return;
          settled = true;
          resolve(result as WsOutcome<T>);
          dispose();
        },
        error: (error) => {
          if (settled) return;
          settled = true;
          if (Array.isArray(error)) resolve({ errors: error as WsOutcome<T>['errors'] });
          else {
            const { code, reason } = error as { code?: number; reason?: string };
            reject(error instanceof Error ? error : new Error(`socket closed: ${code} ${reason}`));
          }
        },
        complete: () => {
          if (!settled) reject(new Error('completed without a result'));
        },
      },
    );
  });
}

/**
 * Opens a graphql-ws connection with these connectionParams and resolves the close code and
 * reason the server ends it with (for token checks; rejects if the server acknowledges instead).
 */
export function wsCloseOf(url: string, connectionParams: Record<string, unknown>, timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams,
      on: {
        connected: () => {
          clearTimeout(timer);
          reject(new Error('the server acknowledged the connection'));
          void client.dispose();
        },
        closed: (event) => {
          clearTimeout(timer);
          const { code, reason } = event as { code: number; reason: string };
          resolve({ code, reason });
        },
      },
      onNonLazyError: () => {},
    });
  });
}
