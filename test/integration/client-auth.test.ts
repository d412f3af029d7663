/**
 * Issue 14 — client authentication at the token endpoint: client_secret_post, client_secret_jwt and
 * private_key_jwt clients can be registered and sign in through openid-client; a client assertion is
 * single-use, also when the replay races the first use; bad registrations get precise errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webcrypto } from 'node:crypto';
import * as oidc from 'openid-client';
import { SignJWT } from 'jose';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeUser, signIn, type TestRp } from '../helpers/rp.js';
import { createClient, type CreateClientInput } from '../../src/admin/service.js';

const REDIRECT = 'http://rp.test/cb';

describe.each(storeMatrix)('client authentication on $name', (kind) => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer(kind);
  });
  afterAll(async () => srv?.close());

  async function rpWith(input: Partial<CreateClientInput>, auth: (c: Record<string, unknown>) => oidc.ClientAuth): Promise<TestRp> {
    const c = (await createClient(srv.container, { redirectUris: [REDIRECT], firstParty: true, name: 'Auth RP', ...input })) as Record<string, unknown>;
    const config = await oidc.discovery(new URL(srv.url), String(c.client_id), undefined, auth(c), { execute: [oidc.allowInsecureRequests] });
    return { config, clientId: String(c.client_id), redirectUri: REDIRECT };
  }

  async function ecKey() {
    const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const jwk = { ...(await webcrypto.subtle.exportKey('jwk', pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    return { pair, jwks: { keys: [jwk] } };
  }

  it('discovery advertises exactly the methods that work', async () => {
    const meta = (await (await fetch(`${srv.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect([...(meta.token_endpoint_auth_methods_supported as string[])].sort()).toEqual(['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'none', 'private_key_jwt']);
  });

  it('client_secret_post and client_secret_jwt clients sign in', async () => {
    const u = await makeUser(srv);
    const post = await rpWith({ authMethod: 'client_secret_post' }, (c) => oidc.ClientSecretPost(String(c.client_secret)));
    expect((await signIn(srv, post, u.email)).tokens.claims()?.sub).toBe(u.id);
    const jwt = await rpWith({ authMethod: 'client_secret_jwt' }, (c) => oidc.ClientSecretJwt(String(c.client_secret)));
    expect((await signIn(srv, jwt, u.email)).tokens.claims()?.sub).toBe(u.id);
  });

  it('a private_key_jwt client signs in with its key; a replayed assertion is refused, also in a race', async () => {
    const u = await makeUser(srv);
    const { pair, jwks } = await ecKey();
    const rp = await rpWith({ authMethod: 'private_key_jwt', jwks }, () => oidc.PrivateKeyJwt({ key: pair.privateKey, kid: 'k1' }));
    const { tokens } = await signIn(srv, rp, u.email);
    expect(tokens.claims()?.sub).toBe(u.id);
    // One assertion, used three times at once at the introspection endpoint: one 200, the rest 401.
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(rp.clientId)
      .setSubject(rp.clientId)
      .setAudience(srv.url)
      .setJti(`jti-${Math.random().toString(36).slice(2)}`)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(pair.privateKey);
    const body = new URLSearchParams({
      token: tokens.access_token,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString();
    const send = () => fetch(`${srv.url}/token/introspection`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const statuses = (await Promise.all([send(), send(), send()])).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 401, 401]);
    expect((await send()).status).toBe(401);
    // Another key's assertion is refused.
    const other = await ecKey();
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(rp.clientId).setSubject(rp.clientId).setAudience(srv.url).setJti('x').setIssuedAt().setExpirationTime('1m').sign(other.pair.privateKey);
    const refused = await fetch(`${srv.url}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: forged }).toString(),
    });
    expect(refused.status).toBe(401);
  });

  it('bad registrations get precise errors and store nothing', async () => {
    const { pair, jwks } = await ecKey();
    const priv = { keys: [{ ...(await webcrypto.subtle.exportKey('jwk', pair.privateKey)), kid: 'p' }] };
    const cases: Array<[Partial<CreateClientInput>, RegExp]> = [
      [{ authMethod: 'private_key_jwt' }, /exactly one of --jwks FILE or --jwks-uri/],
      [{ authMethod: 'private_key_jwt', jwks, jwksUri: 'https://rp.test/jwks' }, /exactly one of/],
      [{ authMethod: 'private_key_jwt', jwks: priv }, /public keys only/],
      [{ authMethod: 'private_key_jwt', jwks: { keys: [] } }, /at least one key/],
      [{ authMethod: 'private_key_jwt', jwksUri: 'ftp://rp.test/jwks' }, /https URL/],
      [{ authMethod: 'client_secret_post', jwks }, /go with --auth-method private_key_jwt/],
      [{ authMethod: 'bogus' as never }, /must be one of/],
      [{ authMethod: 'client_secret_basic', public: true }, /authenticates with none/],
    ];
    const before = await srv.container.db('clients').count<{ n: number | string }[]>({ n: '*' }).first();
    for (const [input, message] of cases) {
      await expect(createClient(srv.container, { redirectUris: [REDIRECT], ...input })).rejects.toMatchObject({ code: 'invalid_form', detail: expect.stringMatching(message) });
    }
    const after = await srv.container.db('clients').count<{ n: number | string }[]>({ n: '*' }).first();
    expect(Number(after?.n)).toBe(Number(before?.n));
  });
});
