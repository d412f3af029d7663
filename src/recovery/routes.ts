/**
 * The user's recovery pages. Each mailed link opens a confirmation page first and acts only on its POST
 * (mail scanners follow GET links):
 *   GET/POST /recovery/cancel/:token   cancel a pending recovery (the link of the 'recovery_started' notice)
 *   GET/POST /recovery/signin/:token   finish an effective one: the old factors go, then sign in with the
 *                                      password and enroll a new second factor before anything else
 *   POST /account/recovery/:id/cancel  cancel from /account, signed in with any factor the user still has
 * Every refusal (malformed, tampered, spent, expired link; a recovery no longer pending) is one clear page
 * that changes nothing.
 */
import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Container } from '../container.js';
import { AppError } from '../errors/index.js';
import { ACCOUNT_SIGN_IN, currentSession, redirectToSignIn } from '../account/session.js';
import { cancelRecovery, cancelWithLink, recoveryBehindLink, useSigninLink, utc } from './service.js';
import type { RecoveryStatus } from './timeline.js';

const scopeOf = (kind: string, token: string) => `recovery-${kind}:${createHash('sha256').update(token).digest('base64url')}`;

/** Why a link cannot be used, in words (the recovery's status when one is behind it). */
function refusal(status: RecoveryStatus | null, kind: 'cancel' | 'signin'): string {
  switch (status) {
    case 'cancelled':
      return 'This recovery was cancelled. Nothing else changes.';
    case 'pending':
      return 'This recovery is not effective yet. You will receive another e-mail when it is.';
    case 'effective':
    case 'used':
    case 'completed':
      return kind === 'cancel'
        ? 'This recovery has already taken effect and can no longer be cancelled here. If you did not ask for it, contact your administrator at once.'
        : 'This link was already used. Sign in with your password to continue.';
    case 'expired':
      return 'This recovery expired before it was finished. Ask your administrator to start a new one.';
    default:
      return 'This link is not valid: it may be mistyped, already used or expired. Nothing was changed.';
  }
}

export function recoveryRoutes(c: Container, provider: Provider): Router {
  const router = new Router();

  const message = async (ctx: Context, status: number, title: string, text: string, next?: { href: string; label: string }) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = await c.views.render('recovery-message', { title, text, next: next ?? null });
  };

  const refuse = async (ctx: Context, kind: 'cancel' | 'signin', status: RecoveryStatus | null) => {
    await c.audit.record({ type: kind === 'cancel' ? 'recovery.cancelled' : 'recovery.used', outcome: 'failure', ip: ctx.ip, details: { reason: status ? `status_${status}` : 'invalid_link', via: 'link' } });
    return message(ctx, 400, 'This link cannot be used', refusal(status, kind));
  };

  router.get('/recovery/cancel/:token', async (ctx) => {
    const token = ctx.params.token!;
    const behind = await recoveryBehindLink(c, 'recovery_cancel', token);
    if (!behind || behind.status !== 'pending') return refuse(ctx, 'cancel', behind?.status ?? null);
    ctx.type = 'html';
    ctx.body = await c.views.render('recovery-cancel', {
      title: 'Cancel the account recovery',
      csrf: c.csrf.token(scopeOf('cancel', token)),
      action: `/recovery/cancel/${token}`,
      startedAt: utc(behind.record.createdAt),
      effectiveAt: utc(behind.record.effectiveAt),
    });
  });

  router.post('/recovery/cancel/:token', async (ctx) => {
    const token = ctx.params.token!;
    const behind = await recoveryBehindLink(c, 'recovery_cancel', token);
    if (!behind || behind.status !== 'pending') return refuse(ctx, 'cancel', behind?.status ?? null);
    c.csrf.assert(scopeOf('cancel', token), (ctx.request.body as Record<string, unknown> | undefined)?.csrf);
    const done = await cancelWithLink(c, token, ctx.ip).catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'conflict') return null;
      throw err;
    });
    if (!done) return refuse(ctx, 'cancel', (await recoveryBehindLink(c, 'recovery_cancel', token))?.status ?? null);
    return message(ctx, 200, 'Recovery cancelled', 'The account recovery was cancelled; your sign-in methods stay as they are. If you did not ask for it, someone may be trying to take over your account: change your password and tell your administrator.', { href: '/account', label: 'Go to your account' });
  });

  router.get('/recovery/signin/:token', async (ctx) => {
    const token = ctx.params.token!;
    const behind = await recoveryBehindLink(c, 'recovery_signin', token);
    if (!behind || behind.status !== 'effective') return refuse(ctx, 'signin', behind?.status ?? null);
    ctx.type = 'html';
    ctx.body = await c.views.render('recovery-signin', {
      title: 'Finish the account recovery',
      csrf: c.csrf.token(scopeOf('signin', token)),
      action: `/recovery/signin/${token}`,
      startedAt: utc(behind.record.createdAt),
    });
  });

  router.post('/recovery/signin/:token', async (ctx) => {
    const token = ctx.params.token!;
    const behind = await recoveryBehindLink(c, 'recovery_signin', token);
    if (!behind || behind.status !== 'effective') return refuse(ctx, 'signin', behind?.status ?? null);
    c.csrf.assert(scopeOf('signin', token), (ctx.request.body as Record<string, unknown> | undefined)?.csrf);
    const used = await useSigninLink(c, token, ctx.ip);
    if (!used) return refuse(ctx, 'signin', (await recoveryBehindLink(c, 'recovery_signin', token))?.status ?? null);
    await c.notices.send(used.userId, 'recovery_effective', { ip: ctx.ip, at: c.now() });
    // A normal sign-in (password); the enforcement gate then requires a new second factor first.
    redirectToSignIn(ctx, c.config.issuer, ACCOUNT_SIGN_IN, '/account', { prompt: 'login', login_hint: used.email });
  });

  router.post('/account/recovery/:id/cancel', async (ctx) => {
    const s = await currentSession(provider, ctx);
    if (!s) throw new AppError('not_authenticated');
    c.csrf.assert(`acct:${s.uid}`, (ctx.request.body as Record<string, unknown> | undefined)?.csrf);
    await cancelRecovery(c, { id: ctx.params.id!, by: 'user', userId: s.accountId, via: 'account', ip: ctx.ip });
    ctx.redirect(`/account?notice=${encodeURIComponent('Recovery cancelled')}`);
  });

  return router;
}
