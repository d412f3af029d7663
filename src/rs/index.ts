/**
 * RFC 9470 (OAuth 2.0 Step Up Authentication Challenge) for resource servers: check an access token's
 * `acr` / `auth_time` against what a route needs, and answer with the standard challenge when they fall
 * short, so the client can re-authorize with exactly those `acr_values` / `max_age`.
 *
 * Import from `stepwise/rs`. The helper is framework-free; `requireAuthentication` adapts it to Koa.
 */

/** What an API route needs. acrValues: acceptable values, "at least" one of them. */
export interface AuthenticationRequirement {
  acrValues?: string[];
  /** Seconds since the user's last active authentication (auth_time). */
  maxAge?: number;
}

/** Authentication claims of an access token (JWT payload or introspection response). */
export interface TokenAuthentication {
  active?: boolean;
  acr?: string;
  auth_time?: number;
  [claim: string]: unknown;
}

export type CheckResult = { ok: true } | { ok: false; status: 401; wwwAuthenticate: string; error: string };

/** Stepwise's default level order; pass your own (or `levelsFromDiscovery`) if the IdP's table is customised. */
export const DEFAULT_ACR_LEVELS: Record<string, number> = { loa1: 1, loa2: 2, phr: 3 };

/**
 * How long each level stays valid after the authentication (seconds), Stepwise's defaults. An access token
 * whose acr is older than its level's max age no longer proves that level: it counts as the highest lower
 * level still within its own max age. Checked by default, whether or not a route passes `maxAge`.
 */
export const DEFAULT_ACR_MAX_AGES: Record<string, number> = { loa1: 14 * 24 * 3600, loa2: 12 * 3600, phr: 15 * 60 };

/** The IdP's level table as published in discovery (`stepwise_acr_levels`), for `checkAuthentication` options. */
export function levelsFromDiscovery(metadata: { stepwise_acr_levels?: Record<string, { level: number; max_age: number }> }): {
  levels: Record<string, number>;
  maxAges: Record<string, number>;
} {
  const table = metadata.stepwise_acr_levels;
  if (!table || typeof table !== 'object') return { levels: DEFAULT_ACR_LEVELS, maxAges: DEFAULT_ACR_MAX_AGES };
  const levels: Record<string, number> = {};
  const maxAges: Record<string, number> = {};
  for (const [acr, v] of Object.entries(table)) {
    if (typeof v?.level === 'number') levels[acr] = v.level;
    if (typeof v?.max_age === 'number') maxAges[acr] = v.max_age;
  }
  return { levels, maxAges };
}

const quote = (v: string) => `"${v.replace(/["\\]/g, '\\$&')}"`;

function challenge(error: string, description: string, req: AuthenticationRequirement): string {
  const parts = [`error=${quote(error)}`, `error_description=${quote(description)}`];
  if (req.acrValues?.length) parts.push(`acr_values=${quote(req.acrValues.join(' '))}`);
  if (req.maxAge !== undefined) parts.push(`max_age=${quote(String(req.maxAge))}`);
  return `Bearer ${parts.join(', ')}`;
}

