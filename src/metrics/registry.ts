/**
 * Prometheus metrics: one prom-client Registry per container (never the global one, so test servers and
 * several containers in one process do not collide). Counters are fed by observers — audit events
 * (src/metrics/from-audit.ts), oidc-provider events (src/metrics/from-provider.ts) and the HTTP middleware
 * (src/metrics/http.ts) — so the sign-in flow itself carries no metrics code.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly signIns: Counter<'result'>;
  readonly stepUps: Counter<'level' | 'outcome'>;
  readonly factorVerifications: Counter<'kind' | 'result'>;
  readonly throttled: Counter<'route'>;
  readonly tokenGrants: Counter<'grant_type' | 'result'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly storeErrors: Counter<'store' | 'source'>;
  readonly auditCheckpoints: Counter<'kind'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ service: 'stepwise' });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'stepwise_' });
    this.signIns = new Counter({ name: 'stepwise_sign_ins_total', help: 'Sign-in attempts by result (success, invalid_password, invalid_passkey, denied, unmet)', labelNames: ['result'], registers });
    this.stepUps = new Counter({ name: 'stepwise_step_ups_total', help: 'Step-ups of an existing session by level (acr) and outcome', labelNames: ['level', 'outcome'], registers });
    this.factorVerifications = new Counter({ name: 'stepwise_factor_verifications_total', help: 'Factor verifications by factor kind and result', labelNames: ['kind', 'result'], registers });
    this.throttled = new Counter({ name: 'stepwise_throttled_requests_total', help: 'Requests refused by a rate limit (HTTP 429), by route template', labelNames: ['route'], registers });
    this.tokenGrants = new Counter({ name: 'stepwise_token_grants_total', help: 'Token endpoint grants by grant_type and result', labelNames: ['grant_type', 'result'], registers });
    this.httpDuration = new Histogram({
      name: 'stepwise_http_request_duration_seconds',
      help: 'HTTP request latency by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.storeErrors = new Counter({ name: 'stepwise_store_errors_total', help: 'Store outages seen (database or Redis), by store and where they surfaced', labelNames: ['store', 'source'], registers });
    this.auditCheckpoints = new Counter({ name: 'stepwise_audit_checkpoints_total', help: 'Signed audit checkpoints written, by kind', labelNames: ['kind'], registers });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Which store an outage error came from: ioredis errors name themselves, everything else is the database. */
export function storeOf(err: unknown): 'redis' | 'database' {
  const e = err as { name?: string; message?: string; command?: unknown } | undefined;
  if (e?.name === 'MaxRetriesPerRequestError' || e?.command !== undefined) return 'redis';
  return /Connection is closed|Stream isn't writeable|redis/i.test(e?.message ?? '') ? 'redis' : 'database';
}
