/**
 * Every URL the IdP builds (discovery, redirects to the interaction pages, end-session links) comes from the
 * configured issuer, never from the request: oidc-provider derives them from the Host (or, behind a
 * trusted proxy, X-Forwarded-Host) header, which a client chooses. Pin both to the issuer's host.
 */
import type { Context, Next } from 'koa';

export function pinIssuerHost(issuer: string) {
  const host = new URL(issuer).host;
  return function issuerHost(ctx: Context, next: Next) {
    ctx.req.headers.host = host;
    delete ctx.req.headers['x-forwarded-host'];
    return next();
  };
}
