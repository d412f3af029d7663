/**
 * Which browser origins may call a client's endpoints (token, userinfo, revocation, introspection) with
 * CORS: the origins of the client's registered redirect URIs, plus its `stepwise_allowed_origins`. Pure
 * functions; oidc-provider's `clientBasedCORS` hook (src/oidc/provider.ts) must answer synchronously, so
 * everything needed is on the client metadata.
 */

/** Client metadata property: extra origins (beyond the redirect URIs') allowed to call the client's endpoints. */
export const ALLOWED_ORIGINS_PROPERTY = 'stepwise_allowed_origins';

/** The serialized origin of an http(s) URL, or undefined (unparseable, or an opaque origin such as a custom scheme's). */
export function originOf(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return url.origin;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1']);

/**
 * Why `value` is not acceptable as an allowed origin, or undefined when it is. An origin is exactly
 * `https://host[:port]` (no path, query, fragment, credentials or trailing slash, in canonical form);
 * `http://localhost[:port]` and `http://127.0.0.1[:port]` are accepted outside production only.
 */
export function allowedOriginProblem(value: unknown, opts: { production: boolean }): string | undefined {
  if (typeof value !== 'string' || value === '') return 'must be a non-empty string';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${JSON.stringify(value)} is not an origin (expected scheme://host[:port], e.g. https://app.example.com)`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return `${JSON.stringify(value)} is not an http(s) origin (expected https://host[:port])`;
  }
  if (url.origin !== value) {
    return `${JSON.stringify(value)} is not an origin: an origin is scheme://host[:port] with no path, query or trailing slash (did you mean ${url.origin}?)`;
  }
  if (url.protocol === 'http:') {
    if (!LOOPBACK_HOSTS.has(url.hostname)) return `${value} must use https (http is allowed only for localhost and 127.0.0.1)`;
    if (opts.production) return `${value}: http origins are not allowed when NODE_ENV=production`;
  }
  return undefined;
}

/** The first problem with a list of allowed origins, or undefined when every entry is acceptable. */
export function allowedOriginsProblem(value: unknown, opts: { production: boolean }): string | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return 'must be an array of origins';
  for (const entry of value) {
    const problem = allowedOriginProblem(entry, opts);
    if (problem) return problem;
  }
  return undefined;
}

export interface CorsClient {
  redirectUris?: readonly string[] | undefined;
  allowedOrigins?: readonly string[] | undefined;
}

/**
 * True iff `origin` (the request's Origin header) is one of the origins of the client's redirect URIs or
 * one of its allowed origins. Opaque origins ("null": sandboxed frames, file:, custom-scheme redirect URIs)
 * never match.
 */
export function isOriginAllowed(origin: string | undefined, client: CorsClient): boolean {
  if (!origin || origin === 'null') return false;
  if (client.allowedOrigins?.includes(origin)) return true;
  return (client.redirectUris ?? []).some((uri) => originOf(uri) === origin);
}
