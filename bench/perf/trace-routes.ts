/**
 * Store calls per route, from a BENCH_TRACE log (bench/perf/trace-statements.ts):
 *   node dist/bench/perf/trace-routes.js DIR/main.bundle-<port>.log            every route: requests, calls per request
 *   node dist/bench/perf/trace-routes.js DIR/main.bundle-<port>.log "POST /token"   that route's calls, each per request
 * A call is charged to the request line before it, so work a handler leaves running after it answered lands
 * on whichever request arrives next: run one scenario, and read the figures as a steady state's averages.
 * Unlike CPU time, these counts do not depend on the machine's load, so they compare commits exactly.
 */
import { readFileSync } from 'node:fs';

export interface RouteCalls {
  requests: number;
  /** Calls by kind (`sqlite`, `pg`, `redis`) and by statement text. */
  byKind: Map<string, number>;
  byStatement: Map<string, number>;
}

/** Folds a trace's lines into per-route counts; lines before the first request (start-up) are left out. */
export function callsPerRoute(lines: Iterable<string>): Map<string, RouteCalls> {
  const routes = new Map<string, RouteCalls>();
  let current: RouteCalls | undefined;
  for (const line of lines) {
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const kind = line.slice(0, space);
    const text = line.slice(space + 1);
    if (kind === 'request') {
      current = routes.get(text) ?? { requests: 0, byKind: new Map(), byStatement: new Map() };
      routes.set(text, current);
      current.requests++;
    } else if (current) {
      current.byKind.set(kind, (current.byKind.get(kind) ?? 0) + 1);
      current.byStatement.set(line, (current.byStatement.get(line) ?? 0) + 1);
    }
  }
  return routes;
}

const perRequest = (n: number, r: RouteCalls) => (n / r.requests).toFixed(1);

function main(file: string | undefined, route: string | undefined) {
  if (!file) {
    console.error('usage: node dist/bench/perf/trace-routes.js TRACE.log ["METHOD /route"]');
    process.exit(2);
  }
  const routes = callsPerRoute(readFileSync(file, 'utf8').split('\n'));
  if (route) {
    const r = routes.get(route);
    if (!r) {
      console.error(`no requests of ${JSON.stringify(route)} in ${file}; routes: ${[...routes.keys()].join(', ')}`);
      process.exit(1);
    }
    console.log(`${route}: ${r.requests} requests\n\nper request  call`);
    for (const [text, n] of [...r.byStatement].sort((a, b) => b[1] - a[1])) console.log(`${perRequest(n, r).padStart(11)}  ${text}`);
    return;
  }
  const kinds = [...new Set([...routes.values()].flatMap((r) => [...r.byKind.keys()]))].sort();
  console.log(`| route | requests | ${kinds.map((k) => `${k} per request`).join(' | ')} |`);
  console.log(`|---|---|${kinds.map(() => '---|').join('')}`);
  for (const [name, r] of [...routes].sort((a, b) => a[0].localeCompare(b[0]))) {
    console.log(`| ${name} | ${r.requests} | ${kinds.map((k) => perRequest(r.byKind.get(k) ?? 0, r)).join(' | ')} |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv[2], process.argv[3]);
