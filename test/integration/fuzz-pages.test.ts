/**
 * Issue 14, fuzzing the newer pages and APIs: every admin API route (junk ids, query strings and JSON bodies,
 * with an admin token, a read-only token, a junk token or none), the admin console without a session, the
 * password-reset and recovery links, and the account lifecycle forms (e-mail, password, delete, sessions,
 * verification) with and without their CSRF token. Never a 5xx, never a stack trace, never a durable change
 * on a rejection.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField } from '../helpers/browser.js';
import { makeUser } from '../helpers/rp.js';
import { openAccount } from '../helpers/account.js';
import { adminToken } from '../helpers/admin-api.js';
import { ROUTES } from '../../src/admin/api/routes.js';
import { ADMIN_API_PREFIX } from '../../src/admin/api/index.js';
import { asHeader, encodeForm, encodePart, formOf, jsonJunk, jsonOf, junk, probe, runs, FUZZ_TIMEOUT } from '../helpers/fuzz.js';

const FORM = 'application/x-www-form-urlencoded';
const token43 = fc.oneof(junk.map(encodePart), fc.constant('A'.repeat(43)), fc.constant('_'.repeat(43)));

describe.each(storeMatrix)('fuzzing the admin, password, recovery and account lifecycle pages on $name', (kind) => {
  let srv: TestServer;
  let admin: string;
  let reader: string;
  let victimId: string;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    ({ token: admin } = await adminToken(srv, 'stepwise:admin', 'fuzz-admin'));
    ({ token: reader } = await adminToken(srv, 'stepwise:admin:read', 'fuzz-reader'));
    victimId = (await makeUser(srv)).id;
  });
  afterAll(async () => srv?.close());

  it('every admin API route with junk ids, queries and bodies, under every kind of token', async () => {
    const id = fc.oneof(fc.constant(victimId), junk.map(encodePart), fc.constant('00000000-0000-0000-0000-000000000000'));
    const route = fc.constantFrom(...ROUTES);
    await fc.assert(
      fc.asyncProperty(
        route,
        id,
        formOf({ q: undefined, limit: '10', cursor: undefined, type: undefined, user: undefined }),
        fc.oneof(jsonOf({ email: 'a@b.test', password: 'x', redirect_uris: ['http://a/cb'], name: 'n', reason: 'r', overlap_seconds: 10, client_name: 'c' }), jsonJunk),
        fc.constantFrom('admin', 'reader', 'junk', 'none'),
        fc.option(junk.map(asHeader)),
        async (r, rid, query, body, who, ifMatch) => {
          const path = `${ADMIN_API_PREFIX}${r.path.replace(/\{[^}]+\}/g, () => rid)}?${encodeForm(query)}`;
          const authorization = who === 'admin' ? `Bearer ${admin}` : who === 'reader' ? `Bearer ${reader}` : who === 'junk' ? `Bearer ${asHeader('x.y.z')}` : undefined;
          const headers: Record<string, string> = { ...(authorization ? { authorization } : {}), ...(ifMatch !== null ? { 'if-match': ifMatch } : {}) };
          const method = r.method.toUpperCase();
          const send = method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify(body) ?? 'null';
          await probe(srv, path, { method, body: send, type: send ? 'application/json' : undefined, headers, accept: 'application/json' }, `${method} ${path} as ${who} ${send?.slice(0, 200)}`);
        },
      ),
      runs(60),
    );
  }, FUZZ_TIMEOUT);

  it('the admin console, password reset and recovery links without a session: junk tokens, forms and queries', async () => {
    const target = fc.oneof(
      fc.constantFrom('/admin', '/admin/users', '/admin/clients', '/admin/audit', '/admin/approvals', '/admin/callback', '/password/forgot', '/account/verify-email', '/account/email', '/account/password', '/account/delete'),
      junk.map((j) => `/admin/users/${encodePart(j)}`),
      junk.map((j) => `/admin/clients/${encodePart(j)}`),
      token43.map((t) => `/password/reset/${t}`),
      token43.map((t) => `/recovery/cancel/${t}`),
      token43.map((t) => `/recovery/signin/${t}`),
    );
    await fc.assert(
      fc.asyncProperty(
        target,
        fc.constantFrom('GET', 'POST'),
        formOf({ email: 'someone@example.test', password: 'a new long passphrase', confirm: 'a new long passphrase', csrf: undefined, token: undefined, state: undefined, code: undefined }),
        async (path, method, form) => {
          const body = method === 'POST' ? encodeForm(form) : undefined;
          await probe(srv, method === 'GET' ? `${path}?${encodeForm(form)}` : path, { method, body, type: body !== undefined ? FORM : undefined }, `${method} ${path} ${JSON.stringify(form).slice(0, 200)}`);
        },
      ),
      runs(50),
    );
  }, FUZZ_TIMEOUT);

  it('the account lifecycle forms with and without CSRF', async () => {
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email });
    const csrf = hiddenField(account.body, 'csrf');
    const route = fc.oneof(
      fc.constantFrom('/account/email', '/account/password', '/account/delete', '/account/verify-email', '/account/verify-email/resend', '/account/sessions/end-all'),
      junk.map((j) => `/account/sessions/${encodePart(j)}/end`),
      junk.map((j) => `/account/recovery/${encodePart(j)}/cancel`),
    );
    await fc.assert(
      fc.asyncProperty(
        route,
        formOf({ csrf: 'REAL', email: 'new@example.test', password: 'x', current_password: 'x', new_password: 'y', confirm: 'y', token: undefined }),
        fc.boolean(),
        async (path, form, asJson) => {
          const withCsrf = Object.fromEntries(Object.entries(form).map(([k, v]) => [k, v === 'REAL' ? csrf : v]));
          const body = asJson ? JSON.stringify(withCsrf) : encodeForm(withCsrf);
          await probe(srv, path, { body, type: asJson ? 'application/json' : FORM, browser }, `POST ${path} ${body.slice(0, 200)}`);
        },
      ),
      runs(40),
    );
  }, FUZZ_TIMEOUT);
});
