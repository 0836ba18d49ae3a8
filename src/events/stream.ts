import type { Logger } from 'pino';

import type { Topic } from './topics.js';

/**
 * What a subscription wants from a topic (see `EventBus.stream`).
 *
 * - `initial`: sent first, before any event (e.g. the current offer, so a client that
 *   reconnects misses nothing); undefined sends nothing. The stream listens before `initial`
 *   runs, so an event committed meanwhile is delivered after it (possibly describing the same
 *   state again): subscribers see at-least-once, never a gap.
 * - `select`: what to push for one event, or undefined to skip it for this subscriber. Keep it
 *   cheap and synchronous: it runs once per subscriber per event. Return the *same object* for
 *   every subscriber that should see the same thing (e.g. the payload itself, or a value you
 *   cache per event): the WebSocket server then executes the GraphQL selection once and sends
 *   one serialised message to all of them (per document, variables that matter and role).
 */
export interface StreamOptions<P, R> {
  initial?: () => R | undefined | Promise<R | undefined>;
  select: (payload: P) => R | undefined;
}

/** Where an attached stream's values go instead of its queue (the WebSocket server's fan-out). */
export interface StreamSink<R> {
  /**
   * One selected value of one event. `scratch` is shared by every stream of that one event.
   * A returned promise (work still running, e.g. an execution) is awaited by the bus, a few
   * at a time, before the event counts as delivered.
   */
  push(value: R, scratch: Map<unknown, unknown>): void | Promise<void>;
  /** The stream ended (unsubscribed, or the server is stopping). */
  end(): void;
}

/** Values queued for a consumer that is not pulling are capped (oldest dropped). */
const MAX_QUEUED = 1000;

/**
 * One subscriber's stream of one topic. Consumed either by pulling (an AsyncIterableIterator,
 * as graphql-js and tests do) or, on the WebSocket fast path, by `attach`ing a sink that the
 * bus pushes into directly.
 */
export class EventStream<T extends Topic, R> implements AsyncIterableIterator<R> {
  private readonly queue: R[] = [];
  private waiting: ((result: IteratorResult<R>) => void) | undefined;
  private pendingInitial: Promise<R | undefined> | undefined;
  private sink: StreamSink<R> | undefined;
  private ended = false;

  constructor(
    readonly topic: T,
    private readonly options: StreamOptions<never, R>,
    private readonly detach: () => void,
  ) {
    if (options.initial) {
      const initial = options.initial;
      this.pendingInitial = (async () => initial())();
      // Observed by whoever consumes it; this only keeps an unconsumed failure from crashing.
      this.pendingInitial.catch(() => {});
    }
  }

  /** Called by the bus for each event of the topic; a promise means delivery is still running. */
  offer(payload: unknown, scratch: Map<unknown, unknown>, log: Logger): void | Promise<void> {
    if (this.ended) return;
    let value: R | undefined;
    try {
      value = this.options.select(payload as never);
    } catch (error) {
      log.error({ err: error, topic: this.topic }, 'event stream select failed; event skipped for this subscriber');
      return;
    }
    if (value === undefined) return;
    if (this.sink) {
      const failed = (error: unknown) => log.error({ err: error, topic: this.topic }, 'event delivery to a subscriber failed');
      try {
        const pending = this.sink.push(value, scratch);
        if (pending) return pending.catch(failed);
      } catch (error) {
        failed(error);
      }
    } else if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value, done: false });
    } else {
      if (this.queue.length >= MAX_QUEUED) this.queue.shift();
      this.queue.push(value);
    }
  }

  /**
   * Push mode: values go to `sink` from now on. Returns the pending `initial` value (if the
   * options had one), which the sink must send before anything it is pushed.
   */
  attach(sink: StreamSink<R>): Promise<R | undefined> | undefined {
    this.sink = sink;
    const initial = this.pendingInitial;
    this.pendingInitial = undefined;
    if (this.ended) sink.end();
    return initial;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  async next(): Promise<IteratorResult<R>> {
    if (this.pendingInitial) {
      const initial = this.pendingInitial;
      this.pendingInitial = undefined;
      const value = await initial;
      if (value !== undefined && !this.ended) return { value, done: false };
    }
    if (this.queue.length > 0) return { value: this.queue.shift()!, done: false };
    if (this.ended) return { value: undefined, done: true };
    return new Promise((resolve) => (this.waiting = resolve));
  }

  async return(): Promise<IteratorResult<R>> {
    this.end();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<R>> {
    this.end();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Stops listening; a pending `next()` resolves done. Idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.length = 0;
    this.detach();
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.({ value: undefined, done: true });
    this.sink?.end();
  }
}
