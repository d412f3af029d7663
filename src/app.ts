/**
 * Builds the HTTP application. oidc-provider is itself a Koa app; our middleware runs before its router
 * (Provider#use), so the order below is the whole request pipeline.
 */
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Container } from './container.js';
import { errorHandler } from './http/error-handler.js';
import { requestScope } from './store/request-cache.js';
import { securityHeaders } from './http/security-headers.js';
import { staticAssets } from './http/static.js';
import { localeContext } from './i18n/context.js';
import { uiRoutes } from './http/ui-routes.js';
import { interactionRoutes } from './interactions/routes.js';
import { factorRoutes } from './interactions/factor-routes.js';
import { accountRoutes } from './account/routes.js';
import { accountSessionRoutes } from './account/sessions-routes.js';
import { passwordResetRoutes } from './account/password-reset.js';
import { recoveryRoutes } from './recovery/routes.js';
import { adminConsoleRoutes } from './admin/console/routes.js';
import { adminApi } from './admin/api/index.js';
import { demoRoutes } from './demo/routes.js';
import { endSessionsOfDisabledAccounts } from './oidc/dead-sessions.js';
import { rejectUnknownResumes } from './oidc/resume-guard.js';
import { requireRedirectUri } from './oidc/require-redirect-uri.js';
import { refuseTokenResource } from './oidc/token-resource-guard.js';
import { clientIp } from './security/client-ip.js';
import { pinIssuerHost } from './http/issuer-host.js';
import { demoRoutesAllowed } from './seed.js';
import { outboxRoutes } from './notify/outbox-routes.js';
import { pushDeviceRoutes, pushPageRoutes } from './http/push-routes.js';
import { healthRoutes } from './http/health.js';
import { requestId } from './http/request-id.js';
import { countStoreErrors, httpMetrics } from './metrics/http.js';
import { metricsRoute } from './metrics/routes.js';
import { batchAuditPerRequest } from './audit/request-batch.js';

// The admin console's forms are ours; the admin API (/admin/api) parses its own JSON.
const OUR_FORMS = /^\/(interaction|account|password|recovery|demo|admin(?!\/api(\/|$)))(\/|$)/;

export function createApp(c: Container): Provider {
  const app = c.provider;
  // Outermost: a request id on every log line, and the latency/status of everything below.
  app.use(requestId(c.log));
  app.use(httpMetrics(c.metrics));
  app.use(requestScope());
  app.use(clientIp(c.config.trustProxy));
  app.use(pinIssuerHost(c.config.issuer));
  const parseBody = bodyParser({ enableTypes: ['form', 'json'], formLimit: '16kb', jsonLimit: '64kb', encoding: 'utf-8' });

  app.use(securityHeaders(c.config.issuer.startsWith('https://')));
  // The request's language (ui_locales, switcher cookie, Accept-Language) for every page and error below.
  app.use(localeContext(c.i18n, app));
  app.use(errorHandler(c.views, c.log));
  app.use(countStoreErrors(c.metrics));
  // A request's audit events commit together before it answers (inside the error handler: a failed commit is a 503).
  app.use(batchAuditPerRequest(c.audit));
  app.use(uiRoutes({ theme: c.views.theme, i18n: c.i18n, secure: c.config.issuer.startsWith('https://') }).routes());
  app.use(staticAssets());
  app.use(healthRoutes({ db: c.db, redis: c.redis, onDown: (store) => c.metrics.storeErrors.inc({ store, source: 'readyz' }) }));
  app.use(metricsRoute(c.metrics, c.config.ops.metrics));
  app.use(rejectUnknownResumes(app, c.kv));
  app.use(requireRedirectUri());
  app.use(refuseTokenResource());
  app.use(endSessionsOfDisabledAccounts(app, c.users));
  // Parse bodies for our own form routes only; oidc-provider parses its endpoints itself.
  app.use(async (ctx: Context, next: Next) => (OUR_FORMS.test(ctx.path) ? parseBody(ctx, next) : next()));
  const interactionDeps = { provider: app, views: c.views, csrf: c.csrf, flow: c.flow };
  app.use(interactionRoutes(interactionDeps).routes());
  app.use(factorRoutes(interactionDeps).routes());
  app.use(accountRoutes(c, app).routes());
  app.use(accountSessionRoutes(c, app).routes());
  app.use(passwordResetRoutes(c).routes()).use(recoveryRoutes(c, app).routes());
  // Admin API (/admin/api, bearer tokens, problem+json); before the console, which owns the rest of /admin.
  app.use(adminApi(c));
  app.use(adminConsoleRoutes(c, app).routes());
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
