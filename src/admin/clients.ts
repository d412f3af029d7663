/**
 * OIDC clients, for security teams (API, console, CLI): list, view, create (./service.ts), update, delete,
 * rotate the secret with an overlap window, and the assurance policy (min level, allowed factors, level
 * max ages, lower acr, enroll-on-unmet, sensitive scopes).
 *
 * Concurrency: every client has an ETag (a hash of its stored row). A write given `ifMatch` applies only
 * if the row is still the one that ETag names — checked by the UPDATE itself (compare-and-swap on the row),
 * so of two racing edits from the same ETag exactly one wins and the other gets 409 conflict.
 * Four eyes: a policy change that lowers the client's minimum level is `lower_client_minimum`.
 */
import { createHash } from 'node:crypto';
import { readClientPolicy, type ClientPolicy } from '../policy/client-policy.js';
import { clientSecretContext } from '../store/repos/clients.js';
import { randomToken } from '../security/crypto.js';
import { AppError, guardStore } from '../errors/index.js';
import { ALLOWED_ORIGINS_PROPERTY } from '../oidc/cors.js';
import { backchannelMetadata, checkAllowedOrigins, checkRedirectUris } from './service.js';
import { checkClientPolicy, minimumLevel } from './policy-check.js';
import { guarded, registerGuardedAction } from './pending.js';
import { auditAdmin, decodeCursor, encodeCursor, pageLimit, type Actor, type AdminContext, type Guarded, type Page, type PageRequest } from './types.js';
import { INTERNAL_CLIENT_IDS } from './console/session.js';

/** A client as admins see it: its metadata, never its secret. */
export interface ClientView {
  client_id: string;
  client_name: string;
  first_party: boolean;
  /** A machine client (client_credentials only). */
  service: boolean;
  token_endpoint_auth_method: string;
  grant_types: string[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  allowed_origins: string[];
  backchannel_logout_uri: string | null;
  scope: string | null;
  policy: ClientPolicy;
  /** The previous secret still works until then (epoch ms), after a rotation with an overlap. */
  previous_secret_expires_at: number | null;
  created_at: number;
  /** Pass back as If-Match (API) / `ifMatch` to make the next write conditional. */
  etag: string;
}

interface ClientRow {
  client_id: string;
  secret_enc: string | null;
  metadata: string;
  first_party: boolean | number;
  created_at: number | string;
}

const etagOf = (r: ClientRow): string =>
  `"${createHash('sha256').update(JSON.stringify([r.metadata, r.secret_enc ?? null, Boolean(r.first_party)])).digest('base64url').slice(0, 22)}"`;

async function readRow(c: AdminContext, clientId: string): Promise<ClientRow | undefined> {
  return guardStore(() => c.db('clients').where({ client_id: clientId }).first()) as Promise<ClientRow | undefined>;
}

async function requireRow(c: AdminContext, clientId: string): Promise<ClientRow> {
  const row = await readRow(c, clientId);
  if (!row) throw new AppError('not_found', `no client ${clientId}`);
  return row;
}

function assertMatches(row: ClientRow, ifMatch: string | undefined): void {
  if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== etagOf(row)) {
    throw new AppError('conflict', `client ${row.client_id} was changed since ETag ${ifMatch} (now ${etagOf(row)}); read it again`);
  }
}

/** Internal clients (account pages, admin console) are managed by Stepwise itself. */
function assertEditable(clientId: string): void {
  if (INTERNAL_CLIENT_IDS.has(clientId)) throw new AppError('forbidden', `${clientId} is an internal client of Stepwise and cannot be changed here`);
}

/** Compare-and-swap on the whole row: applies only if nobody wrote it since `row` was read. */
async function swapRow(c: AdminContext, row: ClientRow, next: { metadata: Record<string, unknown>; first_party?: boolean; secret_enc?: string | null }): Promise<void> {
  const n = await guardStore(() => {
    let q = c.db('clients').where({ client_id: row.client_id, metadata: row.metadata });
    q = row.secret_enc === null ? q.whereNull('secret_enc') : q.where({ secret_enc: row.secret_enc });
    return q.update({
      metadata: JSON.stringify(next.metadata),
      ...(next.first_party !== undefined ? { first_party: next.first_party } : {}),
      ...(next.secret_enc !== undefined ? { secret_enc: next.secret_enc } : {}),
    });
  });
  if (n !== 1) throw new AppError('conflict', `client ${row.client_id} was changed by someone else meanwhile; read it again`);
}

