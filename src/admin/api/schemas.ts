/**
 * The admin API's zod schemas: request bodies and query strings (strict — an unknown field is a 400 naming
 * it) and the responses. The same objects validate requests and generate the OpenAPI document (./openapi.ts).
 */
import { z } from 'zod';
import { clientPolicySchema } from '../../policy/client-policy.js';
import { SECOND_APPROVAL_ACTIONS } from '../approval-kinds.js';
import { MAX_SECRET_OVERLAP_SECONDS } from '../clients.js';

const id = z.string().min(1).max(128);
const epochMs = z.number().int().describe('epoch milliseconds');
const nullableMs = epochMs.nullable();
const limit = z.coerce.number().int().min(1).max(200).optional().describe('page size, 1..200 (default 50)');
const cursor = z.string().min(1).max(500).optional().describe('next_cursor of the previous page');
const boolString = z.enum(['true', 'false']).transform((v) => v === 'true');

export const empty = z.object({}).strict();
export const idParams = z.object({ id }).strict();
export const userFactorParams = z.object({ id, factorId: id }).strict();
export const userSessionParams = z.object({ id, sessionId: id }).strict();
export const userDeviceParams = z.object({ id, deviceId: id }).strict();
export const pageQuery = z.object({ cursor, limit }).strict();

export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next_cursor: z.string().nullable() }).strict();

export const problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().describe('the Stepwise error code'),
    field: z.string().optional().describe('the request field the problem is about'),
    instance: z.string().optional(),
  })
  .strict();

// ---- users
export const user = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    disabled: z.boolean(),
    service_account: z.boolean(),
    created_at: epochMs,
    first_sign_in_at: nullableMs,
    locale: z.string().nullable().describe("the user's language (read-only): remembered when they sign in with a language preference or use the language switcher; null: not known (mails in English)"),
    sessions_ended: z.number().int().optional(),
  })
  .strict();

export const userSearchQuery = z
  .object({ q: z.string().min(1).max(200).optional().describe('substring of email or name'), disabled: boolString.optional(), cursor, limit })
  .strict();

export const createUserBody = z
  .object({
    email: z.string().min(3).max(320),
    name: z.string().min(1).max(200).optional(),
    password: z.string().min(1).max(1024),
    service_account: z.boolean().optional(),
  })
  .strict();

export const passwordResetBody = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('email') }).strict(),
  z.object({ mode: z.literal('forced') }).strict(),
]);
export const passwordResetResult = z.object({ id: z.string(), mode: z.enum(['email', 'forced']), sessions_ended: z.number().int() }).strict();

export const factor = z
  .object({
    id: z.string(),
    kind: z.enum(['password', 'totp', 'webauthn', 'backup_code', 'sms', 'push']),
    name: z.string(),
    status: z.enum(['pending', 'active']),
    created_at: epochMs,
    last_used_at: nullableMs,
  })
  .strict();
export const removedFactors = z.object({ user_id: z.string(), removed: z.array(factor), devices_forgotten: z.number().int() }).strict();

export const session = z.object({ id: z.string(), created_at: epochMs, last_seen: nullableMs, clients: z.array(z.string()) }).strict();
export const sessionsEnded = z.object({ user_id: z.string(), ended: z.number().int() }).strict();

export const device = z
  .object({ id: z.string(), device: z.string(), first_seen: epochMs, last_seen: epochMs, last_mfa_at: nullableMs, remembered_until: nullableMs })
  .strict();
export const devicesForgotten = z.object({ user_id: z.string(), forgotten: z.number().int() }).strict();

// ---- approvals
export const approval = z
  .object({
    id: z.string(),
    kind: z.enum(SECOND_APPROVAL_ACTIONS),
    summary: z.string(),
    action: z.record(z.string(), z.unknown()),
    requested_by: z.string(),
    status: z.enum(['pending', 'approved', 'executed', 'failed', 'rejected', 'expired']),
    decided_by: z.string().nullable(),
    result: z.unknown(),
    created_at: epochMs,
    expires_at: epochMs,
    decided_at: nullableMs,
    executed_at: nullableMs,
  })
  .strict();
export const approvalsQuery = z
  .object({ status: z.enum(['pending', 'approved', 'executed', 'failed', 'rejected', 'expired']).optional(), cursor, limit })
  .strict();

/** A write that four eyes may hold back: 200 applied, or 202 pending a second admin. */
export const guarded = <T extends z.ZodType>(result: T) =>
  z.union([z.object({ status: z.literal('applied'), result }).strict(), z.object({ status: z.literal('pending'), approval }).strict()]);

// ---- clients
export const policy = clientPolicySchema;

