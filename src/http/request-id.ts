/**
 * A request id on every log line of a request: taken from an incoming X-Request-Id when it is well-formed
 * (a proxy's id keeps one trail across hops), else generated; echoed in the response. The id rides in
 * the request scope (src/http/request-scope.ts), which the root logger's mixin reads (src/http/logger.ts), so lines logged deep in a
 * service through the container's logger carry it too; `ctx.state.log` is the request's child logger.
 */
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { routeLabel } from '../metrics/http.js';
import { currentScope, runInScope } from './request-scope.js';

/** The current request's id, for the root logger's mixin. */
export function currentRequestId(): string | undefined {
  return currentScope()?.reqId;
}

/** Letters, digits and `._:-`, 8–128 characters (UUIDs, ULIDs, W3C trace ids, most proxies' ids). */
const WELL_FORMED = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestIdFrom(header: string | string[] | undefined): string {
  const v = Array.isArray(header) ? header[0] : header;
  return v !== undefined && WELL_FORMED.test(v) ? v : randomUUID();
}

/**
 * Outermost middleware. After the response: one access line with the route *template*, status and time —
 * never the URL or query (authorization codes, id_token_hint and link tokens travel there).
 */
export function requestId(log: Logger) {
  return async function withRequestId(ctx: Context, next: Next) {
    const reqId = requestIdFrom(ctx.get('X-Request-Id') || undefined);
    ctx.set('X-Request-Id', reqId);
    ctx.state.requestId = reqId;
    // The mixin adds reqId to every line; the child only names the logger for handlers.
    ctx.state.log = log.child({});
    const t0 = process.hrtime.bigint();
    await runInScope({ reqId }, async () => {
      try {
        await next();
      } finally {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        log.info({ method: ctx.method, route: routeLabel(ctx as Context & { _matchedRoute?: unknown }), status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
      }
    });
  };
}
