/**
 * Who may use the admin console, and when. The console signs in through the provider like the account pages
 * (internal first-party client `stepwise-admin`, its own state cookie on /admin), and its client policy is
 * what "entering the console" means: loa2 — two factors of different kinds, or a user-verified passkey — with
 * every level capped at 15 minutes. The same policy is checked here against the SSO session's methods with
 * the one assurance rule (policy/requirement.ts), so the console can never accept what the sign-in would not
 * issue, and a stale session is sent through the step-up again.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Container } from '../../container.js';
import type { Config } from '../../config/index.js';
import type { ClientsRepo } from '../../store/repos/clients.js';
import type { User } from '../../store/repos/users.js';
import { currentSession, ensureInternalClient, redirectToSignIn, type InternalSignIn } from '../../account/session.js';
import { assuranceRequirement, decide, liveMethods } from '../../policy/requirement.js';
import type { ClientPolicy } from '../../policy/client-policy.js';
import { isAdmin } from './roles.js';

export const ADMIN_CLIENT_ID = 'stepwise-admin';
/** A two-factor sign-in within the last 15 minutes. */
export const ADMIN_MAX_AGE_SECONDS = 900;
export const ADMIN_POLICY: ClientPolicy = { min_acr: 'loa2', max_age_seconds: ADMIN_MAX_AGE_SECONDS, allow_lower_acr: false, enroll_on_unmet: false, remembered_devices: false };

export const ADMIN_SIGN_IN: InternalSignIn = { clientId: ADMIN_CLIENT_ID, callbackPath: '/admin/callback', cookie: 'stepwise_admin_login', cookiePath: '/admin' };

/** Internal clients are the IdP's own pages: the console shows them but never edits them. */
export const INTERNAL_CLIENT_IDS: ReadonlySet<string> = new Set(['stepwise-account', ADMIN_CLIENT_ID]);

export async function ensureAdminClient(clients: ClientsRepo, config: Config): Promise<void> {
  await ensureInternalClient(clients, config, { clientId: ADMIN_CLIENT_ID, name: 'Stepwise admin console', callbackPath: ADMIN_SIGN_IN.callbackPath, policy: ADMIN_POLICY });
}

export interface AdminSession {
  /** SSO session uid: the CSRF scope of the console's forms. */
  uid: string;
  user: User;
}

export type AdminAccess =
  | { kind: 'ok'; session: AdminSession }
  /** No SSO session (or its account is gone or disabled): sign in. */
  | { kind: 'sign_in' }
  /** An admin whose two-factor sign-in is missing or older than 15 minutes: step up. */
  | { kind: 'step_up' }
  | { kind: 'not_admin'; user: User }
  /** An admin without any second factor can never reach loa2: enroll one on /account first. */
  | { kind: 'no_second_factor'; user: User };

export async function adminAccess(c: Container, provider: Provider, ctx: Context): Promise<AdminAccess> {
  const s = await currentSession(provider, ctx);
  if (!s) return { kind: 'sign_in' };
  const user = await c.users.findById(s.accountId);
  if (!user || user.disabled) return { kind: 'sign_in' };
  if (!(await isAdmin(c.db, user.id))) return { kind: 'not_admin', user };
  const { factors } = await c.factorService.enrolled(user.id);
  if (factors.length === 0) return { kind: 'no_second_factor', user };
  const sctx = await c.sessionContexts.get(s.uid);
  if (!sctx || sctx.accountId !== user.id) return { kind: 'step_up' };
  const req = assuranceRequirement({ levels: c.levels, client: { stepwise_policy: ADMIN_POLICY }, params: {}, demands: [] });
  const methods = liveMethods(sctx.methods, new Set(factors.map((f) => f.id)));
  const decision = decide(req, methods, Math.floor(c.now() / 1000));
  return decision ? { kind: 'ok', session: { uid: s.uid, user } } : { kind: 'step_up' };
}

/** To the sign-in: a step-up forces a new authentication at loa2 within the console's max age. */
export function adminSignIn(c: Container, ctx: Context, returnTo: string, stepUp: boolean): void {
  redirectToSignIn(ctx, c.config.issuer, ADMIN_SIGN_IN, returnTo, {
    acr_values: 'loa2',
    max_age: String(ADMIN_MAX_AGE_SECONDS),
    ...(stepUp ? { prompt: 'login' } : {}),
  });
}
