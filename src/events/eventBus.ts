import { performance } from 'node:perf_hooks';

import { eq, lt, sql } from 'drizzle-orm';
import type { Logger } from 'pino';

import type { DatabaseHandle, DbExecutor } from '../db/client.js';
import { eventPayloads } from '../db/schema.js';
import { EventStream, type StreamOptions } from './stream.js';
import type { Topic, TopicPayloads } from './topics.js';

export { EventStream, type StreamOptions, type StreamSink } from './stream.js';
export type { Topic, TopicPayloads } from './topics.js';

/**
 * Live events, one delivery path for every backend (see docs/events.md): `publish` only
 * NOTIFYs — inside the writer's transaction when given one, so PostgreSQL delivers it at
 * commit and never for a rollback — and every instance (the sender included) hears the
 * notification on its LISTEN connection and dispatches it to this instance's listeners.
 * On PGlite this stays in-process; on PostgreSQL it crosses server instances. Payloads bigger
 * than a NOTIFY can carry travel by id through `event_payloads`. Dates survive the JSON trip.
 *
 * Dispatch never runs inside the publisher's await: a notification is queued and handled on
 * a later turn of the event loop, one event at a time (order is kept), and a topic's
 * subscribers are served in slices of a few milliseconds with the event loop yielding in
 * between, so other requests — the publishing mutation's own response first — are answered
 * while a large fan-out runs, and the first subscribers are served at once.
 */

export const EVENTS_CHANNEL = 'dev_forge_events';
/** NOTIFY's limit is 8000 bytes; leave room for the envelope. */
const MAX_INLINE_PAYLOAD_BYTES = 7000;
const PAYLOAD_RETENTION_MS = 60 * 60 * 1000;
/** Longest stretch of fan-out work before the event loop gets a turn. */
const SLICE_MS = 3;
/** How many subscribers are served between clock reads. */
const CLOCK_EVERY = 16;
/** Deliveries of one event still running before the bus waits for them. */
const MAX_INFLIGHT = 64;

type Envelope = { topic: string; payload?: string; ref?: string };
type Handler = (payload: unknown) => void;

interface TopicListeners {
  handlers: Set<Handler>;
  streams: Set<EventStream<never, unknown>>;
}

/** JSON that keeps Dates: they are written as {"$date": iso} and read back as Date. */
export function encodePayload(value: unknown): string {
  return JSON.stringify(value, function replacer(this: Record<string, unknown>, key, current) {
    const original = this[key];
    return original instanceof Date ? { $date: original.toISOString() } : current;
  });
}

