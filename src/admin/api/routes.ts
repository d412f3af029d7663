/**
 * The admin API's routes as data: method, path, schemas, documented example and the handler (a thin call
 * into the service layer). ./index.ts serves them and ./openapi.ts documents them from this one table, so a
 * route cannot exist undocumented.
 */
import { z } from 'zod';
import type { Context } from 'koa';
import * as s from './schemas.js';
import { createClient, createServiceClient, createUser, type ClientAuthMethod } from '../service.js';
import {
  endUserSessions,
  forgetUserDevices,
  getUser,
  listUserDevices,
  listUserFactors,
  listUserSessions,
  removeUserFactors,
  resetUserPassword,
  searchUsers,
  setUserDisabled,
} from '../users.js';
import { deleteClient, getClient, getClientPolicy, listClients, rotateClientSecret, setClientPolicy, updateClient } from '../clients.js';
import { listLevels } from '../levels.js';
import { listKeys, rotateKeys } from '../keys.js';
import { auditFilterFrom, auditFilterSchema, exportAuditEvents, queryAuditEvents } from '../audit-query.js';
import { approveAction, getApproval, listApprovals, rejectAction } from '../approvals.js';
import { cancelUserRecovery, listUserRecoveries, startUserRecovery } from '../recovery.js';
import type { Actor, AdminContext, Guarded } from '../types.js';

export interface HandlerInput {
  c: AdminContext;
  actor: Actor;
  params: Record<string, string>;
  query: any;
  body: any;
  ifMatch: string | undefined;
  ctx: Context;
}

export interface HandlerOutput {
  status?: number;
  body: unknown;
  etag?: string;
}

export interface RouteDef {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI style: /users/{id} */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  bodyExample?: unknown;
  /** The success response (a guarded write also answers 202 with a pending approval). */
  response: { status: number; schema: z.ZodType; example: unknown; contentType?: string; description?: string };
  guarded?: boolean;
  /** Answers with an ETag / honours If-Match (409 when stale). */
  etag?: boolean;
  errors: number[];
  handler(input: HandlerInput): Promise<HandlerOutput>;
}

const T0 = 1_764_547_200_000;
const exampleUser = { id: '7f1c9a52-3b0e-4c3e-9d0b-2f7f5c1e8a11', email: 'ada@example.com', name: 'Ada', disabled: false, service_account: false, created_at: T0, first_sign_in_at: T0 + 60_000, locale: 'de' };
const examplePolicy = { min_acr: 'loa2', allowed_factors: ['totp', 'webauthn'], max_age_seconds: 3600, allow_lower_acr: false, enroll_on_unmet: true, sensitive_scopes: ['payments:write'] };
const exampleClient = {
  client_id: 'c_payments',
  client_name: 'Payments',
  first_party: false,
  service: false,
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token'],
  redirect_uris: ['https://pay.example/cb'],
  post_logout_redirect_uris: [],
  allowed_origins: [],
  backchannel_logout_uri: null,
  scope: null,
  policy: examplePolicy,
  previous_secret_expires_at: null,
  created_at: T0,
  etag: '"3q2-7wYl0Vf3k1c9a52bQx"',
};
const exampleFactor = { id: '5b0c1f5e-8a4d-4c1b-b0e8-93f7a1c2d3e4', kind: 'totp', name: 'Authenticator app', status: 'active', created_at: T0, last_used_at: T0 + 3_600_000 };
const exampleApproval = {
  id: '0c9d4f3a-1e2b-4a5c-8d7e-6f5a4b3c2d1e',
  kind: 'remove_user_factors',
  summary: 'remove every factor of ada@example.com',
  action: { userId: exampleUser.id },
  requested_by: 'svc_ops',
  status: 'pending',
  decided_by: null,
  result: null,
  created_at: T0,
  expires_at: T0 + 7 * 86_400_000,
  decided_at: null,
  executed_at: null,
};
const exampleRecovery = {
  id: '3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a',
  user_id: exampleUser.id,
  email: exampleUser.email,
  status: 'pending',
  reason: 'lost phone and backup codes',
  evidence: 'ticket SEC-1234',
  requested_by: 'svc_ops',
  created_at: '2025-12-01T00:00:00.000Z',
  effective_at: '2025-12-02T00:00:00.000Z',
  signin_link_sent_at: null,
  signin_link_expires_at: null,
  used_at: null,
  completed_at: null,
  cancelled_at: null,
  cancelled_by: null,
  expired_at: null,
};
const exampleEvent = {
  seq: 42,
  id: '9e8d7c6b-5a49-4382-9172-605f4e3d2c1b',
  at: T0,
  type: 'signin.success',
  outcome: 'success',
  user_id: exampleUser.id,
  client_id: 'c_payments',
  ip: '203.0.113.7',
  details: { acr: 'loa2', amr: ['pwd', 'otp', 'mfa'] },
  hash: 'a'.repeat(64),
};

