import type { DeltaGenerationRecord } from '../services/delta/store.js';
import type { RollbackPlanRecord } from '../services/rollback/store.js';
import type { VersionPublishedEvent } from '../services/versions/service.js';

/**
 * The one module that declares event topics: topic → payload type. Publishers and listeners
 * name topics through `Topic`, never as bare strings. A payload travels as JSON through
 * PostgreSQL NOTIFY (Dates survive; see eventBus.ts), so keep payloads plain data. Publish with
 * `events.publish(topic, payload, { tx })` inside the transaction that makes the change; listen
 * with `events.on` (services) or `events.stream` (GraphQL subscriptions). See docs/events.md.
 */
export interface TopicPayloads {
  /** A version was created or deprecated. */
  VERSION_PUBLISHED: VersionPublishedEvent;
  /**
   * Something that can change an update-check answer changed: a package was created, or a
   * distribution was created, went live, stepped, changed percentage, was paused, resumed,
   * halted, cancelled or completed. Published inside the writing transaction. Ids are null when
   * the change is not tied to one owner or distribution.
   */
  RELEASE_CHANGED: ReleaseChangedEvent;
  /**
   * A rollback plan changed status, or a step of its execution started, finished or failed.
   * Carries the plan as it is after the change (`rollbackPlanStatus` pushes it as is).
   */
  ROLLBACK_PLAN_CHANGED: RollbackPlanChangedEvent;
  /**
   * A delta generation was requested, started, advanced (progress, in steps of 5), succeeded or
   * failed. Carries the generation as it is after the change (`deltaGenerationProgress` pushes it).
   */
  DELTA_GENERATION_CHANGED: { generation: DeltaGenerationRecord };
}

export interface RollbackPlanChangedEvent {
  /** What happened, e.g. `created`, `approved`, `step-started:halt-distributions`, `completed`. */
  change: string;
  plan: RollbackPlanRecord;
}

export type Topic = keyof TopicPayloads;

export interface ReleaseChangedEvent {
  extensionId: string | null;
  productId: string | null;
  distributionId: string | null;
  /** What happened, e.g. `package-created`, `distribution-step`, `distribution-paused`. */
  reason: string;
}
