/**
 * No secret in the logs: a full sign-in (password + TOTP), the code exchange and a refresh, with the server
 * logging at debug level into a buffer; then every line is searched for the password, the TOTP secret and
 * codes, the client secret, the authorization code and the access, refresh and ID tokens. Also: every
 * request's lines carry its request id.
 */
import { Writable } from 'node:stream';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { freePort, type TestServer } from '../helpers/server.js';
import { exchange, PASSWORD, type TestRp } from '../helpers/rp.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';
import { totpCode } from '../helpers/account.js';
import { FakeBrowser } from '../helpers/browser.js';
import { loadConfig } from '../../src/config/index.js';
import { startServer } from '../../src/server.js';
import { createClient } from '../../src/admin/service.js';
import { createLogger } from '../../src/http/logger.js';

describe.each(storeMatrix)('log secrets on $name', (kind) => {
  const lines: string[] = [];
  const clock = fakeClock();
  let srv: TestServer;
  let rp: TestRp;
  let clientSecret: string;

  beforeAll(async () => {
    const stores = await kind.setup();
    const port = await freePort();
    const env = { NODE_ENV: 'test', PORT: String(port), HOST: '127.0.0.1', ISSUER: `http://localhost:${port}`, STEPWISE_DEMO: 'false', ...stores.env };
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    const running = await startServer(loadConfig(env), { log: createLogger('debug', sink), now: clock.now });
    srv = { ...running, stores, env, close: async () => (await running.close(), await stores.cleanup()) };
    const c = await createClient(srv.container, { redirectUris: ['http://rp.test/cb'], firstParty: true, name: 'Log RP' });
    clientSecret = c.client_secret as string;
    const config = await oidc.discovery(new URL(srv.url), c.client_id, undefined, oidc.ClientSecretBasic(clientSecret), { execute: [oidc.allowInsecureRequests] });
    rp = { config, clientId: c.client_id, redirectUri: 'http://rp.test/cb' };
  });
  afterAll(async () => srv?.close());

  it('a full sign-in, code exchange and refresh log none of their secrets', async () => {
    const kit = stepUpKit(() => srv, () => rp, clock);
    const user = await kit.user({ totp: true });
    const t0 = clock.now();
    const browser = new FakeBrowser(srv.url);
    browser.headers['x-request-id'] = 'log-test-request-0001';
    const { req, page, asked } = await kit.authorize(browser, user, { acr_values: 'loa2' });
    expect(asked).toEqual(['password', 'totp']);
    const code = new URL(page.url).searchParams.get('code')!;
    expect(code).toBeTruthy();
    const tokens = await exchange(rp, req, page.url);
    const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    const t1 = clock.now();

    const secrets: Record<string, string> = {
      password: PASSWORD,
      'TOTP secret': user.totpSecret!,
      'client secret': clientSecret,
      'authorization code': code,
      'access token': tokens.access_token,
      'refresh token': tokens.refresh_token!,
      'ID token': tokens.id_token!,
      'refreshed access token': refreshed.access_token,
      'rotated refresh token': refreshed.refresh_token!,
      'refreshed ID token': refreshed.id_token!,
    };
    // Every TOTP code that was valid around the sign-in (the one submitted is among them).
    const codes = new Set<string>();
    for (let t = t0 - 120_000; t <= t1 + 120_000; t += 10_000) codes.add(totpCode(user.totpSecret!, t));

    expect(lines.length).toBeGreaterThan(10);
    const all = lines.join('\n');
    for (const [what, value] of Object.entries(secrets)) expect(all.includes(value), `${what} found in the logs`).toBe(false);
    for (const c of codes) expect(new RegExp(`(?<![0-9])${c}(?![0-9])`).test(all), `TOTP code ${c} found in the logs`).toBe(false);

    // Debug lines were written from deep inside requests, and each carries the request id.
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const grants = parsed.filter((l) => l.event === 'grant.success');
    expect(grants.map((l) => l.grantType)).toEqual(['authorization_code', 'refresh_token']);
    for (const l of grants) expect(l.reqId).toMatch(/^[0-9a-f-]{36}$/);
    const requests = parsed.filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(5);
    for (const l of requests) {
      expect(l.reqId).toEqual(expect.any(String));
      expect(l.route).toEqual(expect.any(String));
      expect(l).not.toHaveProperty('url');
    }
    // The browser's own request id went through, on the access line of each of its requests.
    expect(requests.filter((l) => l.reqId === 'log-test-request-0001').length).toBeGreaterThanOrEqual(4);
  });
});
