/**
 * The demo relying party and API served by `npm start` in embedded mode (/demo). It signs in with the seeded
 * demo client (code + PKCE), shows the ID token's acr/amr/auth_time, and has a "sensitive action" whose API
 * demands loa2-or-better within 5 minutes through the RFC 9470 helper — so step-up can be tried by hand.
 * docs/relying-parties.md quotes this file; test/integration/stepup.test.ts runs it.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { createHash } from 'node:crypto';
import type { Container } from '../container.js';
import { DEMO } from '../seed.js';
import { parseStepUpChallenge, requireAuthentication, type TokenAuthentication } from '../rs/index.js';
import { rsLevels } from '../policy/levels.js';
import { constantTimeEqual, randomToken } from '../security/crypto.js';
import { AppError } from '../errors/index.js';

const COOKIE = 'stepwise_demo';
/** What the demo API's sensitive route needs (RFC 9470): loa2 or better, authenticated in the last 5 minutes. */
export const SENSITIVE_REQUIREMENT = { acrValues: ['loa2', 'phr'], maxAge: 300 };

interface DemoState {
  pending?: { state: string; verifier: string; nonce: string; then?: 'sensitive' };
  accessToken?: string;
  claims?: Record<string, unknown>;
  lastResult?: string;
}

const decodeJwt = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

export function demoRoutes(c: Container): Router {
  const router = new Router({ prefix: '/demo' });
  const issuer = c.config.issuer;
  const redirectUri = `${issuer}/demo/callback`;
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(DEMO.clientId)}:${encodeURIComponent(DEMO.clientSecret)}`).toString('base64')}`;

  async function load(ctx: Context): Promise<{ id: string; state: DemoState }> {
    let id = ctx.cookies.get(COOKIE, { signed: true });
    const raw = id ? await c.kv.get(`demo:${id}`) : null;
    if (!id || !raw) {
      id = randomToken(16);
      ctx.cookies.set(COOKIE, id, { signed: true, httpOnly: true, secure: ctx.secure, sameSite: 'lax', path: '/demo', overwrite: true });
    }
    return { id, state: raw ? (JSON.parse(raw) as DemoState) : {} };
  }
  const save = (id: string, state: DemoState) => c.kv.set(`demo:${id}`, JSON.stringify(state), 3600);

  // --- The demo API (resource server): RFC 9470 step-up challenge via the exported helper. ---
  const introspect = async (token: string): Promise<TokenAuthentication | null> => {
    const res = await fetch(`${issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    return res.ok ? ((await res.json()) as TokenAuthentication) : null;
  };
  router.get('/api/transfer', requireAuthentication(SENSITIVE_REQUIREMENT, { introspect, now: c.now, ...rsLevels(c.levels) }), async (ctx) => {
    const token = ctx.state.token as TokenAuthentication;
    ctx.body = { ok: true, transferred: '100.00 EUR', acr: token.acr, auth_time: token.auth_time };
  });

  // --- The demo relying party. ---
  async function startLogin(ctx: Context, extra: Record<string, string>, then?: 'sensitive') {
    const { id, state } = await load(ctx);
    const pending = { state: randomToken(16), verifier: randomToken(32), nonce: randomToken(16), then };
    await save(id, { ...state, pending });
    const params = new URLSearchParams({
      client_id: DEMO.clientId,
      response_type: 'code',
      scope: 'openid email profile',
      redirect_uri: redirectUri,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: createHash('sha256').update(pending.verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...extra,
    });
    ctx.redirect(`/auth?${params}`);
  }

  /** Calls the API; on an RFC 9470 challenge, re-authorizes with exactly what the challenge asks for. */
  async function sensitiveAction(ctx: Context, id: string, state: DemoState) {
    const res = await fetch(`${issuer}/demo/api/transfer`, { headers: { authorization: `Bearer ${state.accessToken}` } });
    if (res.status === 401) {
      const challenge = parseStepUpChallenge(res.headers.get('www-authenticate'));
      if (challenge.error === 'insufficient_user_authentication') {
        const extra: Record<string, string> = {};
        if (challenge.acrValues) extra.acr_values = challenge.acrValues;
        if (challenge.maxAge !== undefined) extra.max_age = String(challenge.maxAge);
        return startLogin(ctx, extra, 'sensitive');
      }
      return startLogin(ctx, {});
    }
    await save(id, { ...state, lastResult: JSON.stringify(await res.json()) });
    ctx.redirect('/demo');
  }

  router.get('/', async (ctx) => {
    const { id, state } = await load(ctx);
    ctx.type = 'html';
    ctx.body = await c.views.render('demo/index', {
      title: 'Demo application',
      claims: state.claims ?? null,
      result: state.lastResult ?? null,
      unmet: state.lastResult?.includes('unmet_authentication_requirements') ?? false,
      csrf: c.box.mac(id, 'demo-csrf'),
      requirement: SENSITIVE_REQUIREMENT,
    });
  });

  router.get('/login', async (ctx) => {
    const extra: Record<string, string> = {};
    if (typeof ctx.query.acr_values === 'string') extra.acr_values = ctx.query.acr_values.slice(0, 200);
    await startLogin(ctx, extra);
  });

  router.get('/callback', async (ctx) => {
    const { id, state } = await load(ctx);
    const pending = state.pending;
    const returned = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    if (!pending || !constantTimeEqual(pending.state, returned)) throw new AppError('invalid_request', 'This sign-in response does not belong to this browser.');
    if (typeof ctx.query.error === 'string') {
      await save(id, { ...state, pending: undefined, lastResult: JSON.stringify({ error: ctx.query.error }) });
      return ctx.redirect('/demo');
    }
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: String(ctx.query.code ?? ''), redirect_uri: redirectUri, code_verifier: pending.verifier }),
    });
    if (!res.ok) throw new AppError('invalid_request', 'The demo could not redeem the authorization code.');
    const tokens = (await res.json()) as { access_token: string; id_token: string };
    // The ID token came straight from the token endpoint over the back channel (OIDC Core §3.1.3.7).
    const claims = decodeJwt(tokens.id_token);
    if (claims.nonce !== pending.nonce || claims.iss !== issuer) throw new AppError('invalid_request', 'ID token mismatch.');
    // Profile claims (email) come from userinfo; the ID token carries the authentication claims.
    const userinfo = await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    const profile = userinfo.ok ? ((await userinfo.json()) as Record<string, unknown>) : {};
    const next: DemoState = { accessToken: tokens.access_token, claims: { ...profile, ...claims }, lastResult: state.lastResult };
    await save(id, next);
    if (pending.then === 'sensitive') return sensitiveAction(ctx, id, next);
    ctx.redirect('/demo');
  });

  /** The demo's forms carry a token bound to the demo session id. */
  function assertCsrf(ctx: Context, id: string) {
    const csrf = (ctx.request.body as { csrf?: unknown } | undefined)?.csrf;
    if (typeof csrf !== 'string' || !constantTimeEqual(csrf, c.box.mac(id, 'demo-csrf'))) throw new AppError('csrf_failed');
  }

  router.post('/sensitive', async (ctx) => {
    const { id, state } = await load(ctx);
    assertCsrf(ctx, id);
    if (!state.accessToken) return startLogin(ctx, {});
    await sensitiveAction(ctx, id, state);
  });

  router.post('/logout', async (ctx) => {
    const { id } = await load(ctx);
    assertCsrf(ctx, id);
    await c.kv.del(`demo:${id}`);
    ctx.redirect('/demo');
  });

  return router;
}
