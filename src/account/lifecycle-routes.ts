/**
 * The account's own lifecycle on /account: confirm the e-mail address (and resend the link), change the
 * password, change the e-mail address, delete the account. Mounted on the account router by routes.ts, with
 * its session helpers (the same re-auth rule: a fresh sign-in at the account's level, within
 * REAUTH_WINDOW_SECONDS, for every change here).
 *
 * - Password change: current password + fresh sign-in; the new one passes validateNewPassword (length,
 *   common-password list, context words). Then every token of the account ends (users.tokens_valid_after),
 *   every OTHER session ends (c.userSessions, with back-channel logout), remembered devices are forgotten,
 *   and a notice goes to the address on file.
 * - E-mail change: the new address takes effect only once the link mailed to it is used.
 * - Delete: typing the address confirms; every session and token ends, the row goes (factors, codes and
 *   devices with it, ON DELETE CASCADE); the audit log keeps the event.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Container } from '../container.js';
import type { AccountSession } from './session.js';
import { AppError } from '../errors/index.js';
import { parseBody } from '../http/validate.js';
import { validateNewPassword } from '../security/password.js';
import { normaliseEmail } from '../store/repos/users.js';
import { ThrottledError } from '../security/rate-limit.js';

export interface AccountRouteKit {
  requireSession(ctx: Context): Promise<AccountSession>;
  requireFresh(s: AccountSession): Promise<void>;
  requiredLevel(userId: string): Promise<number>;
  loginRedirect(ctx: Context, opts: { reauth: boolean; level: number; returnTo: string }): void;
  done(ctx: Context, notice: string): void;
}

const csrfField = z.string().max(200);
const passwordForm = z.object({ csrf: csrfField, current_password: z.string().max(1024).default(''), new_password: z.string().max(1024).default('') });
const emailForm = z.object({ csrf: csrfField, email: z.string().trim().max(254).default('') });
const deleteForm = z.object({ csrf: csrfField, confirm_email: z.string().trim().max(254).default('') });
const tokenForm = z.object({ csrf: csrfField, token: z.string().max(100) });
const validEmail = z.email();

/** Attempts at the current password on the change form, per account (a fresh session already holds it). */
const CHANGE_TRIES_KEY = (userId: string) => `password-change:${userId}`;

