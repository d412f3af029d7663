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
    token_endpoint_auth_method: input.public ? 'none' : 'client_secret_basic',
    ...(input.public ? {} : { client_secret: input.clientSecret ?? randomToken(32) }),
    ...(allowedOrigins.length ? { [ALLOWED_ORIGINS_PROPERTY]: allowedOrigins } : {}),
    ...(input.dpop ? { dpop_bound_access_tokens: true } : {}),
  };
  if (await deps.clients.find(clientId)) throw new AppError('conflict', `client ${clientId} already exists`);
  await deps.clients.create(record);
  await deps.audit.record({ type: 'client.created', outcome: 'success', clientId, details: { first_party: record.first_party } });
  const { first_party, ...rest } = record;
  return { ...rest, first_party };
}
