/**
 * Issue 14 scale-out: two IdP instances sharing the same stores behind a round-robin proxy (the way an
 * operator deploys it). An authorization started on one completes on the other, a refresh token from one
 * works at the other, sign-in throttles are shared, `stepwise keys rotate` reaches both without a restart
 * (published first, signing from its activation, old tokens still verifiable), and stopping one instance
 * loses no session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import * as oidc from 'openid-client';
import { storeMatrix, type StoreSetup } from '../helpers/stores.js';
import { freePort } from '../helpers/server.js';
import { FakeBrowser } from '../helpers/browser.js';
import { authRequest, exchange, PASSWORD, submitPassword, type TestRp } from '../helpers/rp.js';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type Running } from '../../src/server.js';
import { createClient, createUser } from '../../src/admin/service.js';
import { run as runCli } from '../../src/cli/index.js';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';

/** A round-robin HTTP proxy over the live backends; records which backend served each request. */
function roundRobin(backends: () => number[], served: number[]): Server {
  let next = 0;
  return createServer((req, res) => {
    const ports = backends();
    const port = ports[next++ % ports.length]!;
    served.push(port);
    const upstream = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
}

/** Polls `probe` every 50 ms until it returns true; returns the elapsed ms, or throws after `withinMs`. */
async function waitFor(probe: () => Promise<boolean>, withinMs: number): Promise<number> {
  const start = Date.now();
  while (!(await probe())) {
    if (Date.now() - start > withinMs) throw new Error(`not within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

// Keys are re-read every second here, and a rotated-in key signs 4 s after `keys rotate` (CLI environment).
const KEY_ENV = { KEY_REFRESH_SECONDS: '1' };
const ROTATE_ENV = { KEY_REFRESH_SECONDS: '1', KEY_ACTIVATION_DELAY_SECONDS: '4' };

const newUser = (r: Running) => createUser(r.container, { email: `i${Math.random().toString(36).slice(2)}@example.test`, password: PASSWORD });

describe.each(storeMatrix)('two instances behind a round-robin proxy on $name', (kind) => {
  let stores: StoreSetup;
  let proxy: Server;
  const instances: Running[] = [];
  let live: number[] = [];
  const served: number[] = [];
  let base = '';
  let rp: TestRp;

  beforeAll(async () => {
    stores = await kind.setup();
    const proxyPort = await freePort();
    base = `http://localhost:${proxyPort}`;
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const config = loadConfig({ NODE_ENV: 'test', PORT: String(port), HOST: '127.0.0.1', ISSUER: base, LOG_LEVEL: 'silent', STEPWISE_DEMO: 'false', ...KEY_ENV, ...stores.env });
      instances.push(await startServer(config));
      live.push(port);
    }
    proxy = roundRobin(() => live, served);
    await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', () => r()));
    const c = (await createClient(instances[0]!.container, { redirectUris: ['http://rp.test/cb'], firstParty: true })) as Record<string, unknown>;
    const config = await oidc.discovery(new URL(base), String(c.client_id), undefined, oidc.ClientSecretBasic(String(c.client_secret)), { execute: [oidc.allowInsecureRequests] });
    rp = { config, clientId: String(c.client_id), redirectUri: 'http://rp.test/cb' };
  });
  afterAll(async () => {
    await new Promise((r) => proxy?.close(r));
    for (const i of instances) await i.close({ drainMs: 1000 }).catch(() => undefined);
    await stores?.cleanup();
  });

  it('both publish the same keys; a sign-in hops between them; a refresh from one works at the other', async () => {
    const [a, b] = await Promise.all(live.map((p) => fetch(`http://127.0.0.1:${p}/jwks`).then((r) => r.json())));
    expect(a).toEqual(b);
    const u = await newUser(instances[1]!);
    const browser = new FakeBrowser(base);
    served.length = 0;
    const req = await authRequest(rp);
    const login = await browser.follow(req.url);
    const cb = await submitPassword(browser, login, u.email);
    expect(cb.url.startsWith(rp.redirectUri)).toBe(true);
    expect(new Set(served).size).toBe(2); // the requests of this one sign-in went to both instances
    const tokens = await exchange(rp, req, cb.url);
    expect(tokens.claims()?.sub).toBe(u.id);
    // Refresh twice: round robin sends the two grants to different instances.
    const r1 = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    const r2 = await oidc.refreshTokenGrant(rp.config, r1.refresh_token!);
    expect(r2.access_token).toBeTruthy();
    const info = await oidc.fetchUserInfo(rp.config, r2.access_token, u.id);
    expect(info.sub).toBe(u.id);
  });

  it('throttles are shared: failures counted on one instance block on the other', async () => {
    const u = await newUser(instances[0]!);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const browser = new FakeBrowser(base);
      const page = await browser.follow((await authRequest(rp)).url);
      statuses.push((await submitPassword(browser, page, u.email, 'not the password at all')).status);
    }
    // The stranger gate (5 free failures, then growing delays) counts across both instances: the attempts
    // alternate, so per-instance counters would first refuse around the 12th attempt, shared ones by the 8th.
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(0, 8)).toContain(429);
  });

  it('keys rotate reaches both instances without a restart: published first, then signing; old ID tokens still verify', async () => {
    const jwksOf = async (port: number) => (await (await fetch(`http://127.0.0.1:${port}/jwks`)).json()) as JSONWebKeySet;
    const kidsOf = async (port: number) => (await jwksOf(port)).keys.map((k) => k.kid);
    const u = await newUser(instances[0]!);
    const browser = new FakeBrowser(base);
    const req = await authRequest(rp);
    const before = await exchange(rp, req, (await submitPassword(browser, await browser.follow(req.url), u.email)).url);
    const oldKid = decodeProtectedHeader(before.id_token!).kid;

    let written = '';
    const rotatedAt = Date.now();
    await runCli(['keys', 'rotate'], { env: { ...stores.env, ...ROTATE_ENV, LOG_LEVEL: 'silent' }, readStdin: async () => '', write: (t) => (written += t) });
    const rotated = JSON.parse(written) as { kid: string; retired: string[]; activates_at: string };
    expect(rotated.retired).toContain(oldKid);
    const activatesAt = Date.parse(rotated.activates_at);
    expect(activatesAt - rotatedAt).toBeGreaterThanOrEqual(4000);

    // Every instance publishes the new key within one refresh interval — before anyone signs with it.
    await waitFor(async () => (await Promise.all(live.map(kidsOf))).every((kids) => kids.includes(rotated.kid)), 2500);
    expect(Date.now()).toBeLessThan(activatesAt);
    for (const i of instances) expect(i.container.keyRefresh.signingKid()).toBe(oldKid);
    const r0 = await oidc.refreshTokenGrant(rp.config, before.refresh_token!);
    expect(decodeProtectedHeader(r0.id_token!).kid).toBe(oldKid); // published, not yet signing

    // From the activation on, both sign with it (each switches on its own timer, at the activation time).
    await waitFor(async () => instances.every((i) => i.container.keyRefresh.signingKid() === rotated.kid), activatesAt - Date.now() + 1000);
    expect(Date.now() - activatesAt).toBeLessThan(1000);
    const r1 = await oidc.refreshTokenGrant(rp.config, r0.refresh_token!);
    const r2 = await oidc.refreshTokenGrant(rp.config, r1.refresh_token!); // round robin: the other instance
    expect([decodeProtectedHeader(r1.id_token!).kid, decodeProtectedHeader(r2.id_token!).kid]).toEqual([rotated.kid, rotated.kid]);

    // The retired key stays published: the ID token signed before the rotation verifies against either JWKS.
    for (const port of live) {
      const jwks = await jwksOf(port);
      expect(jwks.keys.map((k) => k.kid)).toEqual([rotated.kid, oldKid]);
      const { payload } = await jwtVerify(before.id_token!, createLocalJWKSet(jwks), { issuer: base, audience: rp.clientId });
      expect(payload.sub).toBe(u.id);
    }
  });

  it('stopping one instance loses no session: the survivor serves SSO', async () => {
    const u = await newUser(instances[0]!);
    const browser = new FakeBrowser(base);
    const req = await authRequest(rp);
    const cb = await submitPassword(browser, await browser.follow(req.url), u.email);
    await exchange(rp, req, cb.url);
    const stopped = live.shift()!;
    await instances.shift()!.close({ drainMs: 1000 });
    expect(live).not.toContain(stopped);
    const again = await authRequest(rp, { prompt: 'none' });
    const page = await browser.follow(again.url);
    const url = new URL(page.url);
    expect(url.searchParams.get('error')).toBeNull();
    expect(url.searchParams.get('code')).toBeTruthy();
  });
});
