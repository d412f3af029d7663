/**
 * GET /dev/outbox: the development outbox as a page (newest first). Mounted by src/app.ts only when a
 * console transport runs outside production; it shows codes in clear, so it must never exist elsewhere.
 */
import Router from '@koa/router';
import type { Views } from '../http/views.js';
import type { DevOutbox, OutboxChannel } from './outbox.js';

export function outboxRoutes(deps: { outbox: DevOutbox; views: Views }): Router {
  const router = new Router();
  router.get('/dev/outbox', async (ctx) => {
    const channel = ctx.query.channel === 'sms' || ctx.query.channel === 'email' ? (ctx.query.channel as OutboxChannel) : undefined;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = await deps.views.render('dev/outbox', {
      title: 'Development outbox',
      messages: deps.outbox.list(channel).map((m) => ({ ...m, at: new Date(m.at).toISOString().slice(0, 19).replace('T', ' ') })),
    });
  });
  return router;
}
