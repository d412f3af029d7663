/**
 * Self-service account pages (/account): list, add, rename and remove sign-in methods, regenerate backup
 * codes. Adding or removing a method needs a fresh sign-in (within REAUTH_WINDOW_SECONDS) at the level the
 * account can reach — with MFA enrolled, a stolen password alone can never enroll an attacker's authenticator.
 * The Devices section lists the browsers the account signed in from and forgets remembered ones: that only
 * removes a convenience, so it needs a signed-in session but no re-auth.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Container } from '../container.js';
import { ACCOUNT_SIGN_IN, currentSession, isFresh, readSignInCallback, redirectToSignIn, type AccountSession } from './session.js';
import { factorOf, FACTOR_KINDS } from '../factors/registry.js';
import type { FactorContext } from '../factors/types.js';
import { AppError } from '../errors/index.js';
import { parseBody } from '../http/validate.js';
import { wantsJson } from '../http/error-handler.js';
import { confirmEnrollment, renderEnrollError, renderEnrollPage, type EnrollmentPage } from '../http/enrollment-pages.js';
import { deviceHandle } from '../risk/known-browser.js';
import { accountSections } from './page-sections.js';
import { accountRecovery } from '../recovery/service.js';
import { lifecycleRoutes } from './lifecycle-routes.js';
import { requestLocale } from '../i18n/context.js';

const csrfOnly = z.object({ csrf: z.string().max(200) }).passthrough();
const renameForm = z.object({ csrf: z.string().max(200), name: z.string().trim().min(1, 'Enter a name').max(60, 'At most 60 characters') });
const minute = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
const safeReturn = (v: unknown) => (typeof v === 'string' && /^\/account(\/[\w\-/]*)?$/.test(v) ? v : '/account');

export function accountRoutes(c: Container, provider: Provider): Router {
  const router = new Router({ prefix: '/account' });
  const isJson = wantsJson;

  /** Level a fresh re-auth must reach: two factors once the account has any second factor. */
  async function requiredLevel(userId: string): Promise<number> {
    const { factors } = await c.factorService.enrolled(userId);
    return factors.length > 0 ? 2 : 1;
  }

  function loginRedirect(ctx: Context, opts: { reauth: boolean; level: number; returnTo: string }) {
    const acr = c.levels.find((l) => l.level >= opts.level)?.acr ?? 'loa1';
    redirectToSignIn(ctx, c.config.issuer, ACCOUNT_SIGN_IN, opts.returnTo, opts.reauth ? { prompt: 'login', max_age: '0', acr_values: acr } : {});
  }

  async function requireSession(ctx: Context): Promise<AccountSession> {
    const s = await currentSession(provider, ctx);
    if (!s) throw new AppError('not_authenticated');
    return s;
  }

  /** Throws reauth_required unless the session is fresh at the account's level. */
  async function requireFresh(s: AccountSession) {
    const level = await requiredLevel(s.accountId);
    if (!isFresh(s, c.levels, level, c.config.reauthWindowSeconds, c.now())) throw new AppError('reauth_required');
  }

  const enrollmentPage = (kind: string, s: AccountSession): EnrollmentPage => ({
    views: c.views,
    registry: c.factorService.registry,
    finishAction: `/account/factors/${kind}/finish`,
    csrfToken: c.csrf.token(`acct:${s.uid}`),
  });

  async function factorCtx(s: AccountSession): Promise<FactorContext> {
    const user = await c.users.findById(s.accountId);
    if (!user || user.disabled) throw new AppError('not_authenticated');
    return { userId: user.id, userEmail: user.email, userName: user.name, scope: `acct:${s.uid}`, now: c.now() };
  }

  /** Sends unauthenticated or stale sessions to sign in again, and comes back to the account page. */
  async function guarded(ctx: Context, fn: () => Promise<void>) {
    try {
      await fn();
    } catch (err) {
      if (err instanceof AppError && (err.code === 'not_authenticated' || err.code === 'reauth_required') && !isJson(ctx)) {
        const s = await currentSession(provider, ctx);
        const level = s ? await requiredLevel(s.accountId) : 1;
        return loginRedirect(ctx, { reauth: err.code === 'reauth_required', level, returnTo: '/account' });
      }
      throw err;
    }
  }

  /** Back to the account page with a notice (JSON callers get the address). */
  function done(ctx: Context, notice: string) {
    const next = `/account?notice=${encodeURIComponent(notice)}`;
    if (isJson(ctx)) ctx.body = { redirect: next };
    else ctx.redirect(next);
  }

  router.get('/', async (ctx) =>
    guarded(ctx, async () => {
      const s = await requireSession(ctx);
      const user = await c.users.findById(s.accountId);
      if (!user) throw new AppError('not_authenticated');
      const { factors } = await c.factorService.enrolled(user.id);
      const pending = (await c.factors.listByUser(user.id, { status: 'pending' })).map((f) => ({ id: f.id, kind: f.kind, name: f.name }));
      const level = await requiredLevel(user.id);
      const nowMs = c.now();
      const deviceId = c.knownBrowsers.read(ctx);
      const thisDevice = deviceId ? deviceHandle(deviceId) : null;
      ctx.type = 'html';
      ctx.body = await c.views.render('account/index', {
        title: 'Your account',
        user,
        csrf: c.csrf.token(`acct:${s.uid}`),
        fresh: isFresh(s, c.levels, level, c.config.reauthWindowSeconds, c.now()),
        factors: factors.map((f) => ({
          id: f.id,
          kind: f.kind,
          label: factorOf(c.factorService.registry, f.kind).info.label,
          name: f.name,
          masked: f.kind === 'sms' && typeof f.meta.masked === 'string' ? f.meta.masked : null,
          createdAt: minute(f.createdAt),
          lastUsedAt: f.lastUsedAt ? minute(f.lastUsedAt) : 'never',
        })),
        devices: (await c.devices.listByUser(user.id)).map((d) => {
          const remembered = d.rememberedUntil !== null && d.rememberedUntil > nowMs;
          return {
            id: d.id,
            uaFamily: d.uaFamily,
            firstSeen: minute(d.firstSeen),
            lastSeen: minute(d.lastSeen),
            remembered,
            rememberedUntil: remembered ? minute(d.rememberedUntil!) : null,
            current: thisDevice !== null && d.deviceHash === thisDevice,
          };
        }),
        pending,
        backupRemaining: await c.factorService.registry.backup_code.remaining(user.id),
        recovery: await accountRecovery(c, user.id),
        pendingEmail: await c.emailVerification.pending(user.id),
        mailAvailable: c.config.mail.transport !== 'off',
        smsAvailable: c.factorService.registry.sms.available,
        kinds: FACTOR_KINDS.map((k) => ({ kind: k, label: factorOf(c.factorService.registry, k).info.label })),
        // Activity as sentences with browser, IP and time; the sessions list (src/account/page-sections.ts).
        ...(await accountSections(c, user.id, s.uid)),
        // A sentence the action built in English (it rides in the redirect's query): in the page's language.
        notice: typeof ctx.query.notice === 'string' ? c.i18n.sentence(await requestLocale(), ctx.query.notice.slice(0, 100)) : null,
      });
    }),
  );

  router.get('/login', async (ctx) => loginRedirect(ctx, { reauth: false, level: 1, returnTo: '/account' }));

  router.get('/reauth', async (ctx) => {
    const s = await currentSession(provider, ctx);
    if (!s) return loginRedirect(ctx, { reauth: false, level: 1, returnTo: safeReturn(ctx.query.return_to) });
    loginRedirect(ctx, { reauth: true, level: await requiredLevel(s.accountId), returnTo: safeReturn(ctx.query.return_to) });
  });

  router.get('/callback', async (ctx) => {
    const { returnTo, error } = readSignInCallback(ctx, ACCOUNT_SIGN_IN);
    if (error) throw new AppError('forbidden', error === 'access_denied' ? 'Sign-in was cancelled.' : 'Sign-in did not complete.');
    ctx.redirect(safeReturn(returnTo));
  });

  router.post('/factors/:kind/start', async (ctx) =>
    guarded(ctx, async () => {
      const s = await requireSession(ctx);
      const body = parseBody(csrfOnly, ctx.request.body);
      c.csrf.assert(`acct:${s.uid}`, body.csrf);
      await requireFresh(s);
      // Service accounts never hold more than loa1: they cannot bind a second factor.
      if ((await c.users.findById(s.accountId))?.serviceAccount) throw new AppError('forbidden', 'Service accounts cannot add sign-in methods.');
      const kind = factorOf(c.factorService.registry, ctx.params.kind!).info.kind;
      const fctx = await factorCtx(s);
      let model;
      try {
        model = await c.factorService.startEnrollment(kind, fctx, body, { ip: ctx.ip });
      } catch (err) {
        // SMS: an invalid number or a refused send is shown on the number form (or the pending code form).
        const again = kind === 'sms' && body.resend ? await c.factorService.registry.sms.enrollmentView(fctx) : { phoneForm: true, phone: body.phone, name: body.name };
        if (await renderEnrollError(ctx, enrollmentPage(kind, s), kind, again, err)) return;
        throw err;
      }
      await renderEnrollPage(ctx, enrollmentPage(kind, s), kind, model);
    }),
  );

  router.post('/factors/:kind/finish', async (ctx) =>
    guarded(ctx, async () => {
      const s = await requireSession(ctx);
      const body = (ctx.request.body ?? {}) as Record<string, unknown>;
      c.csrf.assert(`acct:${s.uid}`, body.csrf);
      await requireFresh(s);
      const kind = factorOf(c.factorService.registry, ctx.params.kind!).info.kind;
      const fctx = await factorCtx(s);
      const done = await confirmEnrollment(
        ctx,
        enrollmentPage(kind, s),
        kind,
        body,
        () => c.factorService.finishEnrollment(kind, fctx, body, { ip: ctx.ip }),
        () => c.factorService.registry.sms.enrollmentView(fctx),
      );
      if (!done) return;
      const next = `/account?notice=${encodeURIComponent(`${factorOf(c.factorService.registry, kind).info.label} added`)}`;
      if (isJson(ctx)) ctx.body = { redirect: next };
      else ctx.redirect(next);
    }),
  );

  router.post('/factors/:id/rename', async (ctx) =>
    guarded(ctx, async () => {
      const s = await requireSession(ctx);
      const body = parseBody(renameForm, ctx.request.body);
      c.csrf.assert(`acct:${s.uid}`, body.csrf);
      if (!(await c.factors.rename(s.accountId, ctx.params.id!, body.name))) throw new AppError('not_found', 'No such sign-in method.');
      await c.audit.record({ type: 'factor.renamed', outcome: 'success', userId: s.accountId, ip: ctx.ip, details: { factorId: ctx.params.id, name: body.name } });
      ctx.redirect('/account?notice=Renamed');
    }),
  );

  router.post('/factors/:id/remove', async (ctx) =>
    guarded(ctx, async () => {
      const s = await requireSession(ctx);
      const body = parseBody(csrfOnly, ctx.request.body);
      c.csrf.assert(`acct:${s.uid}`, body.csrf);
      const factor = await c.factors.findById(ctx.params.id!);
      if (!factor || factor.userId !== s.accountId) throw new AppError('not_found', 'No such sign-in method.');
      // Abandoning a pending enrollment needs no re-auth: it never became a way to sign in.
      if (factor.status === 'active') await requireFresh(s);
      const { factors } = await c.factorService.enrolled(s.accountId);
      const strong = factors.filter((f) => f.kind !== 'backup_code');
      if (c.config.requireMfa && factor.status === 'active' && factor.kind !== 'backup_code' && strong.length === 1) {
        await c.audit.record({ type: 'factor.removed', outcome: 'failure', userId: s.accountId, ip: ctx.ip, details: { factorId: factor.id, reason: 'last_factor' } });
        throw new AppError('last_factor');
      }
      const devicesForgotten = await c.db.transaction(async (trx) => {
        await c.factors.remove(s.accountId, factor.id, trx);
        if (factor.kind === 'backup_code') await c.factorService.registry.backup_code.removeCodes(s.accountId, trx);
        if (factor.status !== 'active') return 0;
        // Every token issued while the factor existed ends with it (refresh, userinfo, introspection).
        await c.users.endTokens(s.accountId, c.now(), trx);
        // So does every "remember this device": a device remembered with the removed factor must not keep
        // sparing prompts. (Password change, a later issue, must forget remembered devices the same way.)
        return c.devices.forget(s.accountId, undefined, trx);
      });
      await c.audit.record({
        type: 'factor.removed',
        outcome: 'success',
        userId: s.accountId,
        ip: ctx.ip,
        details: { factorId: factor.id, kind: factor.kind, tokensEnded: factor.status === 'active', devicesForgotten },
      });
      if (factor.status === 'active') {
        void c.notices.send(s.accountId, 'factor_removed', { ip: ctx.ip, details: { method: factorOf(c.factorService.registry, factor.kind).info.label, name: factor.name } });
      }
      ctx.redirect('/account?notice=Removed');
    }),
  );

  router.post('/devices/forget-all', async (ctx) =>
    guarded(ctx, async () => {
      const s = await requireSession(ctx);
      const body = parseBody(csrfOnly, ctx.request.body);
      c.csrf.assert(`acct:${s.uid}`, body.csrf);
      const count = await c.devices.forget(s.accountId);
      if (count === 0) return done(ctx, 'No device was remembered');
      await c.audit.record({ type: 'device.forgotten', outcome: 'success', userId: s.accountId, ip: ctx.ip, details: { all: true, count } });
      done(ctx, count === 1 ? '1 remembered device forgotten' : `${count} remembered devices forgotten`);
    }),
  );

  router.post('/devices/:id/forget', async (ctx) =>
    guarded(ctx, async () => {
      const s = await requireSession(ctx);
      const body = parseBody(csrfOnly, ctx.request.body);
      c.csrf.assert(`acct:${s.uid}`, body.csrf);
      const id = ctx.params.id!;
      const device = (await c.devices.listByUser(s.accountId)).find((d) => d.id === id);
      if (!device) throw new AppError('not_found', 'No such device on your account.');
      if (!(await c.devices.forget(s.accountId, device.id))) return done(ctx, 'This device was not remembered');
      await c.audit.record({ type: 'device.forgotten', outcome: 'success', userId: s.accountId, ip: ctx.ip, details: { deviceId: device.id, device: device.uaFamily } });
      done(ctx, 'Device forgotten');
    }),
  );

  // E-mail verification, password and e-mail change, account deletion (src/account/lifecycle-routes.ts).
  lifecycleRoutes(router, c, { requireSession, requireFresh, requiredLevel, loginRedirect, done });

  return router;
}
