/**
 * The account pages reuse the IdP's own SSO session (oidc-provider Session) and sign in through the
 * provider like any relying party (internal first-party client `stepwise-account`), so the same sign-in
 * and step-up rules apply to them.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { createHash } from 'node:crypto';
import { AppError } from '../errors/index.js';
import { constantTimeEqual, randomToken } from '../security/crypto.js';
import type { Config } from '../config/index.js';
import type { ClientsRepo } from '../store/repos/clients.js';
import type { LevelRule } from '../policy/levels.js';

export const ACCOUNT_CLIENT_ID = 'stepwise-account';

export interface AccountSession {
  uid: string;
  accountId: string;
  acr: string | undefined;
  loginTs: number;
}

export async function currentSession(provider: Provider, ctx: Context): Promise<AccountSession | null> {
  const session = await provider.Session.get(ctx);
  if (!session?.accountId || !session.loginTs) return null;
  return { uid: session.uid, accountId: session.accountId, acr: session.acr, loginTs: session.loginTs };
}

/** Fresh = authenticated within the re-auth window, at `minLevel` or above. */
export function isFresh(s: AccountSession, levels: LevelRule[], minLevel: number, windowSeconds: number, nowMs: number): boolean {
  const level = levels.find((l) => l.acr === s.acr)?.level ?? 0;
  return level >= minLevel && s.loginTs >= Math.floor(nowMs / 1000) - windowSeconds;
}

/** How one of the IdP's own page sets signs in through the provider: its client, callback and state cookie. */
export interface InternalSignIn {
  clientId: string;
  callbackPath: string;
  cookie: string;
  cookiePath: string;
}

export const ACCOUNT_SIGN_IN: InternalSignIn = { clientId: ACCOUNT_CLIENT_ID, callbackPath: '/account/callback', cookie: 'stepwise_account_login', cookiePath: '/account' };

/** Sends the browser to /auth as the internal client (code + PKCE; state and return address in a signed cookie). */
export function redirectToSignIn(ctx: Context, issuer: string, spec: InternalSignIn, returnTo: string, params: Record<string, string> = {}): void {
  const state = randomToken(16);
  const verifier = randomToken(32);
  ctx.cookies.set(spec.cookie, JSON.stringify({ state, returnTo }), {
    signed: true, httpOnly: true, secure: ctx.secure, sameSite: 'lax', maxAge: 10 * 60 * 1000, path: spec.cookiePath, overwrite: true,
  });
  const query = new URLSearchParams({
    client_id: spec.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: `${issuer}${spec.callbackPath}`,
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...params,
  });
  ctx.redirect(`/auth?${query}`);
}

/**
 * The callback: checks the state against this browser's cookie (and clears it). Returns the saved return
 * address (the caller sanitises it) and the provider's error, if any. The pages trust the SSO session
 * itself; the code is left to expire unused.
 */
export function readSignInCallback(ctx: Context, spec: InternalSignIn): { returnTo: unknown; error: string | undefined } {
  const raw = ctx.cookies.get(spec.cookie, { signed: true });
  ctx.cookies.set(spec.cookie, null, { path: spec.cookiePath });
  let saved: { state?: string; returnTo?: string } = {};
  try {
    saved = raw ? (JSON.parse(raw) as typeof saved) : {};
  } catch {
    saved = {};
  }
  const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
  if (!saved.state || !constantTimeEqual(saved.state, state)) throw new AppError('invalid_request', 'This sign-in response does not match a request from this browser.');
  return { returnTo: saved.returnTo, error: typeof ctx.query.error === 'string' ? ctx.query.error : undefined };
}

/** Creates or updates the internal client the account pages sign in with (redirect follows ISSUER). */
export async function ensureAccountClient(clients: ClientsRepo, config: Config): Promise<void> {
  await ensureInternalClient(clients, config, { clientId: ACCOUNT_CLIENT_ID, name: 'Your Stepwise account', callbackPath: ACCOUNT_SIGN_IN.callbackPath });
}

/**
 * An internal first-party client of the IdP's own pages (account, admin console): created once, its redirect
 * kept on ISSUER and its `policy` (when given) kept as the code says, whatever the database was edited to.
 */
export async function ensureInternalClient(
  clients: ClientsRepo,
  config: Config,
  spec: { clientId: string; name: string; callbackPath: string; policy?: Record<string, unknown> },
): Promise<void> {
  const redirect = `${config.issuer}${spec.callbackPath}`;
  const policy = spec.policy ? { stepwise_policy: spec.policy } : {};
  const existing = await clients.find(spec.clientId);
  if (!existing) {
    // Several processes may start at once: a unique violation means another one created it.
    await clients.create({
      client_id: spec.clientId,
      first_party: true,
      client_name: spec.name,
      redirect_uris: [redirect],
      post_logout_redirect_uris: [`${config.issuer}/`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...policy,
    }).catch(async (err: unknown) => {
      if (!(await clients.find(spec.clientId))) throw err;
    });
  } else if (
    !(existing.redirect_uris as string[] | undefined)?.includes(redirect) ||
    (spec.policy && JSON.stringify(existing.stepwise_policy) !== JSON.stringify(spec.policy))
  ) {
    await clients.updateMetadata(spec.clientId, { redirect_uris: [redirect], post_logout_redirect_uris: [`${config.issuer}/`], ...policy });
  }
}