export const client = z
  .object({
    client_id: z.string(),
    client_name: z.string(),
    first_party: z.boolean(),
    service: z.boolean(),
    token_endpoint_auth_method: z.string(),
    grant_types: z.array(z.string()),
    redirect_uris: z.array(z.string()),
    post_logout_redirect_uris: z.array(z.string()),
    allowed_origins: z.array(z.string()),
    backchannel_logout_uri: z.string().nullable(),
    scope: z.string().nullable(),
    policy,
    previous_secret_expires_at: nullableMs,
    created_at: epochMs,
    etag: z.string(),
  })
  .strict();
export const clientSearchQuery = z.object({ q: z.string().min(1).max(200).optional(), cursor, limit }).strict();

const uris = z.array(z.string().min(1).max(2000)).max(50);
export const createClientBody = z
  .object({
    redirect_uris: uris.min(1),
    post_logout_redirect_uris: uris.optional(),
    client_name: z.string().min(1).max(200).optional(),
    client_id: z.string().regex(/^[A-Za-z0-9._~-]{3,128}$/).optional(),
    public: z.boolean().optional().describe('a public client (token_endpoint_auth_method none, PKCE)'),
    first_party: z.boolean().optional(),
    allowed_origins: uris.optional(),
    dpop: z.boolean().optional(),
    backchannel_logout_uri: z.string().min(1).max(2000).optional(),
    token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none']).optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
    jwks_uri: z.string().min(1).max(2000).optional(),
  })
  .strict();
/** What creating a client returns: its metadata, with client_secret shown this once. */
export const createdClient = z.object({ client_id: z.string(), client_secret: z.string().optional() }).catchall(z.unknown());

export const createServiceClientBody = z
  .object({
    scopes: z.array(z.string().min(1).max(100)).min(1).max(20).describe('e.g. ["stepwise:admin:read"]'),
    client_name: z.string().min(1).max(200).optional(),
  })
  .strict();
export const createdServiceClient = z
  .object({ client_id: z.string(), client_secret: z.string(), client_name: z.string(), grant_types: z.array(z.string()), scope: z.string() })
  .strict();

export const clientPatchBody = z
  .object({
    client_name: z.string().min(1).max(200).optional(),
    first_party: z.boolean().optional(),
    redirect_uris: uris.min(1).optional(),
    post_logout_redirect_uris: uris.optional(),
    allowed_origins: uris.optional(),
    backchannel_logout_uri: z.string().min(1).max(2000).nullable().optional(),
  })
  .strict();
export const deletedClient = z.object({ client_id: z.string(), deleted: z.literal(true) }).strict();

export const rotateSecretBody = z
  .object({ overlap_seconds: z.number().int().min(0).max(MAX_SECRET_OVERLAP_SECONDS).optional().describe('how long the old secret keeps working (default 0)') })
  .strict();
export const rotatedSecret = z
  .object({ client_id: z.string(), client_secret: z.string(), previous_secret_expires_at: nullableMs, etag: z.string() })
  .strict();

export const clientPolicy = z.object({ client_id: z.string(), policy, etag: z.string() }).strict();

// ---- levels, keys, audit
export const level = z
  .object({ acr: z.string(), level: z.number().int(), max_age_seconds: z.number().int(), min_factors: z.number().int(), phishing_resistant: z.boolean() })
  .strict();
export const signingKey = z
  .object({ kid: z.string(), alg: z.string(), created_at: epochMs, retired_at: nullableMs, status: z.enum(['signing', 'scheduled', 'retired', 'active']) })
  .strict();
export const rotatedKeys = z.object({ kid: z.string(), retired: z.array(z.string()), activates_at: z.string().describe('ISO 8601: when it starts signing') }).strict();

export const auditEvent = z
  .object({
    seq: z.number().int(),
    id: z.string(),
    at: epochMs,
    type: z.string(),
    outcome: z.enum(['success', 'failure']),
    user_id: z.string().nullable(),
    client_id: z.string().nullable(),
    ip: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    hash: z.string(),
  })
  .strict();

// ---- recoveries (src/recovery/service.ts)
const isoOrNull = z.string().nullable();
export const recovery = z
  .object({
    id: z.string(),
    user_id: z.string(),
    email: z.string().nullable(),
    status: z.enum(['pending', 'effective', 'used', 'completed', 'cancelled', 'expired']),
    reason: z.string(),
    evidence: z.string(),
    requested_by: z.string(),
    created_at: z.string(),
    effective_at: z.string(),
    signin_link_sent_at: isoOrNull,
    signin_link_expires_at: isoOrNull,
    used_at: isoOrNull,
    completed_at: isoOrNull,
    cancelled_at: isoOrNull,
    cancelled_by: isoOrNull,
    expired_at: isoOrNull,
  })
  .strict()
  .describe('times are ISO 8601 strings');
export const startedRecovery = recovery.extend({ notified: z.object({ email: z.string(), sms: z.number().int() }).strict() });
export const startRecoveryBody = z
  .object({
    reason: z.string().min(1).max(500).describe('why; shown to the user in the notice'),
    evidence: z.string().min(1).max(200).describe('a reference to the identity check (ticket id), never the document'),
  })
  .strict();
