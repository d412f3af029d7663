/**
 * OIDC Core §3.1.2.1 makes `redirect_uri` REQUIRED in an authentication request; oidc-provider accepts its
 * absence for a client with one registered URI. Refuse it here, for GET and for POST (https issuers) —
 * a request object or PAR request_uri carries its own, which oidc-provider checks. A POST body is parsed
 * here once; oidc-provider then reads the parsed body (it says so once in the log).
 */
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { AppError } from '../errors/index.js';

const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '56kb', encoding: 'utf-8' });

function missing(params: Record<string, unknown>): boolean {
  return params.redirect_uri === undefined && params.request_uri === undefined && params.request === undefined;
}

export function requireRedirectUri() {
  // Only /auth is looked at; every other request passes straight through (no async frame of its own).
  return function redirectUriRequired(ctx: Context, next: Next) {
    return ctx.path === '/auth' ? check(ctx, next) : next();
  };

  async function check(ctx: Context, next: Next) {
    if (ctx.method === 'GET') {
      if (missing(ctx.query)) throw new AppError('invalid_request', 'The authorization request is missing redirect_uri.');
      return next();
    }
    if (ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded')) {
      return parseForm(ctx, async () => {
        if (missing((ctx.request.body ?? {}) as Record<string, unknown>)) throw new AppError('invalid_request', 'The authorization request is missing redirect_uri.');
        await next();
      });
    }
    return next();
  }
}
