/**
 * Operations on real stores: /healthz (process only) and /readyz (503 naming the store that is down),
 * Prometheus /metrics after a real sign-in (sign-in and token-grant counters, latency by route template)
 * behind a bearer token or on its own port, and the request id echoed.
 */
import Koa from 'koa';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteStore, storeMatrix } from '../helpers/stores.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { authRequest, makeRp, makeUser, signIn, submitPassword, type TestRp } from '../helpers/rp.js';
import { FakeBrowser } from '../helpers/browser.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';
import { healthRoutes, type ReadinessDeps } from '../../src/http/health.js';
import { createDb } from '../../src/store/db.js';
import { createRedis } from '../../src/store/redis.js';

const TOKEN = 'metrics-token-0123456789abcdefghijklmnop';

/** A Koa app serving only the probes over the given stores (some of them unreachable). */
async function probeServer(deps: ReadinessDeps): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Koa();
  app.use(healthRoutes({ timeoutMs: 1500, ...deps }));
  const server: Server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** The value of one sample line, e.g. metric('stepwise_sign_ins_total', { result: 'success' }). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe.each(storeMatrix)('operations on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();

  beforeAll(async () => {
    srv = await startTestServer(kind, { METRICS_TOKEN: TOKEN, LOGIN_MAX_FAILURES: '2' }, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const scrape = async () => {
    const res = await fetch(`${srv.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  };

  it('/healthz answers without the stores; /readyz checks them', async () => {
    const health = await fetch(`${srv.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${srv.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', checks: kind.name === 'sqlite' ? { database: 'ok' } : { database: 'ok', redis: 'ok' } });
  });

  it('/readyz: 503 naming the store that is down', async () => {
    const closed = await freePort(); // nothing listens there
    const cases: Array<{ deps: ReadinessDeps; down: string[] }> = [];
    const deadDb =
      kind.name === 'sqlite'
        ? createDb({ client: 'sqlite', filename: ':memory:' })
        : createDb({ client: 'pg', connection: `postgres://postgres@127.0.0.1:${closed}/none` });
    if (kind.name === 'sqlite') await deadDb.destroy(); // an embedded database that is gone
    cases.push({ deps: { db: deadDb, redis: srv.container.redis }, down: ['database'] });
    const deadRedis = srv.container.redis ? createRedis(`redis://127.0.0.1:${closed}`) : undefined;
    if (deadRedis) {
      cases.push({ deps: { db: srv.container.db, redis: deadRedis }, down: ['redis'] });
      cases.push({ deps: { db: deadDb, redis: deadRedis }, down: ['database', 'redis'] });
    }
    try {
      for (const c of cases) {
        const probes = await probeServer(c.deps);
        try {
          const res = await fetch(`${probes.url}/readyz`);
          expect(res.status).toBe(503);
          const body = (await res.json()) as { status: string; down: string[]; message: string };
          expect(body).toMatchObject({ status: 'unavailable', down: c.down });
          expect(body.message).toBe(`not ready: ${c.down.join(' and ')} unreachable`);
          // Liveness does not depend on them.
          expect((await fetch(`${probes.url}/healthz`)).status).toBe(200);
        } finally {
          await probes.close();
        }
      }
    } finally {
      deadRedis?.disconnect();
      if (kind.name !== 'sqlite') await deadDb.destroy();
    }
  });

  it('/metrics needs the bearer token', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
      const res = await fetch(`${srv.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      expect(await res.text()).not.toContain('stepwise_');
    }
  });

  it('a sign-in shows in the metrics: sign-in and token-grant counters, latency by route template', async () => {
    const before = await scrape();
    const { email } = await makeUser(srv);
    await signIn(srv, rp, email);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('stepwise_sign_ins_total', { result: 'success' })).toBe(1);
    expect(delta('stepwise_factor_verifications_total', { kind: 'password', result: 'success' })).toBe(1);
    expect(delta('stepwise_token_grants_total', { grant_type: 'authorization_code', result: 'success' })).toBe(1);
    expect(delta('stepwise_http_request_duration_seconds_count', { route: '/token', method: 'POST', status: '200' })).toBe(1);
    expect(delta('stepwise_http_request_duration_seconds_count', { route: '/interaction/:uid/login', method: 'POST' })).toBe(1);
    expect(after).toMatch(/stepwise_http_request_duration_seconds_bucket\{[^}]*route="\/auth"/);
    // Templates only: no interaction uid or other raw path reaches a label.
    expect(after).not.toMatch(/route="\/interaction\/[A-Za-z0-9_-]{10,}/);
    expect(after).toContain('stepwise_process_cpu_user_seconds_total');
  });

  it('a step-up shows by level and outcome', async () => {
    const kit = stepUpKit(() => srv, () => rp, clock);
    const user = await kit.user({ totp: true, webauthn: true });
    const browser = new FakeBrowser(srv.url);
    expect((await kit.tokensFor(browser, user)).claims.acr).toBe('loa2');
    const before = await scrape();
    clock.advance(60);
    const up = await kit.tokensFor(browser, user, { acr_values: 'phr' });
    expect(up.asked).toEqual(['webauthn']);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('stepwise_step_ups_total', { level: 'phr', outcome: 'success' })).toBe(1);
    expect(delta('stepwise_factor_verifications_total', { kind: 'webauthn', result: 'success' })).toBe(1);
    expect(delta('stepwise_sign_ins_total', { result: 'success' })).toBe(1);
  });

  it('a refused grant is counted', async () => {
    const before = await scrape();
    const res = await fetch(`${srv.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'nope', redirect_uri: rp.redirectUri, client_id: rp.clientId }).toString(),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const after = await scrape();
    expect(sample(after, 'stepwise_token_grants_total', { grant_type: 'authorization_code', result: 'error' }) - sample(before, 'stepwise_token_grants_total', { grant_type: 'authorization_code', result: 'error' })).toBe(1);
  });

  it('failed passwords and the throttle that follows are counted', async () => {
    const before = await scrape();
    const victim = (await makeUser(srv)).email;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const browser = new FakeBrowser(srv.url);
      statuses.push((await submitPassword(browser, await browser.follow((await authRequest(rp)).url), victim, `wrong-${i}`)).status);
    }
    expect(statuses).toEqual([401, 401, 429]);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('stepwise_sign_ins_total', { result: 'invalid_password' })).toBe(2);
    expect(delta('stepwise_throttled_requests_total', { route: '/interaction/:uid/login' })).toBe(1);
  });

  it('echoes a well-formed X-Request-Id, replaces a malformed one', async () => {
    const kept = await fetch(`${srv.url}/healthz`, { headers: { 'x-request-id': 'edge-4f2c9a71-req' } });
    expect(kept.headers.get('x-request-id')).toBe('edge-4f2c9a71-req');
    const replaced = await fetch(`${srv.url}/healthz`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await fetch(`${srv.url}/healthz`)).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('metrics exposure', () => {
  it('METRICS_PORT: only on its own loopback listener, not on the public port', async () => {
    const port = await freePort();
    const srv = await startTestServer(sqliteStore, { METRICS_PORT: String(port) });
    try {
      expect(srv.metricsUrl).toBe(`http://127.0.0.1:${port}`);
      expect((await fetch(`${srv.url}/metrics`)).status).toBe(404);
      const res = await fetch(`${srv.metricsUrl}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('stepwise_sign_ins_total');
      expect((await fetch(`${srv.metricsUrl}/other`)).status).toBe(404);
    } finally {
      await srv.close();
    }
  });
});
