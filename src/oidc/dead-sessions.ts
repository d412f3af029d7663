/**
 * Before an authorization request (or its resume), an SSO session whose account was disabled or deleted is
 * ended, so the request proceeds as signed-out (login page, or login_required for prompt=none) instead of
 * failing inside oidc-provider, which requires findAccount to resolve the session's account.
 */
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { UsersRepo } from '../store/repos/users.js';

export function endSessionsOfDisabledAccounts(provider: Provider, users: UsersRepo) {
  async function endIfDead(ctx: Context, next: Next) {
    const session = await provider.Session.get(ctx);
    if (session.accountId) {
      const user = await users.findById(session.accountId);
      if (!user || user.disabled) await session.destroy();
    }
    return next();
  }
  // Only authorization requests are looked at; every other request passes straight through.
  return function endDeadSessions(ctx: Context, next: Next) {
    const authorization = (ctx.method === 'GET' || ctx.method === 'POST') && (ctx.path === '/auth' || ctx.path.startsWith('/auth/'));
    return authorization ? endIfDead(ctx, next) : next();
  };
}
