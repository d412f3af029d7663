/**
 * Creating users and clients: shared by the CLI, the demo seed, the admin API and console (through
 * ./users.ts and ./clients.ts, which hold the rest of the admin service layer). `actor` names the admin in
 * the audit event (omitted by the seed and tests).
 */
import { brandingMetadata } from '../interactions/client-branding.js';
import { z } from 'zod';
import type { UsersRepo } from '../store/repos/users.js';
import type { ClientsRepo, ClientRecord } from '../store/repos/clients.js';
import type { AuditLog } from '../audit/log.js';
import type { Config } from '../config/index.js';
import { PasswordHasher, validateNewPassword } from '../security/password.js';
import { randomToken } from '../security/crypto.js';
import { AppError } from '../errors/index.js';
import { ALLOWED_ORIGINS_PROPERTY, allowedOriginProblem } from '../oidc/cors.js';
import type { Actor } from './types.js';
import type { EmailVerification } from '../account/email-verification.js';
import { ADMIN_SCOPES, CREATED_BY_PROPERTY } from './scopes.js';

export interface AdminDeps {
  config: Config;
  users: UsersRepo;
  clients: ClientsRepo;
  hasher: PasswordHasher;
  audit: AuditLog;
  /** When present (the container has it), a new account gets a verification mail (src/account/email-verification.ts). */
  emailVerification?: Pick<EmailVerification, 'send'>;
}

const emailSchema = z.email();
const redirectUriSchema = z.url({ protocol: /^(https?|[a-z][a-z0-9+.-]*)$/ }).refine((u) => !u.includes('#'), 'must not contain a fragment');

/**
 * `serviceAccount`: a machine identity — exempt from MFA enrollment and risk prompts, it can never enroll a
 * second factor, so it never holds more than loa1.
 */
export async function createUser(
  deps: AdminDeps,
  input: { email: string; name?: string; password: string; serviceAccount?: boolean; actor?: Actor; /** Seeded users whose address is known (the demo). */ emailVerified?: boolean },
) {
  if (!emailSchema.safeParse(input.email.trim()).success) throw new AppError('invalid_form', `not a valid email: ${input.email}`, 'email');
  const problem = validateNewPassword(input.password, deps.config.password, { email: input.email, name: input.name, productName: deps.config.webauthn.rpName });
  if (problem) throw new AppError('invalid_form', problem, 'password');
  const user = await deps.users.create({
    email: input.email,
    name: input.name,
    passwordHash: await deps.hasher.hash(input.password),
    serviceAccount: input.serviceAccount,
    emailVerified: input.emailVerified,
  });
  await deps.audit.record({
    type: 'user.created',
    outcome: 'success',
    userId: user.id,
    ip: input.actor?.ip ?? null,
    details: { ...(input.actor ? { actor: input.actor.id } : {}), ...(user.serviceAccount ? { serviceAccount: true } : {}) },
  });
  // The account exists whatever happens to the mail: a failed delivery is logged, and /account offers a resend.
  if (!user.emailVerified && !user.serviceAccount) await deps.emailVerification?.send(user, { ip: input.actor?.ip ?? undefined }).catch(() => undefined);
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
  /** Shown on the sign-in and consent pages (http(s) URLs; https in production). */
  logoUri?: string;
  policyUri?: string;
  tosUri?: string;
  /** The admin creating it (audit). */
  actor?: Actor;
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
export function backchannelMetadata(input: Pick<CreateClientInput, 'backchannelLogoutUri'>, production: boolean): Record<string, unknown> {
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

/** Redirect and post-logout redirect URIs: absolute, no fragment; at least one redirect URI. */
export function checkRedirectUris(redirectUris: string[], postLogoutRedirectUris: string[] = []): void {
  if (redirectUris.length === 0) throw new AppError('invalid_form', 'at least one --redirect-uri is required', 'redirect_uri');
  for (const uri of [...redirectUris, ...postLogoutRedirectUris]) {
    if (!redirectUriSchema.safeParse(uri).success) throw new AppError('invalid_form', `not a valid redirect URI: ${uri}`, 'redirect_uri');
  }
}

/** CORS origins beyond the redirect URIs' own, de-duplicated and checked. */
export function checkAllowedOrigins(config: Config, origins: string[] = []): string[] {
  const allowedOrigins = [...new Set(origins)];
  for (const origin of allowedOrigins) {
    const problem = allowedOriginProblem(origin, { production: config.env === 'production' });
    if (problem) throw new AppError('invalid_form', `--allowed-origin ${problem}`, 'allowed_origin');
  }
  return allowedOrigins;
}

export async function createClient(deps: AdminDeps, input: CreateClientInput) {
  checkRedirectUris(input.redirectUris, input.postLogoutRedirectUris);
  const allowedOrigins = checkAllowedOrigins(deps.config, input.allowedOrigins);
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
    ...brandingMetadata(input, deps.config.env === 'production'),
  };
  await storeNewClient(deps, record, input.actor, { first_party: record.first_party });
  const { first_party, ...rest } = record;
  return { ...rest, first_party };
}

/** Stores a new client (409 if the id is taken) and audits it with the admin who made it. */
async function storeNewClient(deps: AdminDeps, record: ClientRecord, actor: Actor | undefined, details: Record<string, unknown>): Promise<void> {
  const clientId = record.client_id;
  if (await deps.clients.find(clientId)) throw new AppError('conflict', `client ${clientId} already exists`);
  await deps.clients.create(record);
  await deps.audit.record({ type: 'client.created', outcome: 'success', clientId, ip: actor?.ip ?? null, details: { ...(actor ? { actor: actor.id } : {}), ...details } });
}

/** Scopes a service client may hold: the admin API's own and the configured API scopes (STEPWISE_API_SCOPES). */
export function serviceScopes(config: Config): string[] {
  return [...ADMIN_SCOPES, ...config.apiScopes];
}

/**
 * A machine client (`stepwise clients create --service --scope stepwise:admin`): client_credentials only,
 * no redirect URIs, no response types; its registered `scope` is the allow-list the token endpoint and the
 * admin API both enforce. The secret is printed once.
 */
export async function createServiceClient(deps: AdminDeps, input: { scopes: string[]; name?: string; clientId?: string; actor?: Actor }) {
  const scopes = [...new Set(input.scopes.map((s) => s.trim()).filter(Boolean))];
  if (scopes.length === 0) throw new AppError('invalid_form', 'a service client needs at least one --scope', 'scope');
  const allowed = serviceScopes(deps.config);
  const unknown = scopes.find((s) => !allowed.includes(s));
  if (unknown !== undefined) throw new AppError('invalid_form', `scope ${unknown} is not one of ${allowed.join(', ')}`, 'scope');
  const clientId = input.clientId ?? `svc_${randomToken(12)}`;
  const record: ClientRecord = {
    client_id: clientId,
    first_party: false,
    client_name: input.name ?? clientId,
    redirect_uris: [],
    grant_types: ['client_credentials'],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    client_secret: randomToken(32),
    scope: scopes.join(' '),
    // Who made this admin identity: four eyes refuses approvals between an identity and what it created.
    ...(input.actor ? { [CREATED_BY_PROPERTY]: input.actor.id } : {}),
  };
  await storeNewClient(deps, record, input.actor, { service: true, scope: record.scope });
  return { client_id: clientId, client_secret: record.client_secret as string, client_name: record.client_name, grant_types: record.grant_types, scope: record.scope };
}
