/**
 * Store calls per route, from a BENCH_TRACE log (bench/perf/trace-statements.ts):
 *   node dist/bench/perf/trace-routes.js DIR/main.bundle-<port>.log            every route: requests, calls per request
 *   node dist/bench/perf/trace-routes.js DIR/main.bundle-<port>.log "POST /token"   that route's calls, each per request
 * A call is charged to the request line before it, so work a handler leaves running after it answered lands
 * on whichever request arrives next: run one scenario, and read the figures as a steady state's averages.
 * Unlike CPU time, these counts do not depend on the machine's load, so they compare commits exactly. A SQLite
 * statement's line also carries its wall time on the event-loop thread (after a tab): the route's listing gives its
 * mean, which shows what a commit's fsync or a slow statement blocks — that figure does depend on the machine.
 */
import { readFileSync } from 'node:fs';

export interface RouteCalls {
  requests: number;
  /** Calls by kind (`sqlite`, `pg`, `redis`) and by statement text. */
  byKind: Map<string, number>;
  byStatement: Map<string, number>;
  /** Summed wall time (µs) by statement text, for the statements whose lines carry one (SQLite). */
  wallUsByStatement: Map<string, number>;
}

/** Folds a trace's lines into per-route counts; lines before the first request (start-up) are left out. */
export function callsPerRoute(lines: Iterable<string>): Map<string, RouteCalls> {
  const routes = new Map<string, RouteCalls>();
  let current: RouteCalls | undefined;
  for (const line of lines) {
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const kind = line.slice(0, space);
    const tab = line.indexOf('\t', space);
    const call = tab < 0 ? line : line.slice(0, tab);
    const text = call.slice(space + 1);
    if (kind === 'request') {
      current = routes.get(text) ?? { requests: 0, byKind: new Map(), byStatement: new Map(), wallUsByStatement: new Map() };
      routes.set(text, current);
      current.requests++;
    } else if (current) {
      current.byKind.set(kind, (current.byKind.get(kind) ?? 0) + 1);
      current.byStatement.set(call, (current.byStatement.get(call) ?? 0) + 1);
      const wallUs = tab < 0 ? NaN : Number(line.slice(tab + 1));
      if (Number.isFinite(wallUs)) current.wallUsByStatement.set(call, (current.wallUsByStatement.get(call) ?? 0) + wallUs);
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
    console.log(`${route}: ${r.requests} requests\n\nper request  µs per call  call`);
    for (const [text, n] of [...r.byStatement].sort((a, b) => b[1] - a[1])) {
      const wall = r.wallUsByStatement.get(text);
      console.log(`${perRequest(n, r).padStart(11)}  ${(wall === undefined ? '' : (wall / n).toFixed(0)).padStart(11)}  ${text}`);
    }
    return;
  }
  const kinds = [...new Set([...routes.values()].flatMap((r) => [...r.byKind.keys()]))].sort();
  const wallUs = (r: RouteCalls) => [...r.wallUsByStatement.values()].reduce((a, b) => a + b, 0);
  const timed = [...routes.values()].some((r) => r.wallUsByStatement.size > 0);
  console.log(`| route | requests | ${kinds.map((k) => `${k} per request`).join(' | ')} |${timed ? ' SQLite µs per request |' : ''}`);
  console.log(`|---|---|${kinds.map(() => '---|').join('')}${timed ? '---|' : ''}`);
  for (const [name, r] of [...routes].sort((a, b) => a[0].localeCompare(b[0]))) {
    const wall = timed ? ` ${(wallUs(r) / r.requests).toFixed(0)} |` : '';
    console.log(`| ${name} | ${r.requests} | ${kinds.map((k) => perRequest(r.byKind.get(k) ?? 0, r)).join(' | ')} |${wall}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv[2], process.argv[3]);
