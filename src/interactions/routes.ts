/**
 * Hosted sign-in: /interaction/:uid (login → factor steps → consent). Routes only translate HTTP; the
 * decisions live in SignInFlow and the factor modules. All sub-routes stay under /interaction/:uid because
 * oidc-provider scopes its interaction cookie to that path.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Views } from '../http/views.js';
import type { Csrf } from '../security/csrf.js';
import type { SignInFlow } from './flow.js';
import { AppError } from '../errors/index.js';
import { parseBody } from '../http/validate.js';

export interface InteractionDeps {
  provider: Provider;
  views: Views;
  csrf: Csrf;
  flow: SignInFlow;
}

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

const loginForm = z.object({
  email: z.string().trim().min(1, 'Enter your email').max(320, 'Too long'),
  password: z.string().min(1, 'Enter your password').max(1024, 'Too long'),
  csrf: z.string().max(200),
});
const csrfOnly = z.object({ csrf: z.string().max(200) });

/** Loads the interaction for this browser; a missing, expired or foreign interaction is one clear error. */
export async function loadInteraction(provider: Provider, ctx: Context): Promise<InteractionDetails> {
  let details: InteractionDetails;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    if ((err as Error).name === 'SessionNotFound') throw new AppError('interaction_not_found');
    throw err;
  }
  if (details.uid !== ctx.params.uid) throw new AppError('interaction_not_found');
  return details;
}

export function interactionRoutes(deps: InteractionDeps): Router {
  const { provider, views, csrf, flow } = deps;
  const { exits } = flow;
  const router = new Router({ prefix: '/interaction/:uid' });

  async function renderLogin(ctx: Context, details: InteractionDetails, error?: AppError, email?: string, keepSignedIn = false) {
    if (error) ctx.status = error.status;
    ctx.type = 'html';
    ctx.body = await views.render('login', {
      title: 'Sign in',
      uid: details.uid,
      csrf: csrf.token(details.uid),
      client: await flow.clientView(details),
      passkey: true,
      email: email ?? (typeof details.params.login_hint === 'string' ? details.params.login_hint : ''),
      error: error ? { message: error.publicMessage, field: error.field } : null,
      keepSignedIn,
    });
  }

  router.get('/', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    if (details.prompt.name === 'consent') {
      // First-party clients are trusted by the operator: no consent screen, even for prompt=consent.
      if (await exits.isFirstParty(details)) return ctx.redirect(await exits.consent(ctx, details));
      ctx.type = 'html';
      ctx.body = await views.render('consent', {
        title: 'Allow access',
        uid: details.uid,
        csrf: csrf.token(details.uid),
        client: await flow.clientView(details),
        scopes: exits.requestedScopes(details),
      });
      return;
    }
    const next = await flow.resume(ctx, details);
    if (next) return ctx.redirect(next);
    await renderLogin(ctx, details);
  });

  router.post('/login', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const body = ctx.request.body as Record<string, unknown> | undefined;
    csrf.assert(details.uid, body?.csrf);
    const email = typeof body?.email === 'string' ? body.email.slice(0, 320) : '';
    const keep = body?.keep_signed_in === '1';
    await flow.keepSignedIn(details.uid, keep);
    try {
      const form = parseBody(loginForm, body);
      ctx.redirect(await flow.password(ctx, details, form.email, form.password));
    } catch (err) {
      if (err instanceof AppError && err.status < 500 && err.code !== 'csrf_failed') return renderLogin(ctx, details, err, email, keep);
      throw err;
    }
  });

  router.post('/consent', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const body = parseBody(csrfOnly, ctx.request.body);
    csrf.assert(details.uid, body.csrf);
    if (details.prompt.name !== 'consent') throw new AppError('invalid_request', 'There is nothing to consent to in this sign-in.');
    ctx.redirect(await exits.consent(ctx, details));
  });

  // The risk policy refused this sign-in: say so plainly (nothing that helps an attacker), then return to the
  // application with access_denied.
  router.get('/denied', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    if (!(await exits.wasDenied(details))) throw new AppError('interaction_not_found');
    ctx.status = 403;
    ctx.type = 'html';
    ctx.body = await views.render('denied', { title: 'Sign-in blocked', uid: details.uid, csrf: csrf.token(details.uid), client: await flow.clientView(details) });
  });

  router.post('/denied', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const body = parseBody(csrfOnly, ctx.request.body);
    csrf.assert(details.uid, body.csrf);
    if (!(await exits.wasDenied(details))) throw new AppError('interaction_not_found');
    ctx.redirect(await exits.leaveDenied(ctx, details));
  });

  // MFA enforcement during the grace period: "Set up now" (enroll, then continue) or "Later".
  router.get('/mfa-notice', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const notice = await flow.mfaNotice(details);
    if (!notice) return ctx.redirect(`/interaction/${details.uid}`);
    ctx.type = 'html';
    ctx.body = await views.render('mfa-notice', { title: 'Protect your account', uid: details.uid, csrf: csrf.token(details.uid), daysLeft: notice.daysLeft });
  });

  router.post('/mfa-notice/later', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const body = parseBody(csrfOnly, ctx.request.body);
    csrf.assert(details.uid, body.csrf);
    ctx.redirect(await flow.postponeEnrollment(ctx, details));
  });

  router.post('/abort', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const body = parseBody(csrfOnly, ctx.request.body);
    csrf.assert(details.uid, body.csrf);
    ctx.redirect(await exits.abort(ctx, details));
  });

  return router;
}
