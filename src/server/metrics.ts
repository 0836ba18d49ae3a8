import { Kind, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The label of operations outside the bounded set (no root field of the schema selected first). */
export const OTHER_OPERATION = 'other';

/**
 * Increments of one counter kept as plain numbers per label set and added to it when the
 * registry is read (prom-client calls `collect` first): prom-client hashes the label set on
 * every `inc`, which showed in the update check's profile. Scrapes see every count.
 */
class BatchedCounts {
  private readonly entries = new Map<string, { labels: Record<string, string>; count: number }>();

  constructor(private readonly counter: () => Counter<string>) {}

  /** Counts one for `labels`; `key` names the label set (e.g. its values joined). */
  inc(key: string, labels: () => Record<string, string>): void {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { labels: labels(), count: 0 };
      this.entries.set(key, entry);
    }
    entry.count += 1;
  }

  /** A handle counting one for a label set fixed once (a compiled document's). */
  child(labels: Record<string, string>): { inc(): void } {
    const key = JSON.stringify(labels);
    return { inc: () => this.inc(key, () => labels) };
  }

  flush(): void {
    for (const entry of this.entries.values()) {
      if (entry.count === 0) continue;
      this.counter().inc(entry.labels, entry.count);
      entry.count = 0;
    }
  }
}

/** Prometheus metrics of one server instance (its own registry, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();

  private readonly batchedOperations: BatchedCounts = new BatchedCounts((): Counter<string> => this.operations);
  private readonly batchedHttpRequests: BatchedCounts = new BatchedCounts((): Counter<string> => this.httpRequests);

  /** `Query.latestVersion` → `latestVersion`: every root field of the schema, the only operation labels. */
  private readonly rootFields = new Set<string>();

  readonly operations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations executed, by the first root field they select (or "other") and type',
    labelNames: ['operation', 'type', 'transport'] as const,
    registers: [this.registry],
    collect: (): void => this.batchedOperations.flush(),
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
    collect: (): void => this.batchedHttpRequests.flush(),
  });

  /** `schema` gives the bounded set of operation labels: its root fields. */
  constructor(schema?: GraphQLSchema) {
    collectDefaultMetrics({ register: this.registry });
    for (const type of [schema?.getQueryType(), schema?.getMutationType(), schema?.getSubscriptionType()]) {
      for (const name of Object.keys(type?.getFields() ?? {})) this.rootFields.add(name);
    }
  }

  /** Counts one operation of a label set fixed once (the fast path's compiled documents). */
  operationCounter(operation: string, type: string, transport: string): { inc(): void } {
    return this.batchedOperations.child({ operation, type, transport });
  }

  /** Counts one answered HTTP request. */
  countHttpRequest(route: string, status: number): void {
    this.batchedHttpRequests.inc(`${route} ${status}`, () => ({ route, status: String(status) }));
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