export function decodePayload(text: string): unknown {
  return JSON.parse(text, (_key, value) =>
    value && typeof value === 'object' && typeof value.$date === 'string' && Object.keys(value).length === 1
      ? new Date(value.$date)
      : value,
  );
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class EventBus {
  private readonly topics = new Map<string, TopicListeners>();
  private readonly resyncHandlers = new Set<() => void>();
  /** Notifications heard and not yet dispatched, oldest first. */
  private readonly inbox: string[] = [];
  private draining = false;
  private unlisten: (() => Promise<void>) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly database: DatabaseHandle,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.database.listen(
      EVENTS_CHANNEL,
      (text) => this.receive(text),
      () => this.resync(),
    );
    this.sweepTimer = setInterval(() => void this.sweepPayloads(), 10 * 60 * 1000);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.unlisten?.().catch(() => {});
    this.unlisten = undefined;
    for (const listeners of this.topics.values()) for (const stream of listeners.streams) stream.end();
  }

  /**
   * Sends one event to every instance. With `tx`, the NOTIFY (and a large payload's row) runs
   * in that transaction: the event is delivered iff it commits, and a failure to queue it
   * fails the transaction. Without `tx` it is sent now, and a failure is logged, not thrown.
   * Never waits for subscribers.
   */
  async publish<T extends Topic>(topic: T, payload: TopicPayloads[T], options: { tx?: DbExecutor } = {}): Promise<void> {
    const executor = options.tx ?? this.database.db;
    try {
      const text = encodePayload(payload);
      let envelope: Envelope = { topic, payload: text };
      if (Buffer.byteLength(text) > MAX_INLINE_PAYLOAD_BYTES) {
        const [row] = await executor
          .insert(eventPayloads)
          .values({ payload: sql`${text}::jsonb` })
          .returning({ id: eventPayloads.id });
        envelope = { topic, ref: row!.id };
      }
      await executor.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify(envelope)})`);
    } catch (error) {
      if (options.tx) throw error;
      this.log.error({ err: error, topic }, 'event publish failed');
    }
  }

  /** In-process listener for one topic on this instance (every instance hears every event). */
  on<T extends Topic>(topic: T, handler: (payload: TopicPayloads[T]) => void): () => void {
    const listeners = this.listenersOf(topic);
    const entry = handler as Handler;
    listeners.handlers.add(entry);
    return () => {
      listeners.handlers.delete(entry);
      this.forgetIfEmpty(topic, listeners);
    };
  }

  /**
   * Runs after the LISTEN connection dropped and came back: events may have been missed, so
   * every in-memory cache kept fresh by events must flush here.
   */
  onResync(handler: () => void): () => void {
    this.resyncHandlers.add(handler);
    return () => this.resyncHandlers.delete(handler);
  }

  /**
   * A source for a GraphQL subscription (see stream.ts): `initial` first, then for each event
   * of `topic` whatever `select` returns (undefined skips it). Returning the same object for
   * many subscribers lets the WebSocket server execute and serialise once for all of them.
   */
  stream<T extends Topic, R>(topic: T, options: StreamOptions<TopicPayloads[T], R>): EventStream<T, R> {
    const listeners = this.listenersOf(topic);
    const stream = new EventStream<T, R>(topic, options, () => {
      listeners.streams.delete(stream as EventStream<never, unknown>);
      this.forgetIfEmpty(topic, listeners);
    });
    listeners.streams.add(stream as EventStream<never, unknown>);
    return stream;
  }

  /** How many streams listen to a topic on this instance (tests, metrics). */
  streamCount(topic: Topic): number {
    return this.topics.get(topic)?.streams.size ?? 0;
  }

  private listenersOf(topic: string): TopicListeners {
    let listeners = this.topics.get(topic);
    if (!listeners) {
      listeners = { handlers: new Set(), streams: new Set() };
      this.topics.set(topic, listeners);
    }
    return listeners;
  }

  private forgetIfEmpty(topic: string, listeners: TopicListeners): void {
    if (listeners.handlers.size === 0 && listeners.streams.size === 0 && this.topics.get(topic) === listeners) this.topics.delete(topic);
  }

  /** The LISTEN callback: may run inside the publisher's own query (PGlite), so only queue. */
  private receive(text: string): void {
    this.inbox.push(text);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      for (let text = this.inbox.shift(); text !== undefined; text = this.inbox.shift()) {
        try {
          const event = await this.decode(text);
          if (event) await this.dispatch(event.topic, event.payload);
        } catch (error) {
          this.log.error({ err: error }, 'event delivery failed');
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async decode(text: string): Promise<{ topic: string; payload: unknown } | undefined> {
    const envelope = JSON.parse(text) as Envelope;
    if (!this.topics.has(envelope.topic)) return undefined; // nobody here listens: skip the payload fetch
    let payloadText = envelope.payload;
    if (envelope.ref) {
      const [row] = await this.database.db
        .select({ payload: sql<string>`${eventPayloads.payload}::text` })
        .from(eventPayloads)
        .where(eq(eventPayloads.id, envelope.ref));
      if (!row) throw new Error(`event payload ${envelope.ref} of ${envelope.topic} is gone`);
      payloadText = row.payload;
    }
    return { topic: envelope.topic, payload: payloadText === undefined ? undefined : decodePayload(payloadText) };
  }

  /** One event to this instance's listeners of its topic, yielding between slices. */
  private async dispatch(topic: string, payload: unknown): Promise<void> {
    const listeners = this.topics.get(topic);
    if (!listeners) return;
    for (const handler of listeners.handlers) {
      try {
        handler(payload);
      } catch (error) {
        this.log.error({ err: error, topic }, 'event handler failed');
      }
    }
    if (listeners.streams.size > 0) await this.offerTo(listeners.streams, payload);
  }

  /**
   * Offers one payload to many streams the way events are dispatched: in slices of a few
   * milliseconds with the event loop free in between, running executions awaited a batch at a
   * time, resolved once every stream has it. For services that keep their own subscriber sets
   * (e.g. offers computed after a reload) instead of `stream(topic)`'s per-topic set.
   */
  async offerTo(streams: Iterable<Pick<EventStream<Topic, unknown>, 'offer'>>, payload: unknown): Promise<void> {
    // Shared by every stream of this one event: lets sinks execute and serialise once per
    // distinct (selection, value) instead of once per subscriber.
    const scratch = new Map<unknown, unknown>();
    const list = [...streams];
    // Deliveries still running (executions): awaited a batch at a time, so the first ones are
    // sent at once and later subscribers of the same selection reuse the settled result.
    const inflight: Promise<void>[] = [];
    let deadline = performance.now() + SLICE_MS;
    for (let index = 0; index < list.length; index += 1) {
      const pending = list[index]!.offer(payload, scratch, this.log);
      if (pending) inflight.push(pending);
      if (inflight.length >= MAX_INFLIGHT) await Promise.all(inflight.splice(0));
      if ((index + 1) % CLOCK_EVERY === 0 && performance.now() >= deadline) {
        await Promise.all(inflight.splice(0));
        await nextTurn();
        deadline = performance.now() + SLICE_MS;
      }
    }
    // The next event starts only when this one is out: per subscriber, order is kept.
    await Promise.all(inflight);
  }

  private resync(): void {
    this.log.warn({ channel: EVENTS_CHANNEL }, 'LISTEN connection re-established: events may have been missed; flushing event-fed caches');
    for (const handler of this.resyncHandlers) {
      try {
        handler();
      } catch (error) {
        this.log.error({ err: error }, 'event resync handler failed');
      }
    }
  }

  private async sweepPayloads(): Promise<void> {
    await this.database.db
      .delete(eventPayloads)
      .where(lt(eventPayloads.createdAt, new Date(Date.now() - PAYLOAD_RETENTION_MS)))
      .catch((error: unknown) => this.log.warn({ err: error }, 'event payload sweep failed'));
  }
}
