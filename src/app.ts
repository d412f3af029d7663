/**
 * Builds the HTTP application. oidc-provider is itself a Koa app; our middleware runs before its router
 * (Provider#use), so the order below is the whole request pipeline.
 */
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware as KoaMiddleware, Next } from 'koa';
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
import { flushKvWritesPerRequest } from './store/kv-write-behind.js';

/**
 * oidc-provider's machine-to-machine endpoints (token, introspection, revocation, userinfo, JWKS, discovery,
 * registration, PAR): JSON only, never one of our pages — a token request need not walk a dozen routers.
 */
const PROTOCOL_API = /^\/(?:token(?:\/introspection|\/revocation)?|me|jwks|reg(?:\/[^/]+)?|request|\.well-known\/[^/]+)$/;

// Routers' middleware carry their own context types; the chain only passes ctx and next along.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Middleware = KoaMiddleware<any, any>;

/** A middleware list run as one middleware, skipped for PROTOCOL_API paths. */
function chain() {
  const list: Middleware[] = [];
  const chained = {
    use(mw: Middleware) {
      list.push(mw);
      return chained;
    },
    unlessProtocolApi() {
      return (ctx: Context, next: Next) => {
        if (PROTOCOL_API.test(ctx.path)) return next();
        const dispatch = (i: number): Promise<unknown> => (i === list.length ? next() : Promise.resolve(list[i]!(ctx, () => dispatch(i + 1))));
        return dispatch(0);
      };
    },
  };
  return chained;
}

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
  app.use(localeContext(c.i18n, app, (ctx) => !PROTOCOL_API.test(ctx.path)));
  app.use(errorHandler(c.views, c.log));
  app.use(countStoreErrors(c.metrics));
  // A request's audit events commit together before it answers (inside the error handler: a failed commit is a 503).
  app.use(batchAuditPerRequest(c.audit));
  // The sign-in state a request writes is stored once, as its last value, before it answers (also a 503 on failure).
  app.use(flushKvWritesPerRequest());
  app.use(rejectUnknownResumes(app, c.kv));
  app.use(requireRedirectUri());
  app.use(refuseTokenResource());
  app.use(endSessionsOfDisabledAccounts(app, c.users));
  // Everything below is ours (pages, forms, our APIs, assets): machine endpoints of the protocol skip it whole.
  const pages = chain();
  pages.use(uiRoutes({ theme: c.views.theme, i18n: c.i18n, secure: c.config.issuer.startsWith('https://') }).routes());
  pages.use(staticAssets());
  pages.use(healthRoutes({ db: c.db, redis: c.redis, onDown: (store) => c.metrics.storeErrors.inc({ store, source: 'readyz' }) }));
  pages.use(metricsRoute(c.metrics, c.config.ops.metrics));
  // Parse bodies for our own form routes only; oidc-provider parses its endpoints itself.
  pages.use(async (ctx: Context, next: Next) => (OUR_FORMS.test(ctx.path) ? parseBody(ctx, next) : next()));
  const interactionDeps = { provider: app, views: c.views, csrf: c.csrf, flow: c.flow };
  pages.use(interactionRoutes(interactionDeps).routes());
  pages.use(factorRoutes(interactionDeps).routes());
  pages.use(accountRoutes(c, app).routes());
  pages.use(accountSessionRoutes(c, app).routes());
  pages.use(passwordResetRoutes(c).routes()).use(recoveryRoutes(c, app).routes());
  // Admin API (/admin/api, bearer tokens, problem+json); before the console, which owns the rest of /admin.
  pages.use(adminApi(c));
  pages.use(adminConsoleRoutes(c, app).routes());
  // Push approval: the page polls, and the device API (JSON, parses its own bodies).
  pages.use(pushPageRoutes(c, app).routes());
  pages.use(pushDeviceRoutes(c).routes());
  if (demoRoutesAllowed(c.config)) pages.use(demoRoutes(c).routes());
  // Development outbox (codes in clear): only with a console transport, never in production.
  if (c.notifier.outbox && c.config.env !== 'production') pages.use(outboxRoutes({ outbox: c.notifier.outbox, views: c.views }).routes());
  pages.use(async (ctx: Context, next: Next) => {
    if (ctx.path !== '/' || ctx.method !== 'GET') return next();
    ctx.type = 'html';
    ctx.body = await c.views.render('home', { title: 'Stepwise', issuer: c.config.issuer });
  });
  app.use(pages.unlessProtocolApi());
  return app;
}
