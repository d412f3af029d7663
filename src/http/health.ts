/**
 * Probes. `/healthz`: the process is up and serving (no store access — a store outage must not make an
 * orchestrator restart healthy processes). `/readyz`: the database and Redis answer within a short timeout;
 * 503 names which one is down.
 */
import type { Context, Next } from 'koa';
import type { Redis } from 'ioredis';
import type { Db } from '../store/db.js';

export interface ReadinessDeps {
  db: Db;
  redis: Redis | undefined;
  /** Per-store probe timeout (default 2 s). */
  timeoutMs?: number;
  onDown?: (store: 'database' | 'redis') => void;
}

export interface Readiness {
  status: 'ok' | 'unavailable';
  checks: { database: 'ok' | 'down'; redis?: 'ok' | 'down' };
  down: Array<'database' | 'redis'>;
}

async function probe(fn: () => Promise<unknown>, timeoutMs: number): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'down'>((resolve) => {
    timer = setTimeout(() => resolve('down'), timeoutMs);
  });
  try {
    return await Promise.race([fn().then(() => 'ok' as const, () => 'down' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  const timeoutMs = deps.timeoutMs ?? 2000;
  const redis = deps.redis;
  const [database, redisState] = await Promise.all([
    probe(() => deps.db.raw('select 1'), timeoutMs),
    redis ? probe(() => (redis.status === 'ready' ? redis.ping() : Promise.reject(new Error(redis.status))), timeoutMs) : Promise.resolve(undefined),
  ]);
  const checks: Readiness['checks'] = { database, ...(redisState ? { redis: redisState } : {}) };
  const down = (Object.entries(checks) as Array<['database' | 'redis', 'ok' | 'down']>).filter(([, v]) => v === 'down').map(([k]) => k);
  for (const store of down) deps.onDown?.(store);
  return { status: down.length === 0 ? 'ok' : 'unavailable', checks, down };
}

export function healthRoutes(deps: ReadinessDeps) {
  return async function probes(ctx: Context, next: Next) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === '/healthz') {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path !== '/readyz') return next();
    const r = await checkReadiness(deps);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = r.status === 'ok' ? 200 : 503;
    ctx.body = r.status === 'ok' ? { status: 'ok', checks: r.checks } : { status: 'unavailable', down: r.down, checks: r.checks, message: `not ready: ${r.down.join(' and ')} unreachable` };
  };
}
