/** The bench's per-route count of store calls (bench/perf/trace-routes.ts) over a BENCH_TRACE log. */
import { describe, expect, it } from 'vitest';
import { callsPerRoute } from '../../bench/perf/trace-routes.js';

describe('callsPerRoute', () => {
  const log = [
    'sqlite create table `users` (…)', // start-up, before any request: not charged
    'request GET /auth',
    'sqlite insert into `oidc_payloads` …',
    'request POST /token',
    'sqlite select * from `oidc_payloads` where `id` = ?',
    'redis get stepwise:x',
    'request GET /auth',
    'sqlite insert into `oidc_payloads` …\t300',
    'sqlite pragma data_version\t12',
    '',
  ];

  it('charges each call to the request line before it, by kind and by statement', () => {
    const routes = callsPerRoute(log);
    expect([...routes.keys()].sort()).toEqual(['GET /auth', 'POST /token']);
    const auth = routes.get('GET /auth')!;
    expect(auth.requests).toBe(2);
    expect(Object.fromEntries(auth.byKind)).toEqual({ sqlite: 3 });
    expect(auth.byStatement.get('sqlite insert into `oidc_payloads` …')).toBe(2);
    const token = routes.get('POST /token')!;
    expect(token.requests).toBe(1);
    expect(Object.fromEntries(token.byKind)).toEqual({ sqlite: 1, redis: 1 });
  });

  it('keeps a statement with and without a wall time as one, and sums only the times given', () => {
    const auth = callsPerRoute(log).get('GET /auth')!;
    expect([...auth.byStatement.keys()].sort()).toEqual(['sqlite insert into `oidc_payloads` …', 'sqlite pragma data_version']);
    expect(Object.fromEntries(auth.wallUsByStatement)).toEqual({ 'sqlite insert into `oidc_payloads` …': 300, 'sqlite pragma data_version': 12 });
    expect(callsPerRoute(log).get('POST /token')!.wallUsByStatement.size).toBe(0);
  });

  it('counts nothing for a log without requests', () => {
    expect(callsPerRoute(['sqlite select 1', 'redis ping']).size).toBe(0);
  });
});
