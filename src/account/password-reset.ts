/**
 * Password reset by e-mail: GET/POST /password/forgot and GET/POST /password/reset/:token.
 *
 * - No enumeration: the "forgot" request does the same work whatever the address: CSRF, both throttles
 *   (per IP and per address, counted for unknown addresses too), then it hands the address to a background
 *   queue and answers one fixed page. Looking the user up, issuing the link and talking to SMTP all happen
 *   after the response, so neither the body nor the timing says whether the address exists.
 * - The link is single-use (c.links, atomic redeem), valid 30 minutes, and bound to the password it
 *   replaces (a MAC of the current hash): once the password changes by any way, every older link is dead.
 * - A reset only sets the password (argon2id, the shared new-password rules). It never signs the user in and
 *   never touches second factors: a user with TOTP is asked for it at the next sign-in as always. Every
 *   SSO session (with back-channel logout), every token (users.tokens_valid_after) and every remembered
 *   device ends; the user gets the 'password_reset' notice; every step is audited.
 * - Expired, reused, malformed or tampered links all get the same page, and change nothing.
 */
import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Container } from '../container.js';
import { AppError } from '../errors/index.js';
import { parseBody } from '../http/validate.js';
import { constantTimeEqual, randomToken } from '../security/crypto.js';
import { validateNewPassword } from '../security/password.js';
import { ThrottledError } from '../security/rate-limit.js';
import { normaliseEmail } from '../store/repos/users.js';
import { requestLocale } from '../i18n/context.js';

export const RESET_LINK_TTL_SECONDS = 30 * 60;
/** Requests waiting for the background queue; beyond this, requests are dropped (and logged), never blocked. */
const MAX_QUEUED = 200;
const FORM_COOKIE = 'stepwise_password_form';
const FORM_COOKIE_SHAPE = /^[A-Za-z0-9_-]{22}$/;
/** Where the sign-in page came from: an interaction to return to after the reset (nothing else is kept). */
const RETURN_SHAPE = /^\/interaction\/[A-Za-z0-9_-]{1,64}$/;

interface ResetLinkData {
  /** MAC of the password hash the link replaces. */
  pw: string;
  returnTo: string | null;
}

const forgotForm = z.object({
  csrf: z.string().max(200),
  email: z.string().trim().min(1, 'Enter your email address').max(320, 'At most 320 characters').email('Enter a valid email address'),
  return_to: z.string().max(100).optional(),
});
const resetForm = z.object({ csrf: z.string().max(200), password: z.string().max(4096), confirm: z.string().max(4096) });

const safeReturn = (v: unknown): string | null => (typeof v === 'string' && RETURN_SHAPE.test(v) ? v : null);

/** Runs jobs after the response; a bounded set, never awaited by the request. */
class BackgroundQueue {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly onError: (err: unknown) => void) {}

  push(job: () => Promise<void>): boolean {
    if (this.running.size >= MAX_QUEUED) return false;
    const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(job)
      .catch(this.onError)
      .finally(() => this.running.delete(p));
    this.running.add(p);
    return true;
  }
}

export class PasswordResets {
  private readonly queue: BackgroundQueue;

  constructor(private readonly c: Container) {
    this.queue = new BackgroundQueue((err) => c.log.error({ err: (err as Error).message }, 'password reset: background job failed'));
  }

  /** The store's TTL ends the link too; this holds it to our clock (one rule on every store). */
  private expired(issuedAt: number): boolean {
    return !(this.c.now() - issuedAt < RESET_LINK_TTL_SECONDS * 1000);
  }

  private fingerprint(passwordHash: string): string {
    return this.c.box.mac(passwordHash, 'password reset link');
  }

  /**
   * "Forgot password": counts the request on both throttles (the address lower-cased and MACed, so the
   * counter store holds no address), then queues the lookup and the mail. Returns nothing the caller could
   * tell addresses apart by. Throws ThrottledError when over a limit.
   */
  async request(rawEmail: string, meta: { ip: string; returnTo: string | null }): Promise<void> {
    const email = normaliseEmail(rawEmail);
    await this.c.throttles.passwordResetIp.consume(meta.ip);
    await this.c.throttles.passwordResetAddress.consume(this.c.box.mac(email, 'password reset address'));
    if (!this.queue.push(() => this.sendLink(email, meta))) this.c.log.warn('password reset: queue full, request dropped');
  }

