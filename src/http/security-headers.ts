import type { Context, Next } from 'koa';

/** Our pages' CSP; `imageOrigins` adds exact origins to img-src (a client's logo_uri on its sign-in page). */
export function pageCsp(imageOrigins: string[] = []): string {
  const img = ["'self'", 'data:', ...imageOrigins].join(' ');
  return `default-src 'self'; script-src 'self'; style-src 'self'; img-src ${img}; frame-ancestors 'none'; base-uri 'none'; form-action 'self' http: https:`;
}

/** Headers for every response: no framing, no sniffing, a strict CSP for our pages, HSTS over https. */
export function securityHeaders(https: boolean) {
  return async function setSecurityHeaders(ctx: Context, next: Next) {
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (https) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    if (ctx.response.is('html') && !ctx.response.get('Content-Security-Policy')) {
      ctx.set('Content-Security-Policy', pageCsp());
    }
    if (ctx.path.startsWith('/interaction') || ctx.path.startsWith('/account')) ctx.set('Cache-Control', 'no-store');
  };
}
