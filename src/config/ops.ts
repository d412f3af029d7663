/**
 * Operations configuration: the Prometheus endpoint and the audit checkpoints, parsed from the same
 * cleaned environment as the rest of src/config/index.ts.
 *
 * /metrics is reachable in exactly one of these ways:
 * - METRICS_PORT set: only on its own listener, METRICS_HOST (default 127.0.0.1):METRICS_PORT — never on
 *   the public port; METRICS_TOKEN, when also set, is required there too.
 * - METRICS_TOKEN set (no port): on the public port, with `Authorization: Bearer <METRICS_TOKEN>`.
 * - neither: off in production; outside production open to loopback clients only (the socket's address —
 *   a reverse proxy on the same machine would count as loopback, so set a token behind one).
 */
import { z } from 'zod';

export type MetricsExposure =
  | { mode: 'port'; host: string; port: number; token: string | undefined }
  | { mode: 'token'; token: string }
  | { mode: 'loopback' }
  | { mode: 'off' };

export interface OpsConfig {
  metrics: MetricsExposure;
  audit: {
    /** A signed checkpoint in the log stream after this many events (0: not by count). */
    checkpointEveryEvents: number;
    /** …and every this many minutes when there were new events (0: not by time). */
    checkpointIntervalMs: number;
  };
}

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

const opsEnvSchema = z.object({
  METRICS_TOKEN: z.string().min(32, 'at least 32 characters (e.g. `openssl rand -base64 32`)').regex(/^[\x21-\x7e]+$/, 'printable characters without spaces').optional(),
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  AUDIT_CHECKPOINT_EVERY: int(100, 0, 1_000_000),
  AUDIT_CHECKPOINT_MINUTES: int(15, 0, 24 * 60),
});

/** `fail` is the caller's ConfigError factory (one error type for every configuration problem). */
export function opsConfig(source: Record<string, string | undefined>, env: 'development' | 'production' | 'test', fail: (message: string) => Error): OpsConfig {
  const result = opsEnvSchema.safeParse(source);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = issue.path.join('.');
    const value = source[name];
    // The token is a secret: only its length is shown.
    const shown = value === undefined ? '' : name === 'METRICS_TOKEN' ? ` (got a value of ${value.length} characters)` : ` (got ${JSON.stringify(value)})`;
    throw fail(`${name}: ${issue.message}${shown}`);
  }
  const o = result.data;
  const metrics: MetricsExposure =
    o.METRICS_PORT !== undefined
      ? { mode: 'port', host: o.METRICS_HOST, port: o.METRICS_PORT, token: o.METRICS_TOKEN }
      : o.METRICS_TOKEN
        ? { mode: 'token', token: o.METRICS_TOKEN }
        : env === 'production'
          ? { mode: 'off' }
          : { mode: 'loopback' };
  return {
    metrics,
    audit: { checkpointEveryEvents: o.AUDIT_CHECKPOINT_EVERY, checkpointIntervalMs: o.AUDIT_CHECKPOINT_MINUTES * 60_000 },
  };
}
