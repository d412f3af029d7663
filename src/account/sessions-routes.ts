/**
 * /account sign-out and sessions: "Sign out" (this session), "Sign out" next to another session, and
 * "Sign out everywhere" (every session of the account, this one included). Ending a session revokes its
 * grants and sends back-channel logout tokens (c.userSessions); signed-out pages render the logged-out view.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Container } from '../container.js';
import { currentSession } from './session.js';
import { AppError } from '../errors/index.js';
import { parseBody } from '../http/validate.js';

const csrfOnly = z.object({ csrf: z.string().max(200) }).passthrough();

export function accountSessionRoutes(c: Container, provider: Provider): Router {
  const router = new Router({ prefix: '/account' });

  async function signedIn(ctx: Context) {
    const s = await currentSession(provider, ctx);
    if (!s) {
      ctx.redirect('/account');
      return null;
    }
    const body = parseBody(csrfOnly, ctx.request.body);
    c.csrf.assert(`acct:${s.uid}`, body.csrf);
    return s;
  }

  async function signedOut(ctx: Context) {
    ctx.type = 'html';
    ctx.body = await c.views.render('logged-out', { title: 'Signed out' });
  }

  router.post('/sign-out', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s) return;
    await c.userSessions.endOne(s.accountId, s.uid, { reason: 'user_sign_out' });
    await signedOut(ctx);
  });

  router.post('/sessions/end-all', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s) return;
    await c.userSessions.endAll(s.accountId, { reason: 'user_everywhere' });
    await signedOut(ctx);
  });

  router.post('/sessions/:uid/end', async (ctx) => {
    const s = await signedIn(ctx);
    if (!s) return;
    const uid = ctx.params.uid!;
    if (!(await c.userSessions.endOne(s.accountId, uid, { reason: 'user' }))) throw new AppError('not_found', 'No such session on your account.');
    if (uid === s.uid) return signedOut(ctx);
    ctx.redirect(`/account?notice=${encodeURIComponent('Signed out of that session')}`);
  });

  return router;
}