  /**
   * The background half of a request: the user, the link, the mail (the audit says which happened). Also
   * what an admin's "reset password" sends (src/admin/users.ts): admins start a reset, never set a password.
   */
  async sendLink(email: string, meta: { ip: string; returnTo: string | null }): Promise<void> {
    const { c } = this;
    const user = await c.users.findByEmail(email);
    if (!user || user.disabled) {
      await c.audit.record({ type: 'password.reset_requested', outcome: 'failure', ip: meta.ip, details: { email, reason: user ? 'disabled' : 'unknown_address' } });
      return;
    }
    const data: ResetLinkData = { pw: this.fingerprint(user.passwordHash), returnTo: meta.returnTo };
    const token = await c.links.issue('reset_password', user.id, data, RESET_LINK_TTL_SECONDS);
    try {
      await c.mailer.send({
        to: user.email,
        template: 'password-reset',
        vars: { userName: user.name, resetUrl: `${c.config.issuer}/password/reset/${token}`, expiresIn: '30 minutes', ip: meta.ip, when: c.now() },
        userLocale: user.locale,
      });
    } catch (err) {
      await c.links.revoke('reset_password', token);
      await c.audit.record({ type: 'password.reset_requested', outcome: 'failure', userId: user.id, ip: meta.ip, details: { reason: 'mail_failed' } });
      throw err;
    }
    await c.audit.record({ type: 'password.reset_requested', outcome: 'success', userId: user.id, ip: meta.ip });
  }

  /** The user behind a link that can still be used (not spent, not expired, password unchanged), or null. */
  async check(token: unknown): Promise<{ userId: string; email: string; name: string | null; returnTo: string | null } | null> {
    const grant = await this.c.links.peek<ResetLinkData>('reset_password', token);
    if (!grant || this.expired(grant.issuedAt)) return null;
    const user = await this.c.users.findById(grant.userId);
    if (!user || user.disabled || typeof grant.data.pw !== 'string' || !constantTimeEqual(grant.data.pw, this.fingerprint(user.passwordHash))) return null;
    return { userId: user.id, email: user.email, name: user.name, returnTo: safeReturn(grant.data.returnTo) };
  }

  /**
   * Sets the new password with the link: spends the link (atomically: one of two parallel posts wins), then
   * replaces the hash only if the password is still the one the link was issued for. Ends every session,
   * token and remembered device. Returns null (nothing changed) when the link is not valid.
   */
  async complete(token: unknown, password: string, ip: string): Promise<{ userId: string; returnTo: string | null } | null> {
    const { c } = this;
    const grant = await c.links.redeem<ResetLinkData>('reset_password', token);
    if (!grant || this.expired(grant.issuedAt)) return null;
    const before = await c.users.findById(grant.userId);
    if (!before || before.disabled || typeof grant.data.pw !== 'string') return null;
    const hash = await c.hasher.hash(password);
    const now = c.now();
    const changed = await c.db.transaction(async (trx) => {
      const current = await trx('users').where({ id: before.id }).first('password_hash');
      if (!current || !constantTimeEqual(grant.data.pw, this.fingerprint(String(current.password_hash)))) return false;
      await trx('users').where({ id: before.id }).update({ password_hash: hash, updated_at: now });
      await c.users.endTokens(before.id, now, trx);
      await c.devices.forget(before.id, undefined, trx);
      return true;
    });
    if (!changed) return null;
    const { ended } = await c.userSessions.endAll(before.id, { reason: 'password_reset' });
    await c.audit.record({ type: 'password.reset', outcome: 'success', userId: before.id, ip, details: { sessionsEnded: ended } });
    await c.notices.send(before.id, 'password_reset', { ip, at: now });
    return { userId: before.id, returnTo: safeReturn(grant.data.returnTo) };
  }
}

