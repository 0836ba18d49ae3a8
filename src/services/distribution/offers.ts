import type { Logger } from 'pino';

import type { EventBus } from '../../events/eventBus.js';
import { EventStream } from '../../events/stream.js';
import type { Owner } from '../owner.js';
import { ownerKey, type ReleaseState, type ReleaseStates } from './releaseState.js';
import { chooseRelease, toUpdateInfo, type UpdateCheckQuery, type UpdateInfo } from './updateCheck.js';

/**
 * `updateAvailable`: per subscriber, the current offer first (if any), then each NEW offer —
 * one whose target is above everything this subscriber was already told, or a rollback offer
 * it was not told yet. So a gradual step tells exactly the clients it takes in; a pause, a
 * lowered percentage or an unrelated release tells no one.
 *
 * Why not `events.stream('RELEASE_CHANGED', { select })` directly: `select` runs synchronously
 * when the event arrives, but the answer needs the owner's release state reloaded after the
 * change (two SQL statements). So this module keeps the subscribers per owner; when the release
 * state drops an owner (RELEASE_CHANGED, a deprecation, a LISTEN resync — on every instance),
 * it reloads that owner once and hands the new state to its subscribers' streams through
 * `events.offerTo`, so a large round is delivered in slices with the event loop free in between
 * (other requests keep being served) instead of one synchronous loop over every subscriber. The
 * streams are the events module's EventStream (pull or attached sink), and the answers come
 * from the state's memo: every subscriber that gets the same offer gets the same object, so the
 * WebSocket server can execute and serialise it once for all of them.
 */

/** What an offer round hands to each subscriber's stream: a freshly loaded state. */
export interface OfferRound {
  state: ReleaseState;
}

interface Subscriber {
  query: UpdateCheckQuery;
  fromVersion: string;
  /** Highest target precedence this subscriber was told (forward offers). */
  toldUpTo: string | undefined;
  /** Rollback packages it was told. */
  toldRollbacks: Set<string>;
  stream: EventStream<'RELEASE_CHANGED', UpdateInfo>;
}

interface OwnerSubscribers {
  owner: Owner;
  subscribers: Set<Subscriber>;
  /** A reload + round is queued or running; `again` asks for one more after it. */
  running: boolean;
  again: boolean;
}

export class OfferFeed {
  private readonly owners = new Map<string, OwnerSubscribers>();
  private readonly offChange: () => void;
  private readonly states: ReleaseStates;
  private readonly events: Pick<EventBus, 'offerTo'>;
  private readonly log: Logger;

  constructor({ states, events, log }: { states: ReleaseStates; events: Pick<EventBus, 'offerTo'>; log: Logger }) {
    this.states = states;
    this.events = events;
    this.log = log;
    this.offChange = states.onChange((affects) => {
      for (const group of this.owners.values()) if (affects(group.owner)) this.scheduleRound(group);
    });
  }

  /** Subscribers currently listening on this instance (tests, metrics). */
  get size(): number {
    let count = 0;
    for (const group of this.owners.values()) count += group.subscribers.size;
    return count;
  }

  /**
   * A stream of offers for one client: the current offer first (if any), then each new one.
   * Ends when the consumer returns (unsubscribes).
   */
  subscribe(query: UpdateCheckQuery, fromVersion: string): EventStream<'RELEASE_CHANGED', UpdateInfo> {
    const key = ownerKey(query.owner);
    let group = this.owners.get(key);
    if (!group) {
      group = { owner: query.owner, subscribers: new Set(), running: false, again: false };
      this.owners.set(key, group);
    }
    const owners = group;
    const subscriber = {} as Subscriber;
    const stream = new EventStream<'RELEASE_CHANGED', UpdateInfo>(
      'RELEASE_CHANGED',
      {
        // Registered before `initial` runs: a change meanwhile is offered after it (at-least-once).
        initial: async () => this.tell(subscriber, await this.states.get(query.owner)),
        select: ((round: OfferRound) => this.tell(subscriber, round.state)) as never,
      },
      () => {
        owners.subscribers.delete(subscriber);
        if (owners.subscribers.size === 0 && this.owners.get(key) === owners && !owners.running) this.owners.delete(key);
      },
    );
    Object.assign(subscriber, { query, fromVersion, toldUpTo: undefined, toldRollbacks: new Set<string>(), stream });
    group.subscribers.add(subscriber);
    return stream;
  }

  close(): void {
    this.offChange();
    for (const group of this.owners.values()) for (const subscriber of group.subscribers) subscriber.stream.end();
    this.owners.clear();
  }

  /** The offer to push to this subscriber from `state`, if it is new to it; records it as told. */
  private tell(subscriber: Subscriber, state: ReleaseState): UpdateInfo | undefined {
    const choice = chooseRelease(state, subscriber.query);
    if (!choice) return undefined;
    const offer = toUpdateInfo(state, choice.release, choice.mandatory, subscriber.fromVersion, choice.rollback);
    if (offer.isRollback) {
      if (subscriber.toldRollbacks.has(offer.packageId)) return undefined;
      subscriber.toldRollbacks.add(offer.packageId);
      return offer;
    }
    if (subscriber.toldUpTo !== undefined && choice.release.toSortKey <= subscriber.toldUpTo) return undefined;
    subscriber.toldUpTo = choice.release.toSortKey;
    return offer;
  }

  /** Reloads the owner's state once (coalescing bursts of changes) and offers it to every subscriber. */
  private scheduleRound(group: OwnerSubscribers): void {
    if (group.running) {
      group.again = true;
      return;
    }
    group.running = true;
    void (async () => {
      try {
        do {
          group.again = false;
          const state = await this.states.get(group.owner);
          const round: OfferRound = { state };
          // Awaited: the next round starts only when this one is out, so each subscriber gets
          // offers in order. A subscriber leaving meanwhile is skipped (its stream has ended).
          await this.events.offerTo(
            [...group.subscribers].map((subscriber) => subscriber.stream),
            round,
          );
        } while (group.again);
      } catch (error) {
        this.log.error({ err: error, owner: group.owner }, 'offer round failed: subscribers of this owner were not told of a change');
      } finally {
        group.running = false;
        if (group.subscribers.size === 0 && this.owners.get(ownerKey(group.owner)) === group) this.owners.delete(ownerKey(group.owner));
      }
    })();
  }
}