async function previousSecretExpiry(c: AdminContext, clientId: string): Promise<number | null> {
  const prev = await guardStore(() => c.db('client_previous_secrets').where({ client_id: clientId }).andWhere('expires_at', '>', c.now()).first('expires_at'));
  return prev ? Number(prev.expires_at) : null;
}

function toView(row: ClientRow, previousExpiry: number | null): ClientView {
  const m = JSON.parse(row.metadata) as Record<string, unknown>;
  const grants = (m.grant_types as string[] | undefined) ?? ['authorization_code'];
  return {
    client_id: row.client_id,
    client_name: String(m.client_name ?? row.client_id),
    first_party: Boolean(row.first_party),
    service: grants.length === 1 && grants[0] === 'client_credentials',
    token_endpoint_auth_method: String(m.token_endpoint_auth_method ?? 'client_secret_basic'),
    grant_types: grants,
    redirect_uris: (m.redirect_uris as string[] | undefined) ?? [],
    post_logout_redirect_uris: (m.post_logout_redirect_uris as string[] | undefined) ?? [],
    allowed_origins: (m[ALLOWED_ORIGINS_PROPERTY] as string[] | undefined) ?? [],
    backchannel_logout_uri: (m.backchannel_logout_uri as string | undefined) ?? null,
    scope: (m.scope as string | undefined) ?? null,
    policy: readClientPolicy(m),
    previous_secret_expires_at: previousExpiry,
    created_at: Number(row.created_at),
    etag: etagOf(row),
  };
}

export async function getClient(c: AdminContext, clientId: string): Promise<ClientView> {
  const row = await requireRow(c, clientId);
  return toView(row, await previousSecretExpiry(c, clientId));
}

const isIdCursor = (v: unknown): v is string => typeof v === 'string';