/** Checks a token's authentication against a requirement (RFC 9470 §3). `now` is epoch seconds. */
export function checkAuthentication(
  token: TokenAuthentication | null | undefined,
  req: AuthenticationRequirement,
  opts: { levels?: Record<string, number>; maxAges?: Record<string, number>; now?: number } = {},
): CheckResult {
  if (!token || token.active === false) {
    return { ok: false, status: 401, error: 'invalid_token', wwwAuthenticate: 'Bearer error="invalid_token"' };
  }
  const table = opts.levels ?? DEFAULT_ACR_LEVELS;
  const maxAges = opts.maxAges ?? DEFAULT_ACR_MAX_AGES;
  // Own properties only: an acr such as "constructor" must not resolve to Object.prototype members.
  const own = <T>(t: Record<string, T>, k: string | undefined) => (k !== undefined && Object.hasOwn(t, k) ? t[k] : undefined);
  const levelOf = (acr: string | undefined) => own(table, acr);
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (req.acrValues?.length) {
    const held = heldAcr(token, table, maxAges, now, own);
    const have = levelOf(held);
    const needed = Math.min(...req.acrValues.map((v) => levelOf(v) ?? Number.POSITIVE_INFINITY));
    const exact = held !== undefined && req.acrValues.includes(held);
    if (!exact && (have === undefined || have < needed)) {
      return {
        ok: false,
        status: 401,
        error: 'insufficient_user_authentication',
        wwwAuthenticate: challenge('insufficient_user_authentication', 'A stronger authentication level is required', req),
      };
    }
  }
  if (req.maxAge !== undefined && (typeof token.auth_time !== 'number' || now - token.auth_time > req.maxAge)) {
    return {
      ok: false,
      status: 401,
      error: 'insufficient_user_authentication',
      wwwAuthenticate: challenge('insufficient_user_authentication', 'More recent authentication is required', req),
    };
  }
  return { ok: true };
}

/**
 * The acr the token still proves: its own while within that level's max age since auth_time, else the
 * highest lower level still within its max age, else none. Without auth_time a level with a max age is not
 * proven.
 */
function heldAcr(
  token: TokenAuthentication,
  table: Record<string, number>,
  maxAges: Record<string, number>,
  now: number,
  own: <T>(t: Record<string, T>, k: string | undefined) => T | undefined,
): string | undefined {
  const level = own(table, token.acr);
  if (token.acr === undefined || level === undefined) return token.acr;
  const fresh = (acr: string) => {
    const maxAge = own(maxAges, acr);
    return maxAge === undefined || (typeof token.auth_time === 'number' && now - token.auth_time <= maxAge);
  };
  if (fresh(token.acr)) return token.acr;
  return Object.keys(table)
    .filter((acr) => table[acr]! < level && fresh(acr))
    .sort((a, b) => table[b]! - table[a]!)[0];
}

/** Parses an RFC 9470 challenge (client side): the acr_values and max_age to re-authorize with. */
export function parseStepUpChallenge(header: string | null | undefined): { error?: string; acrValues?: string; maxAge?: number } {
  if (!header || !/^Bearer\s/i.test(header)) return {};
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) params[m[1]!] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
  return {
    error: params.error,
    acrValues: params.acr_values,
    maxAge: params.max_age !== undefined ? Number(params.max_age) : undefined,
  };
}

/** Minimal Koa-compatible context the middleware needs. */
interface KoaLike {
  get(header: string): string;
  set(header: string, value: string): void;
  status: number;
  body: unknown;
  state: Record<string, unknown>;
}

/**
 * Koa middleware: reads the Bearer token, resolves it with `introspect` (token introspection or JWT
 * verification — your choice), enforces the requirement, and stores the claims in ctx.state.token.
 */
export function requireAuthentication(
  req: AuthenticationRequirement,
  opts: {
    introspect(token: string): Promise<TokenAuthentication | null>;
    levels?: Record<string, number>;
    maxAges?: Record<string, number>;
    now?: () => number;
  },
) {
  return async function stepUpGuard(ctx: KoaLike, next: () => Promise<unknown>) {
    const auth = ctx.get('authorization');
    const token = /^Bearer (\S+)$/i.exec(auth)?.[1];
    const claims = token ? await opts.introspect(token) : null;
    const result = checkAuthentication(claims, req, { levels: opts.levels, maxAges: opts.maxAges, now: opts.now ? Math.floor(opts.now() / 1000) : undefined });
    if (!result.ok) {
      ctx.status = result.status;
      ctx.set('WWW-Authenticate', result.wwwAuthenticate);
      ctx.body = { error: result.error };
      return;
    }
    ctx.state.token = claims;
    await next();
  };
}
