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

/**
 * The body's bytes, or null past LIMIT (reading stops there; the request is not destroyed, so the 400 still
 * reaches the client). Plain stream events: a token body is one chunk, and an async iterator would add its
 * promises and end-of-stream listeners to every token request.
 */
function readRaw(ctx: Context): Promise<Buffer | null> {
  const req = ctx.req;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const settle = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= LIMIT) return void chunks.push(chunk);
      settle();
      req.pause();
      resolve(null);
    };
    const onEnd = () => {
      settle();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (err: Error) => {
      settle();
      reject(err);
    };
    const onClose = () => {
      settle();
      reject(new Error('the request closed before its body was read'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

export function refuseTokenResource() {
  return function tokenResourceGuard(ctx: Context, next: Next) {
    if (ctx.path !== '/token' || ctx.method !== 'POST' || !ctx.is('application/x-www-form-urlencoded') || !ctx.req.readable) return next();
    return guard(ctx, next);
  };

  async function guard(ctx: Context, next: Next) {
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
  }
}
