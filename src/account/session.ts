/**
 * The account pages reuse the IdP's own SSO session (oidc-provider Session) and sign in through the
 * provider like any relying party (internal first-party client `stepwise-account`), so the same sign-in
 * and step-up rules apply to them.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
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

/** Creates or updates the internal client the account pages sign in with (redirect follows ISSUER). */
export async function ensureAccountClient(clients: ClientsRepo, config: Config): Promise<void> {
  const redirect = `${config.issuer}/account/callback`;
  const existing = await clients.find(ACCOUNT_CLIENT_ID);
  if (!existing) {
    // Several processes may start at once: a unique violation means another one created it.
    await clients.create({
      client_id: ACCOUNT_CLIENT_ID,
      first_party: true,
      client_name: 'Your Stepwise account',
      redirect_uris: [redirect],
      post_logout_redirect_uris: [`${config.issuer}/`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }).catch(async (err: unknown) => {
      if (!(await clients.find(ACCOUNT_CLIENT_ID))) throw err;
    });
  } else if (!(existing.redirect_uris as string[] | undefined)?.includes(redirect)) {
    await clients.updateMetadata(ACCOUNT_CLIENT_ID, { redirect_uris: [redirect], post_logout_redirect_uris: [`${config.issuer}/`] });
  }
}
