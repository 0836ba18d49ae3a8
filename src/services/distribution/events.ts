import type { DbExecutor } from '../../db/client.js';
import type { EventBus } from '../../events/eventBus.js';
import type { ReleaseChangedEvent } from '../../events/topics.js';

/**
 * Publishes RELEASE_CHANGED inside the transaction `tx` that makes the change: every instance
 * hears it if and only if the change commits.
 */
export function releaseChanged(events: EventBus, tx: DbExecutor, payload: ReleaseChangedEvent): Promise<void> {
  return events.publish('RELEASE_CHANGED', payload, { tx });
}
