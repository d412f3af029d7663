/**
 * Second-factor steps of a sign-in: /interaction/:uid/factor (chooser), /factor/:kind (challenge + verify)
 * and the passkey-first login (/webauthn/passwordless). Form posts re-render with the error next to the
 * field; JSON posts (WebAuthn) get JSON back: { redirect } or { error, message }.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { loadInteraction, type InteractionDeps, type InteractionDetails } from './routes.js';
import { factorOf, type SecondFactorKind } from '../factors/registry.js';
import { AppError } from '../errors/index.js';
import { parseBody } from '../http/validate.js';
import { wantsJson } from '../http/error-handler.js';
import { confirmEnrollment, renderEnrollPage, type EnrollmentPage } from '../http/enrollment-pages.js';
import { renderBackupCodesLeft } from './backup-codes-left.js';
import { lastFactor, nextFactor, rememberLastFactor } from './next-factor.js';
const csrfOnly = z.object({ csrf: z.string().max(200) });

const isJson = wantsJson;

export function factorRoutes(deps: InteractionDeps): Router {
  const { provider, views, csrf, flow } = deps;
  const router = new Router({ prefix: '/interaction/:uid' });

  function alternatives(uid: string, kinds: SecondFactorKind[], current?: string) {
    return kinds
      .filter((k) => k !== current)
      .map((k) => ({ kind: k, label: factorOf(flow.registry, k).info.label, href: `/interaction/${uid}/factor/${k}` }));
  }

  async function renderChallenge(ctx: Context, details: InteractionDetails, kind: SecondFactorKind, error?: AppError) {
    const { ctx: fctx, authCtx } = await flow.factorContext(details);
    const remaining = await flow.remainingFactors(details, authCtx);
    if (!remaining.includes(kind)) throw new AppError('not_found', 'That sign-in method is not available for your account.');
    // The sign-in as seen from outside: a push shows it on the phone next to Approve / Deny.
    const geo = authCtx.risk?.observed.geo;
    const place = [geo?.city, geo?.country].filter(Boolean).join(', ');
    const request = { ip: ctx.ip, client: (await flow.clientView(details)).name, ...(place ? { location: place } : {}) };
    const model = await factorOf(flow.registry, kind).startChallenge({ ...fctx, request });
    if (error) ctx.status = error.status;
    ctx.type = 'html';
    ctx.body = await views.render(`factors/${kind}-challenge`, {
      title: 'Confirm it is you',
      ...model,
      action: `/interaction/${details.uid}/factor/${kind}`,
      csrf: csrf.token(details.uid),
      error: error ? { message: error.publicMessage, field: error.field ?? 'code' } : null,
      alternatives: alternatives(details.uid, remaining, kind),
      uid: details.uid,
      rememberDays: await flow.rememberDays(details),
    });
  }

  router.get('/factor', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    let authCtx;
    try {
      ({ authCtx } = await flow.factorContext(details));
    } catch {
      return ctx.redirect(`/interaction/${details.uid}`);
    }
    const remaining = await flow.remainingFactors(details, authCtx);
    const last = lastFactor(ctx);
    const next = ctx.query.choose === undefined ? nextFactor(remaining, last) : undefined;
    if (next) return ctx.redirect(`/interaction/${details.uid}/factor/${next}`);
    ctx.type = 'html';
    ctx.body = await views.render('factor-chooser', {
      title: 'Choose how to confirm it is you',
      choices: alternatives(details.uid, remaining).map((c) => ({ ...c, last: c.kind === last })),
    });
  });

  router.get('/factor/:kind', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    await renderChallenge(ctx, details, factorOf(flow.registry, ctx.params.kind!).info.kind);
  });

  // SMS: (re)send a code to the current or the chosen number, then back to the challenge page.
  router.post('/factor/sms/send', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    csrf.assert(details.uid, body.csrf);
    const { ctx: fctx, authCtx } = await flow.factorContext(details);
    if (!(await flow.remainingFactors(details, authCtx)).includes('sms')) {
      throw new AppError('not_found', 'That sign-in method is not available for your account.');
    }
    try {
      await flow.registry.sms.sendCode(fctx, body);
    } catch (err) {
      if (isJson(ctx) || !(err instanceof AppError) || err.code === 'store_unavailable' || err.code === 'internal') throw err;
      const wait = (err as { retryAfterMs?: unknown }).retryAfterMs;
      if (typeof wait === 'number') ctx.set('Retry-After', String(Math.max(1, Math.ceil(wait / 1000))));
      // Shown above the forms, not as a code error.
      return renderChallenge(ctx, details, 'sms', new AppError(err.code, err.publicMessage, 'send', { cause: err }));
    }
    if (isJson(ctx)) ctx.body = { redirect: `/interaction/${details.uid}/factor/sms` };
    else ctx.redirect(`/interaction/${details.uid}/factor/sms`);
  });

  router.post('/factor/:kind', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const kind = factorOf(flow.registry, ctx.params.kind!).info.kind;
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    csrf.assert(details.uid, body.csrf);
    try {
      const userId = kind === 'backup_code' ? (await flow.factorContext(details)).ctx.userId : null;
      const next = await flow.secondFactor(ctx, details, kind, body);
      rememberLastFactor(ctx, kind);
      // A backup code was spent: say how many remain before going on (src/interactions/backup-codes-left.ts).
      if (userId && !isJson(ctx)) return renderBackupCodesLeft(ctx, views, await flow.registry.backup_code.remaining(userId), next);
      if (isJson(ctx)) ctx.body = { redirect: next };
      else ctx.redirect(next);
    } catch (err) {
      if (!isJson(ctx) && err instanceof AppError && err.status < 500 && err.code !== 'csrf_failed' && err.code !== 'not_found') {
        return renderChallenge(ctx, details, kind, err);
      }
      throw err;
    }
  });

  // Enroll-then-continue (client policy enroll_on_unmet): a password-only user adds a factor mid-sign-in.
  async function enrollable(ctx: Context, details: InteractionDetails, kind?: string) {
    const { ctx: fctx, authCtx } = await flow.factorContext(details);
    const kinds = await flow.enrollableFactors(details, authCtx);
    if (kind !== undefined && !(kinds as string[]).includes(kind)) {
      throw new AppError('not_found', 'That sign-in method cannot be set up here; use your account page.');
    }
    return { fctx, kinds, meta: { ip: ctx.ip, clientId: String(details.params.client_id) } };
  }

  router.get('/enroll', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const { kinds } = await enrollable(ctx, details);
    ctx.type = 'html';
    ctx.body = await views.render('enroll-chooser', {
      title: 'Add a second factor to continue',
      client: await flow.clientView(details),
      csrf: csrf.token(details.uid),
      choices: kinds.map((k) => ({ kind: k, label: factorOf(flow.registry, k).info.label, action: `/interaction/${details.uid}/enroll/${k}/start` })),
    });
  });

  /** Common start of both enroll steps: the interaction, its CSRF token, and a kind this sign-in may enroll. */
  async function enrollStep(ctx: Context) {
    const details = await loadInteraction(provider, ctx);
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    csrf.assert(details.uid, body.csrf);
    const { fctx, meta } = await enrollable(ctx, details, ctx.params.kind);
    const kind = factorOf(flow.registry, ctx.params.kind!).info.kind;
    const page: EnrollmentPage = {
      views,
      registry: flow.registry,
      finishAction: `/interaction/${details.uid}/enroll/${kind}/finish`,
      csrfToken: csrf.token(details.uid),
    };
    return { details, body, fctx, meta, kind, page };
  }

  router.post('/enroll/:kind/start', async (ctx) => {
    const { body, fctx, meta, kind, page } = await enrollStep(ctx);
    await renderEnrollPage(ctx, page, kind, await flow.factorService.startEnrollment(kind, fctx, body, meta));
  });

  router.post('/enroll/:kind/finish', async (ctx) => {
    const { details, body, fctx, meta, kind, page } = await enrollStep(ctx);
    if (!(await confirmEnrollment(ctx, page, kind, body, () => flow.factorService.finishEnrollment(kind, fctx, body, meta)))) return;
    // Now sign in with the new factor like any other (for TOTP: the next code).
    const next = `/interaction/${details.uid}/factor/${kind}`;
    if (isJson(ctx)) ctx.body = { redirect: next };
    else ctx.redirect(next);
  });

  router.post('/webauthn/passwordless/options', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    csrf.assert(details.uid, parseBody(csrfOnly.passthrough(), ctx.request.body).csrf);
    ctx.body = await flow.registry.webauthn.startPasswordless(details.uid);
  });

  router.post('/webauthn/passwordless', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    csrf.assert(details.uid, body.csrf);
    if (typeof body.keep_signed_in === 'boolean') await flow.keepSignedIn(details.uid, body.keep_signed_in);
    ctx.body = { redirect: await flow.passwordless(ctx, details, body) };
  });

  return router;
}
