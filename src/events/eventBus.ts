import { eq, lt, sql } from 'drizzle-orm';
import type { Logger } from 'pino';

import type { DatabaseHandle } from '../db/client.js';
import { eventPayloads } from '../db/schema.js';

/**
 * Live events, one delivery path for every backend: `publish` only NOTIFYs, and every
 * instance (the sender included) hears the notification through its LISTEN connection and
 * hands it to local subscribers. On PGlite this stays in-process; on PostgreSQL it crosses
 * server instances. Payloads bigger than a NOTIFY can carry travel by id through
 * `event_payloads`. Dates survive the JSON round trip.
 */

export const EVENTS_CHANNEL = 'dev_forge_events';
/** NOTIFY's limit is 8000 bytes; leave room for the envelope. */
const MAX_INLINE_PAYLOAD_BYTES = 7000;
const PAYLOAD_RETENTION_MS = 60 * 60 * 1000;

type Listener = Parameters<EventTarget['addEventListener']>[1];
type Envelope = { topic: string; payload?: string; ref?: string };

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

export class EventBus {
  /** Local subscribers; type-graphql's pubsub listens here through `eventTarget`. */
  private readonly local = new EventTarget();
  private unlisten: (() => Promise<void>) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly database: DatabaseHandle,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.database.listen(EVENTS_CHANNEL, (text) => void this.deliver(text));
    this.sweepTimer = setInterval(() => void this.sweepPayloads(), 10 * 60 * 1000);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.unlisten?.().catch(() => {});
    this.unlisten = undefined;
  }

  /**
   * Sends one event to every instance. Call after the change it reports has committed.
   * Never throws: a lost notification is logged, the committed change stands.
   */
  async publish(topic: string, payload: unknown): Promise<void> {
    try {
      const text = encodePayload(payload);
      let envelope: Envelope = { topic, payload: text };
      if (Buffer.byteLength(text) > MAX_INLINE_PAYLOAD_BYTES) {
        const [row] = await this.database.db
          .insert(eventPayloads)
          .values({ payload: sql`${text}::jsonb` })
          .returning({ id: eventPayloads.id });
        envelope = { topic, ref: row!.id };
      }
      await this.database.notify(EVENTS_CHANNEL, JSON.stringify(envelope));
    } catch (error) {
      this.log.error({ err: error, topic }, 'event publish failed');
    }
  }

  /** The EventTarget type-graphql's `createPubSub` uses: dispatch means publish. */
  readonly eventTarget = {
    addEventListener: (type: string, listener: Listener) =>
      this.local.addEventListener(type, listener),
    removeEventListener: (type: string, listener: Listener) =>
      this.local.removeEventListener(type, listener),
    dispatchEvent: (event: Event) => {
      void this.publish(event.type, (event as CustomEvent).detail);
      return true;
    },
  };

  /** Subscribes to one topic in-process (for services and jobs, not GraphQL). */
  on(topic: string, handler: (payload: unknown) => void): () => void {
    const listener = (event: Event) => handler((event as CustomEvent).detail);
    this.local.addEventListener(topic, listener);
    return () => this.local.removeEventListener(topic, listener);
  }

  private async deliver(text: string): Promise<void> {
    try {
      const envelope = JSON.parse(text) as Envelope;
      let payloadText = envelope.payload;
      if (envelope.ref) {
        const [row] = await this.database.db
          .select({ payload: sql<string>`${eventPayloads.payload}::text` })
          .from(eventPayloads)
          .where(eq(eventPayloads.id, envelope.ref));
        if (!row) throw new Error(`event payload ${envelope.ref} is gone`);
        payloadText = row.payload;
      }
      const payload = payloadText === undefined ? undefined : decodePayload(payloadText);
      this.local.dispatchEvent(new CustomEvent(envelope.topic, { detail: payload }));
    } catch (error) {
      this.log.error({ err: error }, 'event delivery failed');
    }
  }

  private async sweepPayloads(): Promise<void> {
    await this.database.db
      .delete(eventPayloads)
      .where(lt(eventPayloads.createdAt, new Date(Date.now() - PAYLOAD_RETENTION_MS)))
      .catch((error: unknown) => this.log.warn({ err: error }, 'event payload sweep failed'));
  }
}
