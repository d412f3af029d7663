/**
 * Bearer authentication for the admin API. The token is looked up through oidc-provider's own models
 * (ClientCredentials, then AccessToken — the same checks as its introspection: signature-less opaque
 * value, expiry, consumed; for a user token also its grant), with no HTTP hop. It must carry the route's
 * scope AND its client must be registered with that scope (`scope` metadata, set only by
 * `clients create --service`): a relying party whose users ask for `stepwise:admin` gets nothing.
 * Sender-constrained (DPoP / mTLS) tokens are refused here: this API checks no proofs.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { AppError } from '../../errors/index.js';
import { ADMIN_READ_SCOPE, ADMIN_SCOPE } from '../scopes.js';
import type { Actor } from '../types.js';

export const REALM = 'stepwise-admin';

export interface ApiPrincipal {
  actor: Actor;
  clientId: string;
  scopes: Set<string>;
}

/** 401/403 with the RFC 6750 challenge; the problem body says the same. */
export class BearerError extends AppError {
  readonly challenge: string;
  constructor(kind: 'missing' | 'invalid_token' | 'insufficient_scope', detail: string, scope?: string) {
    super(kind === 'insufficient_scope' ? 'forbidden' : 'not_authenticated', detail);
    const attrs = [`realm="${REALM}"`];
    if (kind !== 'missing') attrs.push(`error="${kind}"`, `error_description="${detail.replace(/["\\]/g, '')}"`);
    if (scope) attrs.push(`scope="${scope}"`);
    this.challenge = `Bearer ${attrs.join(', ')}`;
  }
}

interface TokenLike {
  clientId?: string;
  scope?: string;
  grantId?: string;
  accountId?: string;
  jkt?: string;
  'x5t#S256'?: string;
  isValid?: boolean;
}

async function findToken(provider: Provider, value: string): Promise<TokenLike | undefined> {
  const cc = (await provider.ClientCredentials.find(value).catch(() => undefined)) as TokenLike | undefined;
  if (cc) return cc;
  const at = (await provider.AccessToken.find(value).catch(() => undefined)) as TokenLike | undefined;
  if (!at) return undefined;
  // A user token lives only as long as its grant (revoked sessions, ended tokens: oidc/grant-epoch.ts).
  if (!at.grantId || !(await provider.Grant.find(at.grantId).catch(() => undefined))) return undefined;
  return at;
}

/** The scope a request needs: reads accept either admin scope, everything else needs `stepwise:admin`. */
export function requiredScope(method: string): string {
  return method === 'GET' || method === 'HEAD' ? ADMIN_READ_SCOPE : ADMIN_SCOPE;
}

export async function authenticate(provider: Provider, ctx: Context): Promise<ApiPrincipal> {
  const header = ctx.get('authorization');
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!header) throw new BearerError('missing', 'an access token is required (Authorization: Bearer …)');
  if (!match) throw new BearerError('invalid_token', 'the Authorization header is not a Bearer token');
  const token = await findToken(provider, match[1]!);
  if (!token || token.isValid === false || !token.clientId) throw new BearerError('invalid_token', 'the access token is invalid or expired');
  if (token.jkt || token['x5t#S256']) throw new BearerError('invalid_token', 'sender-constrained tokens are not accepted by this API');
  const client = (await provider.Client.find(token.clientId).catch(() => undefined)) as { scope?: string } | undefined;
  if (!client) throw new BearerError('invalid_token', 'the access token is invalid or expired');
  const registered = new Set((client.scope ?? '').split(' ').filter(Boolean));
  const scopes = new Set((token.scope ?? '').split(' ').filter((s) => s && registered.has(s)));
  const needed = requiredScope(ctx.method);
  const ok = scopes.has(ADMIN_SCOPE) || (needed === ADMIN_READ_SCOPE && scopes.has(ADMIN_READ_SCOPE));
  if (!ok) throw new BearerError('insufficient_scope', `this request needs the ${needed} scope`, needed === ADMIN_READ_SCOPE ? `${ADMIN_READ_SCOPE} ${ADMIN_SCOPE}` : ADMIN_SCOPE);
  return { actor: { id: token.clientId, ip: ctx.ip }, clientId: token.clientId, scopes };
}
