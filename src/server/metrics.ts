import { Kind, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The label of operations outside the bounded set (no root field of the schema selected first). */
export const OTHER_OPERATION = 'other';

/** Prometheus metrics of one server instance (its own registry, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();

  /** `Query.latestVersion` → `latestVersion`: every root field of the schema, the only operation labels. */
  private readonly rootFields = new Set<string>();

  readonly operations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations executed, by the first root field they select (or "other") and type',
    labelNames: ['operation', 'type', 'transport'] as const,
    registers: [this.registry],
  });

  readonly latency = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'Time from request to response, by the first root field selected (or "other")',
    labelNames: ['operation', 'type'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'graphql_errors_total',
    help: 'Errors returned to clients, by extensions.code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly subscriptions = new Gauge({
    name: 'graphql_subscriptions_open',
    help: 'Subscriptions currently open over WebSocket',
    registers: [this.registry],
  });

  readonly sockets = new Gauge({
    name: 'graphql_websockets_open',
    help: 'WebSocket connections currently open',
    registers: [this.registry],
  });

  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests, by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });

  /** `schema` gives the bounded set of operation labels: its root fields. */
  constructor(schema?: GraphQLSchema) {
    collectDefaultMetrics({ register: this.registry });
    for (const type of [schema?.getQueryType(), schema?.getMutationType(), schema?.getSubscriptionType()]) {
      for (const name of Object.keys(type?.getFields() ?? {})) this.rootFields.add(name);
    }
  }

  /**
   * The label of an operation: the first root field it selects when that is one of the schema's
   * (`latestVersion`, `uploadCdnFile`…), else "other". Never the client-chosen operation name:
   * 2,000 made-up names would be 2,000 series in every scrape.
   */
  operationLabel(operation: OperationDefinitionNode | null | undefined): string {
    const first = operation?.selectionSet.selections.find((selection) => selection.kind === Kind.FIELD && !selection.name.value.startsWith('__'));
    const name = first?.kind === Kind.FIELD ? first.name.value : undefined;
    return name !== undefined && this.rootFields.has(name) ? name : OTHER_OPERATION;
  }
}