/** Clients ordered by client_id; `q` matches a substring of the id or name. */
export async function listClients(c: AdminContext, search: PageRequest & { q?: string } = {}): Promise<Page<ClientView>> {
  const limit = pageLimit(search.limit);
  const after = decodeCursor(search.cursor, isIdCursor);
  const rows = (await guardStore(() => {
    let q = c.db('clients').orderBy('client_id', 'asc').limit(limit + 1);
    if (after !== undefined) q = q.where('client_id', '>', after);
    if (search.q) {
      const needle = `%${search.q.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
      q = q.where((w) => w.whereRaw(`lower(client_id) like ? escape '\\'`, [needle]).orWhereRaw(`lower(metadata) like ? escape '\\'`, [needle]));
    }
    return q;
  })) as ClientRow[];
  const now = c.now();
  const prev = await guardStore(() => c.db('client_previous_secrets').whereIn('client_id', rows.map((r) => r.client_id)).andWhere('expires_at', '>', now));
  const expiry = new Map(prev.map((p) => [p.client_id as string, Number(p.expires_at)]));
  const items = rows.slice(0, limit).map((r) => toView(r, expiry.get(r.client_id) ?? null));
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(last.client_id) : null };
}

/** The editable metadata; absent fields stay, `null` removes an optional one. */
export interface ClientPatch {
  client_name?: string;
  first_party?: boolean;
  redirect_uris?: string[];
  post_logout_redirect_uris?: string[];
  allowed_origins?: string[];
  backchannel_logout_uri?: string | null;
}

export async function updateClient(c: AdminContext, actor: Actor, clientId: string, patch: ClientPatch, opts: { ifMatch?: string } = {}): Promise<ClientView> {
  assertEditable(clientId);
  const row = await requireRow(c, clientId);
  assertMatches(row, opts.ifMatch);
  const metadata = JSON.parse(row.metadata) as Record<string, unknown>;
  const service = toView(row, null).service;
  if (service && (patch.redirect_uris || patch.post_logout_redirect_uris || patch.allowed_origins || patch.backchannel_logout_uri)) {
    throw new AppError('invalid_form', 'a service client has no redirect URIs, origins or logout URI', 'redirect_uris');
  }
  if (patch.client_name !== undefined) metadata.client_name = patch.client_name;
  if (patch.redirect_uris !== undefined || patch.post_logout_redirect_uris !== undefined) {
    const redirect = patch.redirect_uris ?? (metadata.redirect_uris as string[]);
    const postLogout = patch.post_logout_redirect_uris ?? ((metadata.post_logout_redirect_uris as string[] | undefined) ?? []);
    checkRedirectUris(redirect, postLogout);
    metadata.redirect_uris = redirect;
    metadata.post_logout_redirect_uris = postLogout;
  }
  if (patch.allowed_origins !== undefined) {
    const origins = checkAllowedOrigins(c.config, patch.allowed_origins);
    if (origins.length) metadata[ALLOWED_ORIGINS_PROPERTY] = origins;
    else delete metadata[ALLOWED_ORIGINS_PROPERTY];
  }
  if (patch.backchannel_logout_uri !== undefined) {
    delete metadata.backchannel_logout_uri;
    delete metadata.backchannel_logout_session_required;
    if (patch.backchannel_logout_uri !== null) Object.assign(metadata, backchannelMetadata({ backchannelLogoutUri: patch.backchannel_logout_uri }, c.config.env === 'production'));
  }
  await swapRow(c, row, { metadata, ...(patch.first_party !== undefined ? { first_party: patch.first_party } : {}) });
  await auditAdmin(c, actor, { type: 'client.updated', clientId, details: { fields: Object.keys(patch) } });
  return getClient(c, clientId);
}

/** Deletes the client; its tokens stop working (oidc-provider no longer finds it). */
export async function deleteClient(c: AdminContext, actor: Actor, clientId: string, opts: { ifMatch?: string } = {}): Promise<{ client_id: string; deleted: true }> {
  assertEditable(clientId);
  const row = await requireRow(c, clientId);
  assertMatches(row, opts.ifMatch);
  const n = await guardStore(() =>
    c.db.transaction(async (trx): Promise<number> => {
      await trx('client_previous_secrets').where({ client_id: clientId }).del();
      return Number(await trx('clients').where({ client_id: clientId, metadata: row.metadata }).del());
    }),
  );
  if (n !== 1) throw new AppError('conflict', `client ${clientId} was changed by someone else meanwhile; read it again`);
  await auditAdmin(c, actor, { type: 'client.deleted', clientId });
  return { client_id: clientId, deleted: true };
}

export const MAX_SECRET_OVERLAP_SECONDS = 30 * 24 * 3600;

/**
 * A new client secret, shown once. The old one keeps authenticating for `overlapSeconds` (0 = ends now),
 * so the client can be redeployed without downtime; rotating again ends any older overlap at once.
 */
export async function rotateClientSecret(
  c: AdminContext,
  actor: Actor,
  clientId: string,
  opts: { overlapSeconds?: number; ifMatch?: string } = {},
): Promise<{ client_id: string; client_secret: string; previous_secret_expires_at: number | null; etag: string }> {
  assertEditable(clientId);
  const overlap = opts.overlapSeconds ?? 0;
  if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_SECRET_OVERLAP_SECONDS) {
    throw new AppError('invalid_form', `overlap_seconds must be an integer from 0 to ${MAX_SECRET_OVERLAP_SECONDS}`, 'overlap_seconds');
  }
  const row = await requireRow(c, clientId);
  assertMatches(row, opts.ifMatch);
  if (!row.secret_enc) throw new AppError('invalid_form', `client ${clientId} authenticates without a shared secret (${toView(row, null).token_endpoint_auth_method})`, 'client_id');
  const secret = randomToken(32);
  const expiresAt = overlap > 0 ? c.now() + overlap * 1000 : null;
  const oldSecret = c.box.decryptString(row.secret_enc, clientSecretContext(clientId));
  await guardStore(() =>
    c.db.transaction(async (trx) => {
      const n = await trx('clients')
        .where({ client_id: clientId, metadata: row.metadata, secret_enc: row.secret_enc })
        .update({ secret_enc: c.box.encrypt(secret, clientSecretContext(clientId)) });
      if (n !== 1) throw new AppError('conflict', `client ${clientId} was changed by someone else meanwhile; read it again`);
      await trx('client_previous_secrets').where({ client_id: clientId }).del();
      if (expiresAt !== null) {
        await trx('client_previous_secrets').insert({ client_id: clientId, secret_enc: c.box.encrypt(oldSecret, previousSecretContext(clientId)), expires_at: expiresAt });
      }
    }),
  );
  await auditAdmin(c, actor, { type: 'client.secret.rotated', clientId, details: { overlapSeconds: overlap } });
  return { client_id: clientId, client_secret: secret, previous_secret_expires_at: expiresAt, etag: (await getClient(c, clientId)).etag };
}

/** SecretBox context of a client's previous (overlapping) secret. */
export const previousSecretContext = (clientId: string): string => `client-previous:${clientId}`;

export async function getClientPolicy(c: AdminContext, clientId: string): Promise<{ client_id: string; policy: ClientPolicy; etag: string }> {
  const view = await getClient(c, clientId);
  return { client_id: clientId, policy: view.policy, etag: view.etag };
}

export interface PolicyResult {
  client_id: string;
  policy: ClientPolicy;
  etag: string;
}

async function writePolicy(c: AdminContext, actor: Actor, clientId: string, policy: ClientPolicy, ifMatch: string | undefined, approvedBy?: string): Promise<PolicyResult> {
  const row = await requireRow(c, clientId);
  assertMatches(row, ifMatch);
  const metadata = JSON.parse(row.metadata) as Record<string, unknown>;
  // Checked again at write time: a pending change is re-validated when it is approved.
  const checked = checkClientPolicy({ levels: c.levels, apiScopes: c.config.apiScopes, publicClient: metadata.token_endpoint_auth_method === 'none' }, policy);
  metadata.stepwise_policy = checked;
  await swapRow(c, row, { metadata });
  await auditAdmin(c, actor, { type: 'client.policy.updated', clientId, details: { policy: checked, ...(approvedBy ? { approvedBy } : {}) } });
  return { client_id: clientId, policy: checked, etag: (await getClient(c, clientId)).etag };
}

registerGuardedAction('lower_client_minimum', (c, params, who) =>
  // The ETag of the request: if the client changed since, the approved change is refused (409), not merged.
  writePolicy(c, who.requester, String(params.clientId), params.policy as ClientPolicy, String(params.etag), who.approver.id),
);

/**
 * Replaces the client's assurance policy (validated, and refused when it would lock everyone out). A
 * change that lowers the minimum level goes through four eyes when the policy file says so.
 */
export async function setClientPolicy(c: AdminContext, actor: Actor, clientId: string, policy: unknown, opts: { ifMatch?: string } = {}): Promise<Guarded<PolicyResult>> {
  assertEditable(clientId);
  const row = await requireRow(c, clientId);
  assertMatches(row, opts.ifMatch);
  const metadata = JSON.parse(row.metadata) as Record<string, unknown>;
  const checked = checkClientPolicy({ levels: c.levels, apiScopes: c.config.apiScopes, publicClient: metadata.token_endpoint_auth_method === 'none' }, policy);
  const current = readClientPolicy(metadata);
  const before = minimumLevel(c.levels, current);
  const after = minimumLevel(c.levels, checked);
  const etag = etagOf(row);
  if (after >= before) return { status: 'applied', result: await writePolicy(c, actor, clientId, checked, etag) };
  return guarded(
    c,
    actor,
    'lower_client_minimum',
    {
      params: { clientId, policy: checked, etag },
      summary: `lower the minimum level of ${clientId} from ${current.min_acr ?? 'none'} (${before}) to ${checked.min_acr ?? 'none'} (${after})`,
      clientId,
    },
    () => writePolicy(c, actor, clientId, checked, etag),
  );
}
