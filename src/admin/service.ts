/** Operations shared by the CLI, the demo seed and (later) the admin API. */
import { z } from 'zod';
import type { UsersRepo } from '../store/repos/users.js';
import type { ClientsRepo, ClientRecord } from '../store/repos/clients.js';
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config/index.js';
import { PasswordHasher, validateNewPassword } from '../security/password.js';
import { randomToken } from '../security/crypto.js';
import { AppError } from '../errors/index.js';
import { ALLOWED_ORIGINS_PROPERTY, allowedOriginProblem } from '../oidc/cors.js';

export interface AdminDeps {
  config: Config;
  users: UsersRepo;
  clients: ClientsRepo;
  hasher: PasswordHasher;
  audit: AuditLog;
}

const emailSchema = z.email();
const redirectUriSchema = z.url({ protocol: /^(https?|[a-z][a-z0-9+.-]*)$/ }).refine((u) => !u.includes('#'), 'must not contain a fragment');

/**
 * `serviceAccount`: a machine identity — exempt from MFA enrollment and risk prompts, it can never enroll a
 * second factor, so it never holds more than loa1.
 */
export async function createUser(deps: AdminDeps, input: { email: string; name?: string; password: string; serviceAccount?: boolean }) {
  if (!emailSchema.safeParse(input.email.trim()).success) throw new AppError('invalid_form', `not a valid email: ${input.email}`, 'email');
  const problem = validateNewPassword(input.password, deps.config.password);
  if (problem) throw new AppError('invalid_form', problem, 'password');
  const user = await deps.users.create({ email: input.email, name: input.name, passwordHash: await deps.hasher.hash(input.password), serviceAccount: input.serviceAccount });
  await deps.audit.record({ type: 'user.created', outcome: 'success', userId: user.id, details: user.serviceAccount ? { serviceAccount: true } : {} });
  return { id: user.id, email: user.email, name: user.name, ...(user.serviceAccount ? { service_account: true } : {}) };
}

export interface CreateClientInput {
  redirectUris: string[];
  public?: boolean;
  firstParty?: boolean;
  name?: string;
  clientId?: string;
  clientSecret?: string;
  postLogoutRedirectUris?: string[];
  /** Browser origins, beyond the redirect URIs' own, allowed to call the token/userinfo/... endpoints (CORS). */
  allowedOrigins?: string[];
  /** Sender-constrained tokens: every token request must carry a DPoP proof (RFC 9449 `dpop_bound_access_tokens`). */
  dpop?: boolean;
  /** Back-Channel Logout 1.0: where the IdP POSTs a logout token when the user signs out. */
  backchannelLogoutUri?: string;
  /** Token endpoint authentication (default client_secret_basic; `none` for public clients). */
  authMethod?: ClientAuthMethod;
  /** private_key_jwt: the client's public keys, inline (a JWK Set) or by URL — one of the two. */
  jwks?: unknown;
  jwksUri?: string;
}

export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** A public JWK Set: keys with a kty and no private members. */
function publicJwksProblem(jwks: unknown): string | null {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return 'must be a JWK Set with at least one key ({"keys":[…]})';
  for (const k of keys) {
    if (!k || typeof k !== 'object' || typeof (k as { kty?: unknown }).kty !== 'string') return 'every key needs a kty';
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((m) => m in (k as object))) return 'must hold public keys only (found a private member)';
  }
  return null;
}

/** backchannel_logout_uri: an absolute https URL (http allowed outside production), no fragment. */
function backchannelMetadata(input: CreateClientInput, production: boolean): Record<string, unknown> {
  const uri = input.backchannelLogoutUri;
  if (uri === undefined) return {};
  const url = URL.parse(uri);
  if (!url || url.hash || !(url.protocol === 'https:' || (!production && url.protocol === 'http:'))) {
    throw new AppError('invalid_form', `--backchannel-logout-uri must be an ${production ? 'https' : 'http(s)'} URL without a fragment (got ${uri})`, 'backchannel_logout_uri');
  }
  return { backchannel_logout_uri: uri, backchannel_logout_session_required: true };
}

/** Token endpoint authentication metadata for a new client, validated. */
function authMetadata(input: CreateClientInput): Record<string, unknown> {
  const method: ClientAuthMethod = input.authMethod ?? (input.public ? 'none' : 'client_secret_basic');
  if (!(CLIENT_AUTH_METHODS as readonly string[]).includes(method)) {
    throw new AppError('invalid_form', `--auth-method must be one of ${CLIENT_AUTH_METHODS.join(', ')}`, 'auth_method');
  }
  if (input.public && method !== 'none') throw new AppError('invalid_form', 'a --public client authenticates with none', 'auth_method');
  if (method === 'private_key_jwt') {
    if ((input.jwks === undefined) === (input.jwksUri === undefined)) {
      throw new AppError('invalid_form', 'private_key_jwt needs exactly one of --jwks FILE or --jwks-uri URL', 'jwks');
    }
    if (input.jwksUri !== undefined && !/^https:\/\//.test(input.jwksUri) && !/^http:\/\/(localhost|127\.0\.0\.1)(:|\/)/.test(input.jwksUri)) {
      throw new AppError('invalid_form', '--jwks-uri must be an https URL', 'jwks_uri');
    }
    const problem = input.jwks !== undefined ? publicJwksProblem(input.jwks) : null;
    if (problem) throw new AppError('invalid_form', `--jwks ${problem}`, 'jwks');
    return { token_endpoint_auth_method: method, ...(input.jwks !== undefined ? { jwks: input.jwks } : { jwks_uri: input.jwksUri }) };
  }
  if (input.jwks !== undefined || input.jwksUri !== undefined) throw new AppError('invalid_form', '--jwks / --jwks-uri go with --auth-method private_key_jwt', 'jwks');
  return method === 'none' ? { token_endpoint_auth_method: method } : { token_endpoint_auth_method: method, client_secret: input.clientSecret ?? randomToken(32) };
}

export async function createClient(deps: AdminDeps, input: CreateClientInput) {
  if (input.redirectUris.length === 0) throw new AppError('invalid_form', 'at least one --redirect-uri is required', 'redirect_uri');
  for (const uri of [...input.redirectUris, ...(input.postLogoutRedirectUris ?? [])]) {
    if (!redirectUriSchema.safeParse(uri).success) throw new AppError('invalid_form', `not a valid redirect URI: ${uri}`, 'redirect_uri');
  }
  const allowedOrigins = [...new Set(input.allowedOrigins ?? [])];
  for (const origin of allowedOrigins) {
    const problem = allowedOriginProblem(origin, { production: deps.config.env === 'production' });
    if (problem) throw new AppError('invalid_form', `--allowed-origin ${problem}`, 'allowed_origin');
  }
  const clientId = input.clientId ?? `c_${randomToken(12)}`;
  const record: ClientRecord = {
    client_id: clientId,
    first_party: Boolean(input.firstParty),
    client_name: input.name ?? clientId,
    redirect_uris: input.redirectUris,
    post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...authMetadata(input),
    ...backchannelMetadata(input, deps.config.env === 'production'),
    ...(allowedOrigins.length ? { [ALLOWED_ORIGINS_PROPERTY]: allowedOrigins } : {}),
    ...(input.dpop ? { dpop_bound_access_tokens: true } : {}),
  };
  if (await deps.clients.find(clientId)) throw new AppError('conflict', `client ${clientId} already exists`);
  await deps.clients.create(record);
  await deps.audit.record({ type: 'client.created', outcome: 'success', clientId, details: { first_party: record.first_party } });
  const { first_party, ...rest } = record;
  return { ...rest, first_party };
}
