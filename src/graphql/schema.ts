import 'reflect-metadata';

import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { buildSchema, type PubSub } from 'type-graphql';

import type { EventBus } from '../events/eventBus.js';
import type { Topic } from '../events/topics.js';
import { permissions } from './permissions.js';
import { AuditResolver } from './resolvers/auditResolver.js';
import { DeltaResolver } from './resolvers/deltaResolver.js';
import { CdnFileResolver, CdnFileStatsResolver, CdnInvalidationResolver } from './resolvers/cdnResolver.js';
import { DistributionResolver, DistributionStatsResolver, UpdatePackageResolver, VersionPackagesResolver } from './resolvers/distributionResolver.js';
import { UpdateCheckResolver } from './resolvers/updateCheckResolver.js';
import { RollbackResolver } from './resolvers/rollbackResolver.js';
import { VersionResolver } from './resolvers/versionResolver.js';
import { scalarsMap } from './scalars.js';

export const resolvers = [
  VersionResolver,
  CdnFileResolver,
  CdnFileStatsResolver,
  CdnInvalidationResolver,
  UpdatePackageResolver,
  VersionPackagesResolver,
  DistributionResolver,
  DistributionStatsResolver,
  UpdateCheckResolver,
  RollbackResolver,
  AuditResolver,
  DeltaResolver,
] as const;

/**
 * type-graphql's PubSub over the EventBus, for subscriptions declared with `topics:` instead of
 * a service's `subscribe:` stream: one per-topic listener set (no EventTarget, so no listener
 * per subscription), events from every instance. Prefer `subscribe:` + `events.stream`, whose
 * subscribers share one execution per event. Without a bus (SDL emission) nothing is delivered.
 */
function eventBusPubSub(events?: EventBus): PubSub {
  return {
    publish(topic, payload) {
      void events?.publish(topic as Topic, payload as never);
    },
    subscribe(topic) {
      if (!events) return { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<unknown>>(() => {}) }) };
      return events.stream(topic as Topic, { select: (payload) => payload });
    },
  };
}

/** Builds the executable schema; with an EventBus, subscriptions hear events from every instance. */
export async function buildGraphQLSchema(events?: EventBus): Promise<GraphQLSchema> {
  return buildSchema({ resolvers, scalarsMap, pubSub: eventBusPubSub(events), validate: false, emitSchemaFile: false });
}

/** The schema with graphql-shield applied (deny by default). */
export function guardSchema(schema: GraphQLSchema): GraphQLSchema {
  return applyMiddleware(schema, permissions(schema));
}

/** The committed SDL: sorted so the file changes only when the schema does. */
export function printSDL(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
