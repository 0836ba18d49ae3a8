import 'reflect-metadata';

import { createPubSub } from '@graphql-yoga/subscription';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { buildSchema, type PubSub } from 'type-graphql';

import type { EventBus } from '../events/eventBus.js';
import { permissions } from './permissions.js';
import { CdnFileResolver, CdnFileStatsResolver, CdnInvalidationResolver } from './resolvers/cdnResolver.js';
import { VersionResolver } from './resolvers/versionResolver.js';
import { scalarsMap } from './scalars.js';

export const resolvers = [VersionResolver, CdnFileResolver, CdnFileStatsResolver, CdnInvalidationResolver] as const;

/**
 * Builds the executable schema. With an EventBus, subscriptions hear events from every
 * instance; without one (SDL emission) an in-memory pubsub stands in.
 */
export async function buildGraphQLSchema(events?: EventBus): Promise<GraphQLSchema> {
  const pubSub = (events ? createPubSub({ eventTarget: events.eventTarget as never }) : createPubSub()) as PubSub;
  return buildSchema({ resolvers, scalarsMap, pubSub, validate: false, emitSchemaFile: false });
}

/** The schema with graphql-shield applied (deny by default). */
export function guardSchema(schema: GraphQLSchema): GraphQLSchema {
  return applyMiddleware(schema, permissions(schema));
}

/** The committed SDL: sorted so the file changes only when the schema does. */
export function printSDL(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
