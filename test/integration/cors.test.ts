/**
 * Issue 14: browser apps (public clients on their own origin) call the token, userinfo, revocation and
 * introspection endpoints with CORS. Allowed: the origins of the client's redirect URIs and its
 * stepwise_allowed_origins (`stepwise clients create --allowed-origin`); any other origin gets 400 without
 * Access-Control-Allow-Origin. Plain fetch with an Origin header, as a browser would send it. Also: public
 * clients created with `--dpop` must present DPoP proofs, so their refresh tokens are sender-constrained.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser } from '../helpers/browser.js';
import { authRequest, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';
import { run, type CliIo } from '../../src/cli/index.js';

const SPA_ORIGIN = 'http://127.0.0.1:5173';
const EXTRA_ORIGIN = 'https://admin.example.test';
const EVIL_ORIGIN = 'https://evil.example.test';

describe.each(storeMatrix)('client-based CORS on $name', (kind) => {
  let srv: TestServer;
  let spa: TestRp;
  let email: string;

  /** `stepwise …` against the server's own stores; returns its JSON output. */
  async function cli(argv: string[]): Promise<Record<string, unknown>> {
    let written = '';
    const io: CliIo = { env: { ...srv.env, LOG_LEVEL: 'silent' }, readStdin: async () => '', write: (t) => (written += t) };
    await run(argv, io);
    return JSON.parse(written) as Record<string, unknown>;
  }

  async function rpFor(clientId: string, redirectUri: string): Promise<TestRp> {
    const config = await oidc.discovery(new URL(srv.url), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    return { config, clientId, redirectUri };
  }

  /** Signs in with the password and returns the authorization code request + the callback URL. */
  async function codeFor(rp: TestRp, browser = new FakeBrowser(srv.url)) {
    const req = await authRequest(rp);
    const cb = await submitPassword(browser, await browser.follow(req.url), email);
    expect(cb.url.startsWith(rp.redirectUri), `${cb.status} ${cb.url}\n${cb.body.slice(0, 300)}`).toBe(true);
    const code = new URL(cb.url).searchParams.get('code');
    expect(code).toBeTruthy();
    return { req, code: code!, browser };
  }

  const form = (values: Record<string, string>) => new URLSearchParams(values).toString();
  const post = (path: string, origin: string | undefined, body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${srv.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...(origin ? { origin } : {}), ...headers },
      body: form(body),
    });

  /** Redeems a code at /token from a browser on `origin`. */
  async function redeem(origin: string | undefined, rp = spa) {
    const { req, code } = await codeFor(rp);
    const res = await post('/token', origin, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: rp.redirectUri,
      client_id: rp.clientId,
      code_verifier: req.verifier,
    });
    return { res, body: (await res.clone().json()) as Record<string, string> };
  }

  /** A refused cross-origin call: 400 invalid_request naming the origin, and no header that would let the page read it. */
  async function expectRefused(res: Response, origin: string, clientId = spa.clientId) {
    expect(res.status).toBe(400);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toBe(`origin ${origin} not allowed for client: ${clientId}`);
  }

  beforeAll(async () => {
    srv = await startTestServer(kind);
    email = (await makeUser(srv)).email;
    const created = await cli([
      'clients', 'create', '--public', '--first-party', '--name', 'SPA',
      '--redirect-uri', `${SPA_ORIGIN}/callback`,
      '--allowed-origin', EXTRA_ORIGIN,
    ]);
    expect(created).toMatchObject({ token_endpoint_auth_method: 'none', stepwise_allowed_origins: [EXTRA_ORIGIN] });
    spa = await rpFor(created.client_id as string, `${SPA_ORIGIN}/callback`);
  });
  afterAll(async () => srv?.close());

  it('answers the /token preflight (preflights are never client-checked: the real request is)', async () => {
    for (const origin of [SPA_ORIGIN, EVIL_ORIGIN]) {
      const res = await fetch(`${srv.url}/token`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,dpop' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
      expect(res.headers.get('access-control-allow-headers')).toBe('content-type,dpop');
    }
  });

  it('redeems a code from the redirect URI origin and from an explicitly allowed origin, with ACAO set to it', async () => {
    for (const origin of [SPA_ORIGIN, EXTRA_ORIGIN]) {
      const { res, body } = await redeem(origin);
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('vary')).toMatch(/origin/i);
      expect(body.access_token).toBeTruthy();
      expect(body.id_token).toBeTruthy();
      expect(body.refresh_token).toBeTruthy();
    }
  });

  it('refuses the token request from any other origin: 400 without Access-Control-Allow-Origin', async () => {
    for (const origin of [EVIL_ORIGIN, 'http://127.0.0.1:5174', 'https://127.0.0.1:5173', 'null']) {
      const { res } = await redeem(origin);
      await expectRefused(res, origin);
    }
  });

  it('leaves requests without an Origin (server to server) alone', async () => {
    const { res, body } = await redeem(undefined);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.access_token).toBeTruthy();
  });

  it('refreshes from an allowed origin only', async () => {
    const { body: first } = await redeem(SPA_ORIGIN);
    const refused = await post('/token', EVIL_ORIGIN, { grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: spa.clientId });
    await expectRefused(refused, EVIL_ORIGIN);
    const ok = await post('/token', SPA_ORIGIN, { grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: spa.clientId });
    const body = (await ok.json()) as Record<string, string>;
    expect(ok.status, JSON.stringify(body)).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN);
    expect(body.access_token).not.toBe(first.access_token);
    // Public clients always rotate: the new refresh token replaces the old one.
    expect(body.refresh_token).not.toBe(first.refresh_token);
  });

  it('applies the same rule at userinfo (the access token names the client)', async () => {
    const { body: tokens } = await redeem(SPA_ORIGIN);
    const preflight = await fetch(`${srv.url}/me`, {
      method: 'OPTIONS',
      headers: { origin: SPA_ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN);
    for (const origin of [SPA_ORIGIN, EXTRA_ORIGIN]) {
      const res = await fetch(`${srv.url}/me`, { headers: { origin, authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(((await res.json()) as { sub: string }).sub).toMatch(/^[0-9a-f-]{36}$/);
    }
    const evil = await fetch(`${srv.url}/me`, { headers: { origin: EVIL_ORIGIN, authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
    await expectRefused(evil, EVIL_ORIGIN);
  });

  it('applies the same rule at introspection and revocation', async () => {
    const { body: tokens } = await redeem(SPA_ORIGIN);
    const token = { token: tokens.access_token!, client_id: spa.clientId };

    await expectRefused(await post('/token/introspection', EVIL_ORIGIN, token), EVIL_ORIGIN);
    const introspected = await post('/token/introspection', SPA_ORIGIN, token);
    expect(introspected.status).toBe(200);
    expect(introspected.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN);
    expect(((await introspected.json()) as { active: boolean }).active).toBe(true);

    // A refused revocation revokes nothing.
    await expectRefused(await post('/token/revocation', EVIL_ORIGIN, token), EVIL_ORIGIN);
    expect(((await (await post('/token/introspection', undefined, token)).json()) as { active: boolean }).active).toBe(true);
    const revoked = await post('/token/revocation', EXTRA_ORIGIN, token);
    expect(revoked.status).toBe(200);
    expect(revoked.headers.get('access-control-allow-origin')).toBe(EXTRA_ORIGIN);
    expect(((await (await post('/token/introspection', undefined, token)).json()) as { active: boolean }).active).toBe(false);
  });

  it("is per client: one client's origins are not another's", async () => {
    const other = await cli(['clients', 'create', '--public', '--first-party', '--redirect-uri', 'https://other.example.test/cb']);
    const rp = await rpFor(other.client_id as string, 'https://other.example.test/cb');
    for (const origin of [SPA_ORIGIN, EXTRA_ORIGIN]) {
      const { res } = await redeem(origin, rp);
      await expectRefused(res, origin, rp.clientId);
    }
    const { res } = await redeem('https://other.example.test', rp);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://other.example.test');
  });

  it('rejects an --allowed-origin that is not an origin, with a clear error', async () => {
    await expect(cli(['clients', 'create', '--public', '--redirect-uri', `${SPA_ORIGIN}/cb`, '--allowed-origin', 'https://app.example.test/callback'])).rejects.toMatchObject({
      code: 'invalid_form',
      field: 'allowed_origin',
      detail: expect.stringMatching(/is not an origin.*did you mean https:\/\/app\.example\.test\?/),
    });
    await expect(cli(['clients', 'create', '--public', '--redirect-uri', `${SPA_ORIGIN}/cb`, '--allowed-origin', 'http://app.example.test'])).rejects.toMatchObject({
      code: 'invalid_form',
      detail: expect.stringMatching(/must use https/),
    });
  });

  it('refuses to load a client whose stored stepwise_allowed_origins are invalid', async () => {
    const created = await cli(['clients', 'create', '--public', '--redirect-uri', `${SPA_ORIGIN}/cb`]);
    await srv.container.clients.updateMetadata(created.client_id as string, { stepwise_allowed_origins: ['https://ok.example.test', 'https://bad.example.test/path'] });
    await expect(srv.container.provider.Client.find(created.client_id as string)).rejects.toMatchObject({
      error: 'invalid_client_metadata',
      error_description: expect.stringContaining('stepwise_allowed_origins'),
    });
  });
});

describe.each(storeMatrix)('DPoP-bound public clients on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let email: string;
  const grantErrors: string[] = [];
  /** Expects the call to fail with invalid_grant for `detail` (the provider's reason, not sent to the client). */
  async function expectInvalidGrant(call: () => Promise<unknown>, detail: string) {
    grantErrors.length = 0;
    await expect(call()).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(grantErrors).toEqual([detail]);
  }

  beforeAll(async () => {
    srv = await startTestServer(kind);
    email = (await makeUser(srv)).email;
    let written = '';
    const io: CliIo = { env: { ...srv.env, LOG_LEVEL: 'silent' }, readStdin: async () => '', write: (t) => (written += t) };
    await run(['clients', 'create', '--public', '--first-party', '--dpop', '--redirect-uri', `${SPA_ORIGIN}/callback`], io);
    const created = JSON.parse(written) as Record<string, unknown>;
    expect(created).toMatchObject({ token_endpoint_auth_method: 'none', dpop_bound_access_tokens: true });
    const config = await oidc.discovery(new URL(srv.url), created.client_id as string, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    rp = { config, clientId: created.client_id as string, redirectUri: `${SPA_ORIGIN}/callback` };
    // Over the wire every invalid_grant says "grant request is invalid"; the reason is in the error event.
    srv.container.provider.on('grant.error', (_ctx, err) => grantErrors.push((err as { error_detail?: string }).error_detail ?? String(err)));
  });
  afterAll(async () => srv?.close());

  it('advertises DPoP in discovery', () => {
    expect(rp.config.serverMetadata().dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
  });

  it('needs a DPoP proof to redeem the code and for every refresh, from the key the tokens are bound to', async () => {
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const cb = await submitPassword(browser, await browser.follow(req.url), email);
    const callback = new URL(cb.url);
    const checks = { pkceCodeVerifier: req.verifier, expectedNonce: req.nonce, expectedState: req.state, idTokenExpected: true };

    // Without a proof the code is refused (and stays unused, so it can still be redeemed properly).
    await expectInvalidGrant(() => oidc.authorizationCodeGrant(rp.config, callback, checks), 'DPoP proof JWT not provided');

    const key = await oidc.randomDPoPKeyPair();
    const dpop = oidc.getDPoPHandle(rp.config, key);
    const tokens = await oidc.authorizationCodeGrant(rp.config, callback, checks, undefined, { DPoP: dpop });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(tokens.refresh_token).toBeTruthy();
    const sub = tokens.claims()!.sub;

    // The access token is bound: as a plain bearer token it is refused, with the proof it works.
    const bearer = await fetch(`${srv.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(bearer.status).toBe(401);
    expect((await oidc.fetchUserInfo(rp.config, tokens.access_token, sub, { DPoP: dpop })).sub).toBe(sub);

    // Refresh without a proof, or with a proof from another key: refused; the refresh token survives both.
    await expectInvalidGrant(() => oidc.refreshTokenGrant(rp.config, tokens.refresh_token!), 'DPoP proof JWT not provided');
    const other = oidc.getDPoPHandle(rp.config, await oidc.randomDPoPKeyPair());
    await expectInvalidGrant(() => oidc.refreshTokenGrant(rp.config, tokens.refresh_token!, undefined, { DPoP: other }), 'failed jkt verification');

    const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!, undefined, { DPoP: dpop });
    expect(refreshed.token_type.toLowerCase()).toBe('dpop');
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    // The new refresh token is bound to the same key; the old one is spent (rotation).
    await expectInvalidGrant(() => oidc.refreshTokenGrant(rp.config, refreshed.refresh_token!, undefined, { DPoP: other }), 'failed jkt verification');
    await expect(oidc.refreshTokenGrant(rp.config, tokens.refresh_token!, undefined, { DPoP: dpop })).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