export function lifecycleRoutes(router: Router, c: Container, kit: AccountRouteKit): void {
  const scope = (s: AccountSession) => `acct:${s.uid}`;

  /** Like the account page's guard, but comes back to the page that asked. */
  async function guarded(ctx: Context, returnTo: string, fn: () => Promise<void>) {
    try {
      await fn();
    } catch (err) {
      if (err instanceof AppError && (err.code === 'not_authenticated' || err.code === 'reauth_required')) {
        const s = err.code === 'reauth_required' ? await kit.requireSession(ctx).catch(() => null) : null;
        return kit.loginRedirect(ctx, { reauth: s !== null, level: s ? await kit.requiredLevel(s.accountId) : 1, returnTo });
      }
      throw err;
    }
  }

  async function signedInUser(s: AccountSession) {
    const user = await c.users.findById(s.accountId);
    if (!user || user.disabled) throw new AppError('not_authenticated');
    return user;
  }

  async function page(ctx: Context, name: string, title: string, model: Record<string, unknown>, status = 200) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await c.views.render(name, { title, ...model });
  }

  // ---- e-mail verification (no session needed: the link is opened wherever the mail is read) ----

  const invalidLink = (ctx: Context) =>
    page(ctx, 'account/verify-email', 'Confirm your e-mail address', { state: 'invalid' }, 400);

  router.get('/verify-email', async (ctx) => {
    const found = await c.emailVerification.peek(ctx.query.token);
    if (!found) return invalidLink(ctx);
    const token = String(ctx.query.token);
    await page(ctx, 'account/verify-email', 'Confirm your e-mail address', {
      state: 'confirm',
      email: found.data.email,
      change: Boolean(found.data.from),
      token,
      csrf: c.csrf.token(`verify:${token}`),
    });
  });

  router.post('/verify-email', async (ctx) => {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const parsed = tokenForm.safeParse(body);
    if (!parsed.success) return invalidLink(ctx);
    c.csrf.assert(`verify:${parsed.data.token}`, parsed.data.csrf);
    const result = await c.emailVerification.confirm(parsed.data.token, ctx.ip);
    if (!result) return invalidLink(ctx);
    await page(ctx, 'account/verify-email', 'Confirm your e-mail address', { state: result.change ? 'changed' : 'verified', email: result.email });
  });

  router.post('/verify-email/resend', async (ctx) =>
    guarded(ctx, '/account', async () => {
      const s = await kit.requireSession(ctx);
      const body = parseBody(z.object({ csrf: csrfField }).passthrough(), ctx.request.body);
      c.csrf.assert(scope(s), body.csrf);
      const user = await signedInUser(s);
      if (user.emailVerified) return kit.done(ctx, 'Your e-mail address is already confirmed');
      await c.throttles.verifyEmailAccount.consume(user.id);
      const outcome = await c.emailVerification.send(user, { ip: ctx.ip });
      kit.done(ctx, outcome === 'sent' ? `We sent a new link to ${user.email}` : 'E-mail cannot be sent right now. Try again later.');
    }),
  );

  // ---- password change ----

  async function passwordPage(ctx: Context, s: AccountSession, error: AppError | null = null) {
    await page(ctx, 'account/password', 'Change your password', { csrf: c.csrf.token(scope(s)), minLength: c.config.password.minLength, error: error ? { message: error.publicMessage, field: error.field } : null }, error ? error.status : 200);
  }

  router.get('/password', async (ctx) =>
    guarded(ctx, '/account/password', async () => {
      const s = await kit.requireSession(ctx);
      await kit.requireFresh(s);
      await passwordPage(ctx, s);
    }),
  );

  router.post('/password', async (ctx) =>
    guarded(ctx, '/account/password', async () => {
      const s = await kit.requireSession(ctx);
      const body = parseBody(passwordForm, ctx.request.body);
      c.csrf.assert(scope(s), body.csrf);
      await kit.requireFresh(s);
      const user = await signedInUser(s);
      try {
        await changePassword(c, user, s, body.current_password, body.new_password, ctx.ip);
      } catch (err) {
        if (err instanceof AppError && (err.code === 'invalid_form' || err.code === 'invalid_credentials' || err instanceof ThrottledError)) return passwordPage(ctx, s, err);
        throw err;
      }
      kit.done(ctx, 'Password changed. Your other sessions were signed out.');
    }),
  );

  // ---- e-mail change ----

  async function emailPage(ctx: Context, s: AccountSession, extra: Record<string, unknown> = {}, status = 200) {
    const user = await signedInUser(s);
    await page(ctx, 'account/email', 'Change your e-mail address', { csrf: c.csrf.token(scope(s)), current: user.email, sentTo: null, error: null, value: '', ...extra }, status);
  }

  router.get('/email', async (ctx) =>
    guarded(ctx, '/account/email', async () => {
      const s = await kit.requireSession(ctx);
      await kit.requireFresh(s);
      await emailPage(ctx, s);
    }),
  );

  router.post('/email', async (ctx) =>
    guarded(ctx, '/account/email', async () => {
      const s = await kit.requireSession(ctx);
      const body = parseBody(emailForm, ctx.request.body);
      c.csrf.assert(scope(s), body.csrf);
      await kit.requireFresh(s);
      const user = await signedInUser(s);
      const fail = (message: string) => emailPage(ctx, s, { error: { message, field: 'email' }, value: body.email }, 400);
      if (!validEmail.safeParse(body.email).success) return fail('Enter a valid e-mail address.');
      const email = normaliseEmail(body.email);
      if (email === user.email) return fail('That is already your address.');
      if (c.config.mail.transport === 'off') return fail('E-mail cannot be sent from this server, so the address cannot be confirmed. Ask your administrator.');
      await c.throttles.verifyEmailAccount.consume(user.id);
      // The same answer whether or not another account uses the address (no enumeration); it is then not
      // sent a link, and the change could not take effect anyway.
      const taken = await c.users.findByEmail(email);
      if (taken) await c.audit.record({ type: 'email.change_requested', outcome: 'failure', userId: user.id, ip: ctx.ip, details: { reason: 'address_in_use' } });
      else {
        await c.audit.record({ type: 'email.change_requested', outcome: 'success', userId: user.id, ip: ctx.ip });
        await c.emailVerification.send(user, { newEmail: email, ip: ctx.ip });
      }
      await emailPage(ctx, s, { sentTo: email });
    }),
  );

  // ---- delete the account ----

  router.get('/delete', async (ctx) =>
    guarded(ctx, '/account/delete', async () => {
      const s = await kit.requireSession(ctx);
      await kit.requireFresh(s);
      const user = await signedInUser(s);
      await page(ctx, 'account/delete', 'Delete your account', { csrf: c.csrf.token(scope(s)), email: user.email, error: null });
    }),
  );

  router.post('/delete', async (ctx) =>
    guarded(ctx, '/account/delete', async () => {
      const s = await kit.requireSession(ctx);
      const body = parseBody(deleteForm, ctx.request.body);
      c.csrf.assert(scope(s), body.csrf);
      await kit.requireFresh(s);
      const user = await signedInUser(s);
      if (normaliseEmail(body.confirm_email) !== user.email) {
        return page(ctx, 'account/delete', 'Delete your account', { csrf: c.csrf.token(scope(s)), email: user.email, error: { message: 'Type your e-mail address exactly to confirm.', field: 'confirm_email' } }, 400);
      }
      await deleteAccount(c, user.id, ctx.ip);
      await page(ctx, 'account/deleted', 'Account deleted', {});
    }),
  );
}

