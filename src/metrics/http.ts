/**
 * HTTP metrics: latency by route *template* (the routers' `_matchedRoute`, never the raw path — paths carry
 * interaction ids and link tokens, and would explode the label set), throttled responses, store outages.
 */
import type { Context, Next } from 'koa';
import { toAppError } from '../http/error-handler.js';
import { storeOf, type Metrics } from './registry.js';

const FIXED = new Set(['/', '/healthz', '/readyz', '/metrics', '/favicon.ico']);

/** The route label: the matched template, a fixed path of ours, else `unmatched`. */
export function routeLabel(ctx: Pick<Context, 'path'> & { _matchedRoute?: unknown }): string {
  if (typeof ctx._matchedRoute === 'string') return ctx._matchedRoute;
  if (FIXED.has(ctx.path)) return ctx.path;
  if (ctx.path.startsWith('/static/')) return '/static/*';
  return 'unmatched';
}

/** Outermost: sees the final status (after the error handler) and the whole time. */
export function httpMetrics(metrics: Metrics) {
  return async function observeRequest(ctx: Context, next: Next) {
    const end = metrics.httpDuration.startTimer();
    try {
      await next();
    } finally {
      const route = routeLabel(ctx as Context & { _matchedRoute?: unknown });
      end({ method: ctx.method, route, status: String(ctx.status) });
      if (ctx.status === 429) metrics.throttled.inc({ route });
    }
  };
}

/** Inside the error handler: counts store outages on their way to the 503 page. */
export function countStoreErrors(metrics: Metrics) {
  return async function storeErrors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (err) {
      if (toAppError(err).code === 'store_unavailable') metrics.storeErrors.inc({ store: storeOf((err as { cause?: unknown }).cause ?? err), source: 'http' });
      throw err;
    }
  };
}