/** The CSRF scope of the forgot form: a random value in a cookie of this browser (there is no session yet). */
function formScope(ctx: Context, create: boolean): string | null {
  let value = ctx.cookies.get(FORM_COOKIE, { signed: true });
  if (!value || !FORM_COOKIE_SHAPE.test(value)) {
    if (!create) return null;
    value = randomToken(16);
    ctx.cookies.set(FORM_COOKIE, value, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/password', maxAge: 3600_000, overwrite: true });
  }
  return `password-forgot:${value}`;
}

const linkScope = (token: string) => `password-reset:${createHash('sha256').update(token).digest('base64url')}`;

export function passwordResetRoutes(c: Container, resets = new PasswordResets(c)): Router {
  const router = new Router({ prefix: '/password' });

  const renderForgot = async (ctx: Context, model: { email?: string; returnTo: string | null; error?: { message: string; field?: string } | null }) => {
    ctx.type = 'html';
    ctx.body = await c.views.render('password-forgot', {
      title: 'Reset your password',
      csrf: c.csrf.token(formScope(ctx, true)!),
      email: model.email ?? '',
      returnTo: model.returnTo,
      error: model.error ?? null,
    });
  };

  const invalidLink = async (ctx: Context, reason: string) => {
    await c.audit.record({ type: 'password.reset', outcome: 'failure', ip: ctx.ip, details: { reason } });
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = await c.views.render('password-link-invalid', { title: 'This link cannot be used' });
  };

  router.get('/forgot', async (ctx) => renderForgot(ctx, { returnTo: safeReturn(ctx.query.return_to) }));

  router.post('/forgot', async (ctx) => {
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    const scope = formScope(ctx, false);
    if (!scope) throw new AppError('csrf_failed');
    c.csrf.assert(scope, raw.csrf);
    const returnTo = safeReturn(raw.return_to);
    let body: z.infer<typeof forgotForm>;
    try {
      body = parseBody(forgotForm, raw);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      ctx.status = 400;
      return renderForgot(ctx, { email: typeof raw.email === 'string' ? raw.email.slice(0, 320) : '', returnTo, error: { message: err.publicMessage.replace(/^email: /, ''), field: 'email' } });
    }
    try {
      await resets.request(body.email, { ip: ctx.ip, returnTo });
    } catch (err) {
      if (!(err instanceof ThrottledError)) throw err;
      ctx.status = 429;
      ctx.set('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
      const english = `Too many reset requests. ${(err.detail ?? err.message).replace(/^Too many attempts\. /, '')}`;
      return renderForgot(ctx, { email: body.email, returnTo, error: { message: c.i18n.sentence(await requestLocale(), english) } });
    }
    ctx.type = 'html';
    ctx.body = await c.views.render('password-forgot-sent', { title: 'Check your email', returnTo });
  });

  router.get('/reset/:token', async (ctx) => {
    const token = ctx.params.token!;
    const valid = await resets.check(token);
    if (!valid) return invalidLink(ctx, 'invalid_link');
    ctx.type = 'html';
    ctx.body = await c.views.render('password-reset', { title: 'Choose a new password', csrf: c.csrf.token(linkScope(token)), token, email: valid.email, error: null });
  });

  router.post('/reset/:token', async (ctx) => {
    const token = ctx.params.token!;
    const raw = (ctx.request.body ?? {}) as Record<string, unknown>;
    const valid = await resets.check(token);
    if (!valid) return invalidLink(ctx, 'invalid_link');
    c.csrf.assert(linkScope(token), raw.csrf);
    const body = parseBody(resetForm, raw);
    const problem =
      body.password !== body.confirm
        ? 'The two passwords do not match.'
        : validateNewPassword(body.password, c.config.password, { email: valid.email, name: valid.name, productName: c.config.webauthn.rpName });
    if (problem) {
      // The link stays valid: nothing was spent or changed.
      ctx.status = 400;
      ctx.type = 'html';
      const message = c.i18n.sentence(await requestLocale(), problem);
      ctx.body = await c.views.render('password-reset', { title: 'Choose a new password', csrf: c.csrf.token(linkScope(token)), token, email: valid.email, error: { message, field: 'password' } });
      return;
    }
    const done = await resets.complete(token, body.password, ctx.ip);
    if (!done) return invalidLink(ctx, 'link_spent');
    ctx.type = 'html';
    ctx.body = await c.views.render('password-reset-done', { title: 'Password changed', next: done.returnTo ?? '/account' });
  });

  return router;
}
