/**
 * The one mapping from errors to responses for our own routes: HTML error pages for people, JSON problems
 * for API callers. Never a stack trace; unknown errors are logged and shown as a generic 500.
 */
import { routeLabel } from '../metrics/http.js';
import type { Context, Next } from 'koa';
import { errors as oidcErrors } from 'oidc-provider';
import type { Logger } from 'pino';
import { AppError, isStoreOutage, isUnstorableText, type ErrorCode } from '../errors/index.js';
import type { Views } from './views.js';

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof oidcErrors.SessionNotFound) return new AppError('interaction_not_found');
  const oidcCode = (err as { error?: string } | undefined)?.error;
  if (oidcCode === 'temporarily_unavailable') return new AppError('store_unavailable', undefined, undefined, { cause: err });
  if (isStoreOutage(err)) return new AppError('store_unavailable', undefined, undefined, { cause: err });
  if (isUnstorableText(err)) return new AppError('invalid_request', undefined, undefined, { cause: err });
  // A body whose Content-Encoding does not match it: the parser's zlib/brotli error carries no HTTP status.
  const code = (err as { code?: unknown } | undefined)?.code;
  // zlib: Z_DATA_ERROR, Z_BUF_ERROR…; brotli: ERR__ERROR_FORMAT_…, ERR_BROTLI_…; both carry a negative errno.
  const errno = (err as { errno?: unknown } | undefined)?.errno;
  if (typeof code === 'string' && typeof errno === 'number' && /^(Z_|ERR__|ERR_BROTLI)/.test(code)) {
    return new AppError('invalid_request', 'The request body could not be decoded (its Content-Encoding does not match it).', undefined, { cause: err });
  }
  const status = (err as { status?: number; statusCode?: number })?.status ?? (err as { statusCode?: number })?.statusCode;
  const byStatus: Record<number, ErrorCode> = { 400: 'invalid_request', 413: 'payload_too_large', 415: 'unsupported_media_type', 404: 'not_found', 403: 'forbidden' };
  if (status && byStatus[status]) return new AppError(byStatus[status]!);
  return new AppError('internal', undefined, undefined, { cause: err });
}

export function wantsJson(ctx: Context): boolean {
  return (
    ctx.path.startsWith('/api/') ||
    ctx.path.startsWith('/admin/api/') ||
    ctx.request.is('application/json') === 'application/json' ||
    ctx.accepts('html', 'json') === 'json'
  );
}

export function errorHandler(views: Views, log: Logger) {
  return async function handleErrors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (caught) {
      const err = toAppError(caught);
      if (err.code === 'internal' || err.code === 'store_unavailable') {
        // The route template, never the raw path: paths can carry link tokens and interaction ids.
        log.error({ err: caught, route: routeLabel(ctx), method: ctx.method }, `request failed: ${err.code}`);
      }
      ctx.status = err.status;
      if (err.code === 'too_many_attempts') {
        const ms = (err as { retryAfterMs?: unknown }).retryAfterMs;
        ctx.set('Retry-After', String(typeof ms === 'number' ? Math.max(1, Math.ceil(ms / 1000)) : 60));
      }
      if (wantsJson(ctx)) {
        ctx.body = { error: err.code, message: err.publicMessage, ...(err.field ? { field: err.field } : {}) };
        return;
      }
      ctx.type = 'html';
      ctx.body = await views.render('error', { title: 'Something went wrong', message: err.publicMessage, code: err.code });
    }
  };
}

