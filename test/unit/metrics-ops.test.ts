/** Metrics derivation, /metrics access decisions, log redaction and the ops configuration, as pure pieces. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { countsFor } from '../../src/metrics/from-audit.js';
import { routeLabel } from '../../src/metrics/http.js';
import { scrapeDecision } from '../../src/metrics/routes.js';
import { Metrics, storeOf } from '../../src/metrics/registry.js';
import { createLogger } from '../../src/http/logger.js';
import { requestIdFrom } from '../../src/http/request-id.js';
import { runInScope } from '../../src/http/request-scope.js';
import { opsConfig } from '../../src/config/ops.js';

const fail = (m: string) => new Error(m);

describe('metrics from audit events', () => {
  it('maps sign-ins, step-ups and factor verifications', () => {
    expect(countsFor({ type: 'login.complete', outcome: 'success', details: { acr: 'loa2' } })).toEqual([{ metric: 'signIns', labels: { result: 'success' } }]);
    expect(countsFor({ type: 'login.complete', outcome: 'success', details: { acr: 'phr', stepUp: true } })).toContainEqual({ metric: 'stepUps', labels: { level: 'phr', outcome: 'success' } });
    expect(countsFor({ type: 'login.unmet_requirements', outcome: 'failure', details: { stepUp: true } })).toEqual([
      { metric: 'signIns', labels: { result: 'unmet' } },
      { metric: 'stepUps', labels: { level: 'none', outcome: 'unmet' } },
    ]);
    expect(countsFor({ type: 'login.password', outcome: 'failure', details: {} })).toEqual([
      { metric: 'signIns', labels: { result: 'invalid_password' } },
      { metric: 'factorVerifications', labels: { kind: 'password', result: 'failure' } },
    ]);
    expect(countsFor({ type: 'login.password', outcome: 'success', details: {} })).toEqual([{ metric: 'factorVerifications', labels: { kind: 'password', result: 'success' } }]);
    expect(countsFor({ type: 'factor.verify.backup_code', outcome: 'failure', details: {} })).toEqual([{ metric: 'factorVerifications', labels: { kind: 'backup_code', result: 'failure' } }]);
    expect(countsFor({ type: 'client.created', outcome: 'success', details: {} })).toEqual([]);
  });

  it('renders its own registry (two containers do not collide)', async () => {
    const a = new Metrics({ defaultMetrics: false });
    const b = new Metrics({ defaultMetrics: false });
    a.signIns.inc({ result: 'success' });
    expect((await a.render()).body).toMatch(/stepwise_sign_ins_total\{result="success",service="stepwise"\} 1/);
    expect((await b.render()).body).not.toMatch(/stepwise_sign_ins_total\{/);
    expect(storeOf(Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' }))).toBe('redis');
    expect(storeOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('database');
  });

  it('labels routes by template, never by raw path', () => {
    expect(routeLabel({ path: '/interaction/abc123', _matchedRoute: '/interaction/:uid' })).toBe('/interaction/:uid');
    expect(routeLabel({ path: '/healthz' })).toBe('/healthz');
    expect(routeLabel({ path: '/account/verify/secret-link-token' })).toBe('unmatched');
  });
});

describe('/metrics access', () => {
  const req = (authorization?: string, remoteAddress = '127.0.0.1') => ({ headers: authorization ? { authorization } : {}, socket: { remoteAddress } });
  const token = 't'.repeat(40);

  it('token mode: constant-time bearer check', () => {
    expect(scrapeDecision(req(`Bearer ${token}`), { mode: 'token', token }, false)).toBe('ok');
    expect(scrapeDecision(req(`bearer ${token}`), { mode: 'token', token }, false)).toBe('ok');
    expect(scrapeDecision(req(`Bearer ${token}x`), { mode: 'token', token }, false)).toBe('unauthorized');
    expect(scrapeDecision(req(), { mode: 'token', token }, false)).toBe('unauthorized');
  });

  it('loopback mode: only loopback sockets; off: never; port: only on its own listener', () => {
    expect(scrapeDecision(req(undefined, '::1'), { mode: 'loopback' }, false)).toBe('ok');
    expect(scrapeDecision(req(undefined, '::ffff:127.0.0.1'), { mode: 'loopback' }, false)).toBe('ok');
    expect(scrapeDecision(req(undefined, '10.0.0.7'), { mode: 'loopback' }, false)).toBe('not_found');
    expect(scrapeDecision(req(`Bearer ${token}`), { mode: 'off' }, false)).toBe('not_found');
    const port = { mode: 'port' as const, host: '127.0.0.1', port: 9464, token: undefined };
    expect(scrapeDecision(req(), port, false)).toBe('not_found');
    expect(scrapeDecision(req(), port, true)).toBe('ok');
    expect(scrapeDecision(req(), { ...port, token }, true)).toBe('unauthorized');
  });
});

describe('ops configuration', () => {
  it('chooses the exposure and reads the checkpoint policy', () => {
    expect(opsConfig({}, 'production', fail).metrics).toEqual({ mode: 'off' });
    expect(opsConfig({}, 'development', fail).metrics).toEqual({ mode: 'loopback' });
    expect(opsConfig({ METRICS_TOKEN: 'x'.repeat(32) }, 'production', fail).metrics).toEqual({ mode: 'token', token: 'x'.repeat(32) });
    expect(opsConfig({ METRICS_PORT: '9464' }, 'production', fail).metrics).toEqual({ mode: 'port', host: '127.0.0.1', port: 9464, token: undefined });
    expect(opsConfig({ AUDIT_CHECKPOINT_EVERY: '10', AUDIT_CHECKPOINT_MINUTES: '5' }, 'test', fail).audit).toEqual({ checkpointEveryEvents: 10, checkpointIntervalMs: 300_000 });
  });

  it('refuses bad values and never echoes the token', () => {
    expect(() => opsConfig({ METRICS_TOKEN: 'short-secret' }, 'production', fail)).toThrow(/^METRICS_TOKEN: at least 32 characters .*\(got a value of 12 characters\)$/);
    expect(() => opsConfig({ METRICS_PORT: 'x' }, 'production', fail)).toThrow(/^METRICS_PORT: /);
  });
});

describe('logging', () => {
  function capture() {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger('debug', new Writable({ write: (c, _e, cb) => (lines.push(...String(c).split('\n').filter(Boolean).map((l) => JSON.parse(l))), cb()) }));
    return { log, lines };
  }

  it('redacts passwords, codes, secrets and tokens at any of three levels; keeps error codes', () => {
    const { log, lines } = capture();
    log.info({ password: 'hunter2hunter2', code: '123456', nested: { client_secret: 's3cr3t', refresh_token: 'rt' }, err: { code: 'ECONNREFUSED' }, smtp: { code: 550 } }, 'x');
    log.info({ req: { headers: { authorization: 'Bearer abc', cookie: '_session=abc' } }, res: { headers: { location: 'https://rp/cb?code=abc' } }, a: { b: { id_token: 'eyJ' } } }, 'y');
    const text = JSON.stringify(lines);
    for (const s of ['hunter2hunter2', '123456', 's3cr3t', '"rt"', 'Bearer abc', '_session=abc', 'code=abc', 'eyJ']) expect(text).not.toContain(s);
    expect(lines[0]).toMatchObject({ err: { code: 'ECONNREFUSED' }, smtp: { code: 550 }, password: '[redacted]' });
  });

  it('adds the request id of the current request to every line', () => {
    const { log, lines } = capture();
    log.info('outside');
    runInScope({ reqId: 'req-abcdefgh' }, () => log.child({ a: 1 }).debug('inside'));
    expect(lines[0]).not.toHaveProperty('reqId');
    expect(lines[1]).toMatchObject({ reqId: 'req-abcdefgh', a: 1 });
    expect(requestIdFrom('0af7651916cd43dd8448eb211c80319c')).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(requestIdFrom('short')).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdFrom('a'.repeat(129))).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdFrom('abc\r\nSet-Cookie: x')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
