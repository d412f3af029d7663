/**
 * A token request that names a `resource` is always refused with invalid_target (no resource servers are
 * configured), but oidc-provider resolves `resource` only after it has consumed the authorization code:
 * the rejected request spends the code and the client's retry without `resource` fails as a replay (which
 * revokes the grant). Refuse such requests here, before anything is looked up or spent (issue 14; the
 * refresh grant has the same guard in rotateRefreshToken).
 *
 * The body is read once, as oidc-provider reads it (raw bytes, same limit, the request's charset), and handed
 * on as text, which oidc-provider parses exactly as it would have parsed the stream.
 */
import { parse } from 'node:querystring';
import type { Context, Next } from 'koa';

const LIMIT = 56 * 1024; // oidc-provider's own limit (shared/selective_body.js)

function oauthError(ctx: Context, error: string, description: string) {
  ctx.status = 400;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

async function readRaw(ctx: Context): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let received = 0;
  // destroyOnReturn: false — stopping at the limit must not destroy the request (and reset the connection).
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    received += (chunk as Buffer).length;
    if (received > LIMIT) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, received);
}

export function refuseTokenResource() {
  return async function tokenResourceGuard(ctx: Context, next: Next) {
    if (ctx.path !== '/token' || ctx.method !== 'POST' || !ctx.is('application/x-www-form-urlencoded') || !ctx.req.readable) return next();
    const raw = await readRaw(ctx);
    let text: string;
    try {
      if (!raw) throw new Error('too large');
      text = ctx.request.charset ? new TextDecoder(ctx.request.charset).decode(raw) : raw.toString();
    } catch {
      return oauthError(ctx, 'invalid_request', 'failed to parse the request body');
    }
    if (parse(text).resource !== undefined) return oauthError(ctx, 'invalid_target', 'resource indicator is missing, or unknown');
    ctx.request.body = text;
    return next();
  };
}
