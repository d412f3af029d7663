/**
 * A request as one route line, `METHOD /path` with the ids in the path masked as `:id`, so that every request of
 * a route counts under one name (bench/perf/request-windows.ts, bench/perf/trace-statements.ts).
 */
import type { IncomingMessage } from 'node:http';

/** Path segments that are ids: 16+ id characters with a digit or a capital among them. */
const ID = /(?<=\/)(?=[a-z_-]*[\dA-Z])[A-Za-z0-9_-]{16,}(?=\/|$)/g;

export function routeLabel(req: Pick<IncomingMessage, 'method' | 'url'>): string {
  return `${req.method} ${(req.url ?? '').split('?')[0]!.replace(ID, ':id')}`;
}