/** Four eyes: 200 with the result, or 202 with the pending approval. */
function guardedOut<T>(g: Guarded<T>): HandlerOutput {
  return g.status === 'applied' ? { body: g } : { status: 202, body: g };
}

const READ_ERRORS = [400, 401, 403, 404];
const WRITE_ERRORS = [400, 401, 403, 404];

export const ROUTES: RouteDef[] = [
  // ---------------------------------------------------------------- users
  {
    method: 'get', path: '/users', tag: 'users', summary: 'Search users', query: s.userSearchQuery,
    response: { status: 200, schema: s.page(s.user), example: { items: [exampleUser], next_cursor: null } },
    errors: [400, 401, 403],
    handler: async ({ c, query }) => ({ body: await searchUsers(c, query) }),
  },
  {
    method: 'post', path: '/users', tag: 'users', summary: 'Create a user', body: s.createUserBody,
    bodyExample: { email: 'ada@example.com', name: 'Ada', password: 'correct horse battery staple' },
    response: { status: 201, schema: s.user, example: exampleUser },
    errors: [400, 401, 403, 409],
    handler: async ({ c, actor, body }) => {
      const created = await createUser(c, { email: body.email, name: body.name, password: body.password, serviceAccount: body.service_account, actor });
      return { status: 201, body: await getUser(c, created.id) };
    },
  },
  {
    method: 'get', path: '/users/{id}', tag: 'users', summary: 'Get a user', params: s.idParams,
    response: { status: 200, schema: s.user, example: exampleUser }, errors: READ_ERRORS,
    handler: async ({ c, params }) => ({ body: await getUser(c, params.id!) }),
  },
  {
    method: 'post', path: '/users/{id}/disable', tag: 'users', summary: 'Disable a user (ends their sessions and tokens)', params: s.idParams, body: s.empty, bodyExample: {},
    response: { status: 200, schema: s.user, example: { ...exampleUser, disabled: true, sessions_ended: 2 } }, errors: WRITE_ERRORS,
    handler: async ({ c, actor, params }) => ({ body: await setUserDisabled(c, actor, params.id!, true) }),
  },
  {
    method: 'post', path: '/users/{id}/enable', tag: 'users', summary: 'Enable a disabled user', params: s.idParams, body: s.empty, bodyExample: {},
    response: { status: 200, schema: s.user, example: exampleUser }, errors: WRITE_ERRORS,
    handler: async ({ c, actor, params }) => ({ body: await setUserDisabled(c, actor, params.id!, false) }),
  },
  {
    method: 'post', path: '/users/{id}/password', tag: 'users', summary: 'Reset the password (admin-set, or forced: the current one stops working)',
    params: s.idParams, body: s.passwordResetBody, bodyExample: { mode: 'forced' },
    response: { status: 200, schema: s.passwordResetResult, example: { id: exampleUser.id, mode: 'forced', sessions_ended: 1 } }, errors: WRITE_ERRORS,
    handler: async ({ c, actor, params, body }) => ({ body: await resetUserPassword(c, actor, params.id!, body) }),
  },
  {
    method: 'get', path: '/users/{id}/factors', tag: 'users', summary: "List a user's factors", params: s.idParams,
    response: { status: 200, schema: z.array(s.factor), example: [exampleFactor] }, errors: READ_ERRORS,
    handler: async ({ c, params }) => ({ body: await listUserFactors(c, params.id!) }),
  },
  {
    method: 'delete', path: '/users/{id}/factors', tag: 'users', summary: "Remove every factor of a user (four eyes: remove_user_factors)", params: s.idParams, guarded: true,
    response: { status: 200, schema: s.guarded(s.removedFactors), example: { status: 'applied', result: { user_id: exampleUser.id, removed: [exampleFactor], devices_forgotten: 1 } } },
    errors: WRITE_ERRORS,
    handler: async ({ c, actor, params }) => guardedOut(await removeUserFactors(c, actor, params.id!)),
  },
  {
    method: 'delete', path: '/users/{id}/factors/{factorId}', tag: 'users', summary: 'Remove one factor (four eyes: remove_user_factors)', params: s.userFactorParams, guarded: true,
    response: { status: 200, schema: s.guarded(s.removedFactors), example: { status: 'pending', approval: exampleApproval } },
    errors: WRITE_ERRORS,
    handler: async ({ c, actor, params }) => guardedOut(await removeUserFactors(c, actor, params.id!, { factorId: params.factorId! })),
  },
  {
    method: 'get', path: '/users/{id}/sessions', tag: 'users', summary: "List a user's SSO sessions", params: s.idParams,
    response: { status: 200, schema: z.array(s.session), example: [{ id: 'k3Jt0bD9', created_at: T0, last_seen: T0 + 5000, clients: ['c_payments'] }] }, errors: READ_ERRORS,
    handler: async ({ c, params }) => ({ body: await listUserSessions(c, params.id!) }),
  },
  {
    method: 'delete', path: '/users/{id}/sessions', tag: 'users', summary: 'End every session (back-channel logout to the RPs)', params: s.idParams,
    response: { status: 200, schema: s.sessionsEnded, example: { user_id: exampleUser.id, ended: 2 } }, errors: WRITE_ERRORS,
    handler: async ({ c, actor, params }) => ({ body: await endUserSessions(c, actor, params.id!) }),
  },
  {
    method: 'delete', path: '/users/{id}/sessions/{sessionId}', tag: 'users', summary: 'End one session', params: s.userSessionParams,
    response: { status: 200, schema: s.sessionsEnded, example: { user_id: exampleUser.id, ended: 1 } }, errors: WRITE_ERRORS,
    handler: async ({ c, actor, params }) => ({ body: await endUserSessions(c, actor, params.id!, { sessionId: params.sessionId! }) }),
  },
  {
    method: 'get', path: '/users/{id}/devices', tag: 'users', summary: "List a user's devices (remembered ones have remembered_until)", params: s.idParams,
    response: { status: 200, schema: z.array(s.device), example: [{ id: 'd1', device: 'Chrome on Linux', first_seen: T0, last_seen: T0, last_mfa_at: T0, remembered_until: T0 + 30 * 86_400_000 }] },
    errors: READ_ERRORS,
    handler: async ({ c, params }) => ({ body: await listUserDevices(c, params.id!) }),
  },
  {
    method: 'delete', path: '/users/{id}/devices', tag: 'users', summary: 'Forget every remembered device', params: s.idParams,
    response: { status: 200, schema: s.devicesForgotten, example: { user_id: exampleUser.id, forgotten: 1 } }, errors: WRITE_ERRORS,
    handler: async ({ c, actor, params }) => ({ body: await forgetUserDevices(c, actor, params.id!) }),
  },
  {
    method: 'delete', path: '/users/{id}/devices/{deviceId}', tag: 'users', summary: 'Forget one remembered device', params: s.userDeviceParams,
    response: { status: 200, schema: s.devicesForgotten, example: { user_id: exampleUser.id, forgotten: 1 } }, errors: WRITE_ERRORS,
    handler: async ({ c, actor, params }) => ({ body: await forgetUserDevices(c, actor, params.id!, { deviceId: params.deviceId! }) }),
  },
  {
    method: 'get', path: '/users/{id}/recoveries', tag: 'users', summary: "A user's account recoveries (newest first)", params: s.idParams,
    response: { status: 200, schema: z.array(s.recovery), example: [exampleRecovery] }, errors: READ_ERRORS,
    handler: async ({ c, params }) => ({ body: await listUserRecoveries(c, params.id!) }),
  },
  {
    method: 'post', path: '/users/{id}/recoveries', tag: 'users', guarded: true,
    summary: 'Start an account recovery (after an out-of-band identity check; four eyes: start_recovery)',
    params: s.idParams, body: s.startRecoveryBody, bodyExample: { reason: 'lost phone and backup codes', evidence: 'ticket SEC-1234' },
    response: { status: 200, schema: s.guarded(s.startedRecovery), example: { status: 'applied', result: { ...exampleRecovery, notified: { email: 'sent', sms: 0 } } } },
    errors: [...WRITE_ERRORS, 409],
    handler: async ({ c, actor, params, body }) => guardedOut(await startUserRecovery(c, actor, params.id!, body)),
  },
  {
    method: 'post', path: '/recoveries/{id}/cancel', tag: 'users', summary: 'Cancel a pending recovery', params: s.idParams, body: s.empty, bodyExample: {},
    response: { status: 200, schema: s.recovery, example: { ...exampleRecovery, status: 'cancelled', cancelled_at: '2025-12-01T01:00:00.000Z', cancelled_by: 'svc_ops' } },
    errors: [...WRITE_ERRORS, 409],
    handler: async ({ c, actor, params }) => ({ body: await cancelUserRecovery(c, actor, params.id!) }),
  },
  // ---------------------------------------------------------------- clients
  {
    method: 'get', path: '/clients', tag: 'clients', summary: 'List clients', query: s.clientSearchQuery,
    response: { status: 200, schema: s.page(s.client), example: { items: [exampleClient], next_cursor: null } }, errors: [400, 401, 403],
    handler: async ({ c, query }) => ({ body: await listClients(c, query) }),
  },
  {
    method: 'post', path: '/clients', tag: 'clients', summary: 'Create a relying party (client_secret shown once)', body: s.createClientBody,
    bodyExample: { redirect_uris: ['https://pay.example/cb'], client_name: 'Payments' },
    response: { status: 201, schema: s.createdClient, example: { client_id: 'c_payments', client_secret: 'q1w2e3r4t5y6u7i8o9p0', redirect_uris: ['https://pay.example/cb'] } },
    errors: [400, 401, 403, 409],
    handler: async ({ c, actor, body }) => ({
      status: 201,
      body: await createClient(c, {
        redirectUris: body.redirect_uris,
        postLogoutRedirectUris: body.post_logout_redirect_uris,
        name: body.client_name,
        clientId: body.client_id,
        public: body.public,
        firstParty: body.first_party,
        allowedOrigins: body.allowed_origins,
        dpop: body.dpop,
        backchannelLogoutUri: body.backchannel_logout_uri,
        authMethod: body.token_endpoint_auth_method as ClientAuthMethod | undefined,
        jwks: body.jwks,
        jwksUri: body.jwks_uri,
        actor,
      }),
    }),
  },
  {
    method: 'post', path: '/service-clients', tag: 'clients', summary: 'Create a machine client (client_credentials only; client_secret shown once)', body: s.createServiceClientBody,
    bodyExample: { scopes: ['stepwise:admin:read'], client_name: 'SIEM export' },
    response: { status: 201, schema: s.createdServiceClient, example: { client_id: 'svc_siem', client_secret: 'q1w2e3r4t5y6u7i8o9p0', client_name: 'SIEM export', grant_types: ['client_credentials'], scope: 'stepwise:admin:read' } },
    errors: [400, 401, 403, 409],
    handler: async ({ c, actor, body }) => ({ status: 201, body: await createServiceClient(c, { scopes: body.scopes, name: body.client_name, actor }) }),
  },
  {
    method: 'get', path: '/clients/{id}', tag: 'clients', summary: 'Get a client (with its ETag)', params: s.idParams, etag: true,
    response: { status: 200, schema: s.client, example: exampleClient }, errors: READ_ERRORS,
    handler: async ({ c, params }) => {
      const client = await getClient(c, params.id!);
      return { body: client, etag: client.etag };
    },
  },
  {
    method: 'patch', path: '/clients/{id}', tag: 'clients', summary: 'Update a client (If-Match)', params: s.idParams, body: s.clientPatchBody, etag: true,
    bodyExample: { client_name: 'Payments (EU)', redirect_uris: ['https://pay.example/cb', 'https://eu.pay.example/cb'] },
    response: { status: 200, schema: s.client, example: exampleClient }, errors: [...WRITE_ERRORS, 409],
    handler: async ({ c, actor, params, body, ifMatch }) => {
      const client = await updateClient(c, actor, params.id!, body, { ifMatch });
      return { body: client, etag: client.etag };
    },
  },
  {
    method: 'delete', path: '/clients/{id}', tag: 'clients', summary: 'Delete a client (If-Match)', params: s.idParams, etag: true,
    response: { status: 200, schema: s.deletedClient, example: { client_id: 'c_payments', deleted: true } }, errors: [...WRITE_ERRORS, 409],
    handler: async ({ c, actor, params, ifMatch }) => ({ body: await deleteClient(c, actor, params.id!, { ifMatch }) }),
  },
  {
    method: 'post', path: '/clients/{id}/secret', tag: 'clients', summary: 'Rotate the client secret; the old one keeps working for overlap_seconds', params: s.idParams, etag: true,
    body: s.rotateSecretBody, bodyExample: { overlap_seconds: 3600 },
    response: { status: 200, schema: s.rotatedSecret, example: { client_id: 'c_payments', client_secret: 'n3w-s3cr3t', previous_secret_expires_at: T0 + 3_600_000, etag: exampleClient.etag } },
    errors: [...WRITE_ERRORS, 409],
    handler: async ({ c, actor, params, body, ifMatch }) => {
      const rotated = await rotateClientSecret(c, actor, params.id!, { overlapSeconds: body.overlap_seconds, ifMatch });
      return { body: rotated, etag: rotated.etag };
    },
  },
  {
    method: 'get', path: '/clients/{id}/policy', tag: 'clients', summary: "Get a client's assurance policy (with its ETag)", params: s.idParams, etag: true,
    response: { status: 200, schema: s.clientPolicy, example: { client_id: 'c_payments', policy: examplePolicy, etag: exampleClient.etag } }, errors: READ_ERRORS,
    handler: async ({ c, params }) => {
      const p = await getClientPolicy(c, params.id!);
      return { body: p, etag: p.etag };
    },
  },
  {
    method: 'put', path: '/clients/{id}/policy', tag: 'clients', etag: true, guarded: true,
    summary: "Replace a client's assurance policy (If-Match; refused if it locks everyone out; four eyes when it lowers the minimum)",
    params: s.idParams, body: s.policy, bodyExample: examplePolicy,
    response: { status: 200, schema: s.guarded(s.clientPolicy), example: { status: 'applied', result: { client_id: 'c_payments', policy: examplePolicy, etag: exampleClient.etag } } },
    errors: [...WRITE_ERRORS, 409],
    handler: async ({ c, actor, params, body, ifMatch }) => {
      const g = await setClientPolicy(c, actor, params.id!, body, { ifMatch });
      return { ...guardedOut(g), ...(g.status === 'applied' ? { etag: g.result.etag } : {}) };
    },
  },
  // ---------------------------------------------------------------- levels, keys
  {
    method: 'get', path: '/levels', tag: 'levels', summary: 'The assurance level table',
    response: { status: 200, schema: z.array(s.level), example: [{ acr: 'loa2', level: 2, max_age_seconds: 43_200, min_factors: 2, phishing_resistant: false }] }, errors: [401, 403],
    handler: async ({ c }) => ({ body: listLevels(c) }),
  },
  {
    method: 'get', path: '/keys', tag: 'keys', summary: 'Signing keys (metadata only)',
    response: { status: 200, schema: z.array(s.signingKey), example: [{ kid: 'Vb1x0eS7hQ2mK9pL', alg: 'RS256', created_at: T0, retired_at: null, status: 'signing' }] }, errors: [401, 403],
    handler: async ({ c }) => ({ body: await listKeys(c) }),
  },
  {
    method: 'post', path: '/keys/rotate', tag: 'keys', summary: 'Rotate the signing key', body: s.empty, bodyExample: {},
    response: { status: 200, schema: s.rotatedKeys, example: { kid: 'Xc2y1fT8iR3nL0qM', retired: ['Vb1x0eS7hQ2mK9pL'], activates_at: '2025-12-01T00:05:00.000Z' } }, errors: [400, 401, 403],
    handler: async ({ c, actor }) => ({ body: await rotateKeys(c, actor) }),
  },
  // ---------------------------------------------------------------- audit
  {
    method: 'get', path: '/audit/events', tag: 'audit', summary: 'Search audit events (newest first, cursor paging)',
    query: auditFilterSchema.extend({ cursor: s.pageQuery.shape.cursor, limit: s.pageQuery.shape.limit }),
    response: { status: 200, schema: s.page(s.auditEvent), example: { items: [exampleEvent], next_cursor: 'Mzk' } }, errors: [400, 401, 403],
    handler: async ({ c, query }) => ({ body: await queryAuditEvents(c, { ...auditFilterFrom(query), cursor: query.cursor, limit: query.limit }) }),
  },
  {
    method: 'get', path: '/audit/events.ndjson', tag: 'audit', summary: 'Export matching audit events as NDJSON (oldest first)', query: auditFilterSchema,
    response: { status: 200, schema: s.auditEvent, example: exampleEvent, contentType: 'application/x-ndjson', description: 'one audit event (this schema) per line' },
    errors: [400, 401, 403],
    handler: async ({ c, query, ctx }) => {
      ctx.set('Content-Disposition', 'attachment; filename="audit-events.ndjson"');
      return { body: exportAuditEvents(c, auditFilterFrom(query)) };
    },
  },
  // ---------------------------------------------------------------- approvals
  {
    method: 'get', path: '/approvals', tag: 'approvals', summary: 'Four-eyes actions (newest first)', query: s.approvalsQuery,
    response: { status: 200, schema: s.page(s.approval), example: { items: [exampleApproval], next_cursor: null } }, errors: [400, 401, 403],
    handler: async ({ c, query }) => ({ body: await listApprovals(c, query) }),
  },
  {
    method: 'get', path: '/approvals/{id}', tag: 'approvals', summary: 'One four-eyes action', params: s.idParams,
    response: { status: 200, schema: s.approval, example: exampleApproval }, errors: READ_ERRORS,
    handler: async ({ c, params }) => ({ body: await getApproval(c, params.id!) }),
  },
  {
    method: 'post', path: '/approvals/{id}/approve', tag: 'approvals', summary: 'Approve (a different admin than the requester); the action runs once', params: s.idParams, body: s.empty, bodyExample: {},
    response: { status: 200, schema: s.approval, example: { ...exampleApproval, status: 'executed', decided_by: 'svc_security', decided_at: T0 + 60_000, executed_at: T0 + 60_000, result: { user_id: exampleUser.id, removed: [], devices_forgotten: 0 } } },
    errors: [...WRITE_ERRORS, 409],
    handler: async ({ c, actor, params }) => ({ body: await approveAction(c, actor, params.id!) }),
  },
  {
    method: 'post', path: '/approvals/{id}/reject', tag: 'approvals', summary: 'Reject (or, by the requester, withdraw)', params: s.idParams, body: s.empty, bodyExample: {},
    response: { status: 200, schema: s.approval, example: { ...exampleApproval, status: 'rejected', decided_by: 'svc_security', decided_at: T0 + 60_000 } },
    errors: [...WRITE_ERRORS, 409],
    handler: async ({ c, actor, params }) => ({ body: await rejectAction(c, actor, params.id!) }),
  },
];
