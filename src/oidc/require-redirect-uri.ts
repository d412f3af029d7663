/**
 * OIDC Core §3.1.2.1 makes `redirect_uri` REQUIRED in an authentication request; oidc-provider accepts its
 * absence for a client with one registered URI. Refuse it here (a request object or PAR request_uri
 * carries its own, which oidc-provider checks).
 */
import type { Context, Next } from 'koa';
import { AppError } from '../errors/index.js';

export function requireRedirectUri() {
  return async function redirectUriRequired(ctx: Context, next: Next) {
    if (ctx.path === '/auth' && (ctx.method === 'GET' || ctx.method === 'POST')) {
      const params = ctx.method === 'GET' ? ctx.query : ((ctx.request as { body?: Record<string, unknown> }).body ?? ctx.query);
      if (params.redirect_uri === undefined && params.request_uri === undefined && params.request === undefined) {
        throw new AppError('invalid_request', 'The authorization request is missing redirect_uri.');
      }
    }
    return next();
  };
}
