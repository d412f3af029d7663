/**
 * Routes of the hosted pages' look and language: the theme's logo, favicon and colours
 * (/assets/theme/…, /assets/theme.css), and the language switcher (GET /lang/:code?return=/path), which
 * works without JavaScript: it sets the language cookie and goes back to the page.
 */
import { readFile } from 'node:fs/promises';
import Router from '@koa/router';
import type { Theme } from '../config/theme.js';
import type { I18n } from '../i18n/index.js';
import { LANGUAGE_COOKIE } from '../i18n/context.js';

/** Only a same-site path (no scheme, no //host, no backslash tricks) may be returned to. */
export function safeReturnPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || /[\\\r\n\t]/.test(value) || value.length > 2048) return '/';
  return value;
}

export function uiRoutes(deps: { theme: Theme; i18n: I18n; secure: boolean }): Router {
  const router = new Router();
  const cache = new Map<string, Buffer>();

  router.get('/assets/theme.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = deps.theme.css;
  });

  router.get('/assets/theme/:file', async (ctx) => {
    const asset = deps.theme.assets.get(ctx.path);
    if (!asset) return;
    let body = cache.get(ctx.path);
    if (!body) {
      body = await readFile(asset.file);
      cache.set(ctx.path, body);
    }
    ctx.type = asset.type;
    // SVGs are images here, never documents that run script.
    ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; sandbox");
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = body;
  });

  router.get('/lang/:code', async (ctx) => {
    const code = deps.i18n.supported.find((s) => s === ctx.params.code);
    if (code) {
      ctx.cookies.set(LANGUAGE_COOKIE, code, { httpOnly: true, sameSite: 'lax', secure: deps.secure, maxAge: 365 * 24 * 3600 * 1000, overwrite: true });
      await deps.i18n.picked(ctx, code); // a signed-in user's stored language (users.locale), see src/container.ts
    }
    ctx.redirect(safeReturnPath(ctx.query.return));
  });

  return router;
}