/** The password change itself (after the route checked CSRF and freshness). Throws AppError for the form. */
export async function changePassword(c: Container, user: { id: string; email: string; name: string | null; passwordHash: string }, s: AccountSession, current: string, next: string, ip: string): Promise<void> {
  await c.throttles.factorAccount.consume(CHANGE_TRIES_KEY(user.id));
  if (!(await c.hasher.verify(user.passwordHash, current))) {
    await c.audit.record({ type: 'password.changed', outcome: 'failure', userId: user.id, ip, details: { reason: 'wrong_current_password' } });
    throw new AppError('invalid_credentials', 'Your current password is not correct.', 'current_password');
  }
  await c.throttles.factorAccount.reset(CHANGE_TRIES_KEY(user.id));
  const problem = validateNewPassword(next, c.config.password, { email: user.email, name: user.name, productName: c.config.webauthn.rpName });
  if (problem) throw new AppError('invalid_form', problem, 'new_password');
  if (await c.hasher.verify(user.passwordHash, next)) throw new AppError('invalid_form', 'Choose a password different from your current one.', 'new_password');
  const hash = await c.hasher.hash(next);
  const now = c.now();
  const devicesForgotten = await c.db.transaction(async (trx) => {
    await c.users.setPasswordHash(user.id, hash, now, trx);
    // Every refresh token and grant of the account dies; this browser's SSO session stays signed in.
    await c.users.endTokens(user.id, now, trx);
    return c.devices.forget(user.id, undefined, trx);
  });
  const { ended } = await c.userSessions.endAll(user.id, { reason: 'password_changed', exceptSessionUid: s.uid });
  await c.audit.record({ type: 'password.changed', outcome: 'success', userId: user.id, ip, details: { sessionsEnded: ended, devicesForgotten } });
  await c.notices.send(user.id, 'password_changed', { ip, at: now });
}

/** Ends every session and token of the account, then deletes it. Audited before the row goes. */
export async function deleteAccount(c: Container, userId: string, ip: string): Promise<void> {
  const { ended } = await c.userSessions.endAll(userId, { reason: 'account_deleted' });
  await c.audit.record({ type: 'user.deleted', outcome: 'success', userId, ip, details: { by: 'self', sessionsEnded: ended } });
  await c.db.transaction(async (trx) => {
    await c.users.endTokens(userId, c.now(), trx);
    await c.users.delete(userId, trx);
  });
}
