/**
 * HTTP for push approval.
 *
 * Device API (JSON, what the phone app and `stepwise device` call):
 *   POST /push/v1/devices             { token, publicKey (P-256 JWK), name, fcmToken? } → 201 { deviceId, credential, issuer, status }
 *   GET  /push/v1/challenges          Authorization: Bearer <credential> → { challenges: [{ id, client, ip, location, time, expiresAt }] }
 *   POST /push/v1/challenges/:id      Bearer; { decision: approve|deny, number?, userVerified?, signature } → { status }
 *   PUT  /push/v1/device              Bearer; { fcmToken } (a rotated FCM token; clears the stale mark)
 *   errors: { error, message } with 400/401/403/404/409/410
 *
 * Sign-in and account pages (behind the interaction cookie / the account session):
 *   GET  /interaction/:uid/factor/push/status          → { status, message, expiresAt? } (the page's poll)
 *   POST /interaction/:uid/factor/push/new             { csrf } → "Send a new request" after an ended push
 *   GET /account/factors/push/enrollment/:id           → { status: waiting|registered|expired, deviceName? }
 */
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Container } from '../container.js';
import { toAppError } from './error-handler.js';
import { loadInteraction } from '../interactions/routes.js';
import { currentSession } from '../account/session.js';
import { AppError } from '../errors/index.js';

/** Device-API statuses: an expired challenge is "gone". */
const statusOf = (err: AppError) => (err.code === 'challenge_expired' ? 410 : err.status);

export function pushDeviceRoutes(c: Container): Router {
  const router = new Router({ prefix: '/push/v1' });
  const push = c.factorService.registry.push;
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '16kb', encoding: 'utf-8' });

  // JSON problems for every failure, whatever the Accept header says (devices are not browsers).
  router.use(async (ctx: Context, next: Next) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (caught) {
      const err = toAppError(caught);
      if (err.code === 'internal' || err.code === 'store_unavailable') c.log.error({ err: caught, path: ctx.path }, `push API failed: ${err.code}`);
      ctx.status = statusOf(err);
      ctx.body = { error: err.code, message: err.publicMessage };
    }
  });

  const device = (ctx: Context) => push.devices.authenticate(ctx.get('authorization') || undefined);

  router.post('/devices', json, async (ctx) => {
    ctx.status = 201;
    ctx.body = await push.registerDevice(ctx.request.body, { ip: ctx.ip });
  });

  router.get('/challenges', async (ctx) => {
    ctx.body = { challenges: await push.pendingFor(await device(ctx)) };
  });

  router.post('/challenges/:id', json, async (ctx) => {
    ctx.body = await push.answer(await device(ctx), ctx.params.id!, ctx.request.body, { ip: ctx.ip });
  });

  router.put('/device', json, async (ctx) => {
    await push.devices.update(await device(ctx), ctx.request.body);
    ctx.body = { updated: true };
  });

  // Any other path or method under /push/v1 (e.g. a challenge URL without its id): a JSON 404 too, not Koa's text.
  router.all(['/', '/{*rest}'], () => {
    throw new AppError('not_found');
  });

  return router;
}

export function pushPageRoutes(c: Container, provider: Provider): Router {
  const router = new Router();
  const push = c.factorService.registry.push;

  router.get('/interaction/:uid/factor/push/status', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    const { ctx: fctx } = await c.flow.factorContext(details);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await push.status(fctx);
  });

  // "Send a new request" after an ended push (the page never sends a second one by itself).
  router.post('/interaction/:uid/factor/push/new', async (ctx) => {
    const details = await loadInteraction(provider, ctx);
    c.csrf.assert(details.uid, (ctx.request.body as Record<string, unknown> | undefined)?.csrf);
    const { ctx: fctx } = await c.flow.factorContext(details);
    await push.forget(fctx);
    ctx.redirect(`/interaction/${details.uid}/factor/push`);
  });

  router.get('/account/factors/push/enrollment/:id', async (ctx) => {
    const s = await currentSession(provider, ctx);
    if (!s) throw new AppError('not_authenticated');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await push.enrollmentStatus(s.accountId, ctx.params.id!);
  });

  return router;
}
