import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one server instance (its own registry, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();

  readonly operations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations executed, by operation name and type',
    labelNames: ['operation', 'type', 'transport'] as const,
    registers: [this.registry],
  });

  readonly latency = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'Time from request to response, by operation name',
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

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Operation names are client-chosen: keep the label set bounded. */
  static operationLabel(name: string | null | undefined): string {
    return name && /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name) ? name : 'anonymous';
  }
}
