/**
 * Builds the HTTP application. oidc-provider is itself a Koa app; our middleware runs before its router
 * (Provider#use), so the order below is the whole request pipeline.
 */
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Container } from './container.js';
import { errorHandler } from './http/error-handler.js';
import { securityHeaders } from './http/security-headers.js';
import { staticAssets } from './http/static.js';
import { interactionRoutes } from './interactions/routes.js';
import { factorRoutes } from './interactions/factor-routes.js';
import { accountRoutes } from './account/routes.js';
import { demoRoutes } from './demo/routes.js';
import { AppError } from './errors/index.js';
import { endSessionsOfDisabledAccounts } from './oidc/dead-sessions.js';
import { rejectUnknownResumes } from './oidc/resume-guard.js';
import { requireRedirectUri } from './oidc/require-redirect-uri.js';
import { clientIp } from './security/client-ip.js';
import { pinIssuerHost } from './http/issuer-host.js';
import { demoRoutesAllowed } from './seed.js';
import { outboxRoutes } from './notify/outbox-routes.js';
import { pushDeviceRoutes, pushPageRoutes } from './http/push-routes.js';

const OUR_FORMS = /^\/(interaction|account|demo)(\/|$)/;

export function createApp(c: Container): Provider {
  const app = c.provider;
  app.use(clientIp(c.config.trustProxy));
  app.use(pinIssuerHost(c.config.issuer));
  const parseBody = bodyParser({ enableTypes: ['form', 'json'], formLimit: '16kb', jsonLimit: '64kb', encoding: 'utf-8' });

  app.use(securityHeaders(c.config.issuer.startsWith('https://')));
  app.use(errorHandler(c.views, c.log));
  app.use(staticAssets());
  app.use(async (ctx: Context, next: Next) => {
    if (ctx.path !== '/healthz') return next();
    try {
      await c.db.raw('select 1');
      if (c.redis) await c.redis.ping();
      ctx.body = { status: 'ok' };
    } catch {
      throw new AppError('store_unavailable');
    }
  });
  app.use(rejectUnknownResumes(app));
  app.use(requireRedirectUri());
  app.use(endSessionsOfDisabledAccounts(app, c.users));
  // Parse bodies for our own form routes only; oidc-provider parses its endpoints itself.
  app.use(async (ctx: Context, next: Next) => (OUR_FORMS.test(ctx.path) ? parseBody(ctx, next) : next()));
  const interactionDeps = { provider: app, views: c.views, csrf: c.csrf, flow: c.flow };
  app.use(interactionRoutes(interactionDeps).routes());
  app.use(factorRoutes(interactionDeps).routes());
  app.use(accountRoutes(c, app).routes());
  // Push approval: the page polls, and the device API (JSON, parses its own bodies).
  app.use(pushPageRoutes(c, app).routes());
  app.use(pushDeviceRoutes(c).routes());
  if (demoRoutesAllowed(c.config)) app.use(demoRoutes(c).routes());
  // Development outbox (codes in clear): only with a console transport, never in production.
  if (c.notifier.outbox && c.config.env !== 'production') app.use(outboxRoutes({ outbox: c.notifier.outbox, views: c.views }).routes());
  app.use(async (ctx: Context, next: Next) => {
    if (ctx.path !== '/' || ctx.method !== 'GET') return next();
    ctx.type = 'html';
    ctx.body = await c.views.render('home', { title: 'Stepwise', issuer: c.config.issuer });
  });
  return app;
}
