import { performance } from 'node:perf_hooks';

import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * A child process holding many WebSocket subscribers, so that receiving thousands of messages
 * never delays the parent's own timing (mutation latency). Used by `npm run bench:fanout` and
 * by tests/distribution/events-fanout.test.ts. Configured by environment:
 *
 * - SWARM_MODE `graphql-ws` (real graphql-ws clients, one socket each, subscribing SWARM_QUERY
 *   with SWARM_VARIABLES — `__INDEX__` inside it becomes the subscriber's number — as SWARM_TOKEN) or `raw` (plain `ws` sockets to a raw server);
 * - SWARM_URL, SWARM_COUNT, SWARM_BATCH (sockets opened at once).
 *
 * IPC: sends {type:'ready', count} once every socket is open (and subscribed); on
 * {type:'arm', expected} it resets its counters and sends {type:'done', first, last, received}
 * as soon as `expected` messages arrived (or on {type:'report'}). Times are epoch
 * milliseconds with sub-millisecond precision (performance.timeOrigin + now), comparable
 * across processes on one machine. Both modes JSON.parse every message, so client work per
 * message is the same whichever server sent it.
 */

const mode = process.env.SWARM_MODE ?? 'graphql-ws';
const url = process.env.SWARM_URL!;
const count = Number(process.env.SWARM_COUNT ?? 100);
const batch = Number(process.env.SWARM_BATCH ?? 250);
const query = process.env.SWARM_QUERY ?? '';
const variablesTemplate = process.env.SWARM_VARIABLES ?? '{}';
/** Variables of subscriber `index`: `__INDEX__` in the template becomes its number. */
const variablesOf = (index: number) => JSON.parse(variablesTemplate.replaceAll('__INDEX__', String(index))) as Record<string, unknown>;
const token = process.env.SWARM_TOKEN ?? '';

const now = () => performance.timeOrigin + performance.now();

let expected = Infinity;
let received = 0;
let first: number | null = null;
let last: number | null = null;
let errors = 0;
let reported = false;

function report(): void {
  process.send?.({ type: 'done', first, last, received, errors });
}

function onMessage(): void {
  const at = now();
  received += 1;
  first ??= at;
  last = at;
  if (!reported && received >= expected) {
    reported = true;
    report();
  }
}

process.on('message', (message: { type: string; expected?: number }) => {
  if (message.type === 'arm') {
    expected = message.expected ?? count;
    received = 0;
    first = null;
    last = null;
    reported = false;
  } else if (message.type === 'report') {
    report();
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});
// The parent gone: nothing left to report to.
process.on('disconnect', () => process.exit(0));

async function openGraphqlWs(): Promise<void> {
  const clients: Client[] = [];
  for (let start = 0; start < count; start += batch) {
    const opened: Promise<void>[] = [];
    for (let index = start; index < Math.min(count, start + batch); index += 1) {
      opened.push(
        new Promise<void>((resolve, reject) => {
          const client = createClient({
            url,
            webSocketImpl: WebSocket,
            lazy: false,
            retryAttempts: 0,
            keepAlive: 0,
            connectionParams: { authorization: `Bearer ${token}` },
            on: { connected: () => resolve(), closed: (event) => reject(new Error(`socket closed: ${JSON.stringify(event)}`)) },
            onNonLazyError: () => {},
          });
          clients.push(client);
          client.subscribe(
            { query, variables: variablesOf(index) },
            {
              next: (result) => {
                if (result.errors) errors += 1;
                onMessage();
              },
              error: () => (errors += 1),
              complete: () => {},
            },
          );
        }),
      );
    }
    await Promise.all(opened);
  }
}

async function openRaw(): Promise<void> {
  for (let start = 0; start < count; start += batch) {
    const opened: Promise<void>[] = [];
    for (let index = start; index < Math.min(count, start + batch); index += 1) {
      opened.push(
        new Promise<void>((resolve, reject) => {
          const socket = new WebSocket(url);
          socket.on('open', () => resolve());
          socket.on('error', reject);
          socket.on('message', (data) => {
            JSON.parse(String(data));
            onMessage();
          });
        }),
      );
    }
    await Promise.all(opened);
  }
}

(mode === 'raw' ? openRaw() : openGraphqlWs()).then(
  () => process.send?.({ type: 'ready', count }),
  (error: unknown) => {
    process.send?.({ type: 'failed', error: String((error as Error)?.message ?? error) });
    process.exit(1);
  },
);
