/**
 * A client's logo_uri is shown on its sign-in and consent pages: the page's CSP then allows images from
 * exactly that origin (https only, or http on a loopback host in development), nothing wider.
 */
import { currentContext } from '../i18n/context.js';
import { pageCsp } from './security-headers.js';

export function imageOrigin(uri: string): string | undefined {
  const url = URL.parse(uri);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return undefined;
  return url.origin;
}

export function allowClientImage(uri: string): void {
  const ctx = currentContext();
  const origin = imageOrigin(uri);
  if (ctx && origin) ctx.set('Content-Security-Policy', pageCsp([origin]));
}
