/**
 * Users, for security teams (API, console, CLI): search, view, disable/enable, reset the password, list and
 * remove factors (four eyes: `remove_user_factors`), list and end SSO sessions (with back-channel logout,
 * c.userSessions), list and forget remembered devices. Every write is audited with the admin (`actor`).
 *
 * Creating a user is createUser() in ./service.ts (shared with the seed).
 */
import { PasswordResets } from '../account/password-reset.js';
import type { User } from '../store/repos/users.js';
import { normaliseEmail } from '../store/repos/users.js';
import type { FactorRecord } from '../store/repos/factors.js';
import type { DeviceRecord } from '../store/repos/devices.js';
import { randomToken } from '../security/crypto.js';
import { AppError, guardStore } from '../errors/index.js';
import { auditAdmin, decodeCursor, encodeCursor, pageLimit, type Actor, type AdminContext, type Guarded, type Page, type PageRequest } from './types.js';
import { guarded, registerGuardedAction } from './pending.js';

export interface UserView {
  id: string;
  email: string;
  name: string | null;
  disabled: boolean;
  service_account: boolean;
  created_at: number;
  first_sign_in_at: number | null;
  /** The user's language (users.locale), read-only: remembered at sign-in and from the switcher. */
  locale: string | null;
}

export interface FactorView {
  id: string;
  kind: FactorRecord['kind'];
  name: string;
  status: FactorRecord['status'];
  created_at: number;
  last_used_at: number | null;
}

export interface SessionView {
  id: string;
  created_at: number;
  last_seen: number | null;
  clients: string[];
}

export interface DeviceView {
  id: string;
  device: string;
  first_seen: number;
  last_seen: number;
  last_mfa_at: number | null;
  remembered_until: number | null;
}

export function userView(u: User): UserView {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    disabled: u.disabled,
    service_account: u.serviceAccount,
    created_at: u.createdAt,
    first_sign_in_at: u.firstSignInAt,
    locale: u.locale,
  };
}

/** A users row (search results) in the same shape as userView(). */
const rowView = (r: Record<string, unknown>): UserView => ({
  id: r.id as string,
  email: r.email as string,
  name: (r.name as string | null) ?? null,
  disabled: Boolean(r.disabled),
  service_account: Boolean(r.service_account),
  created_at: Number(r.created_at),
  first_sign_in_at: r.first_sign_in_at === null || r.first_sign_in_at === undefined ? null : Number(r.first_sign_in_at),
  locale: typeof r.locale === 'string' && r.locale !== '' ? r.locale : null,
});

const factorView = (f: FactorRecord): FactorView => ({ id: f.id, kind: f.kind, name: f.name, status: f.status, created_at: f.createdAt, last_used_at: f.lastUsedAt });

const deviceView = (d: DeviceRecord, now: number): DeviceView => ({
  id: d.id,
  device: d.uaFamily,
  first_seen: d.firstSeen,
  last_seen: d.lastSeen,
  last_mfa_at: d.lastMfaAt,
  remembered_until: d.rememberedUntil !== null && d.rememberedUntil > now ? d.rememberedUntil : null,
});

export async function requireUser(c: AdminContext, id: string): Promise<User> {
  const user = await c.users.findById(id);
  if (!user) throw new AppError('not_found', `no user ${id}`);
  return user;
}

export interface UserSearch extends PageRequest {
  /** Substring of the email or name (case-insensitive). */
  q?: string;
  disabled?: boolean;
}

const isEmailCursor = (v: unknown): v is string => typeof v === 'string';

/** Users ordered by email; `q` matches a substring of email or name. */
export async function searchUsers(c: AdminContext, search: UserSearch = {}): Promise<Page<UserView>> {
  const limit = pageLimit(search.limit);
  const after = decodeCursor(search.cursor, isEmailCursor);
  const rows = await guardStore(() => {
    let q = c.db('users').orderBy('email', 'asc').limit(limit + 1);
    if (search.q) {
      // LIKE with the wildcards escaped: the search text is literal.
      const needle = `%${search.q.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
      q = q.where((w) => w.whereRaw(`lower(email) like ? escape '\\'`, [needle]).orWhereRaw(`lower(coalesce(name, '')) like ? escape '\\'`, [needle]));
    }
    if (search.disabled !== undefined) q = q.where({ disabled: search.disabled });
    if (after !== undefined) q = q.where('email', '>', after);
    return q;
  });
  const items = rows.slice(0, limit).map(rowView);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(last.email) : null };
}

export async function getUser(c: AdminContext, id: string): Promise<UserView> {
  return userView(await requireUser(c, id));
}

export async function findUserByEmail(c: AdminContext, email: string): Promise<UserView> {
  const user = await c.users.findByEmail(normaliseEmail(email));
  if (!user) throw new AppError('not_found', `no user with email ${email}`);
  return userView(user);
}

/**
 * Disables (or re-enables) a user. Disabling ends every session (RPs with back-channel logout are told)
 * and every token at once; a disabled user cannot sign in.
 */
export async function setUserDisabled(c: AdminContext, actor: Actor, id: string, disabled: boolean): Promise<UserView & { sessions_ended?: number }> {
  await requireUser(c, id);
  const now = c.now();
  await guardStore(() => c.db('users').where({ id }).update({ disabled, updated_at: now }));
  let sessionsEnded: number | undefined;
  if (disabled) {
    await c.users.endTokens(id, now);
    sessionsEnded = (await c.userSessions.endAll(id, { reason: 'admin_disabled' })).ended;
  }
  await auditAdmin(c, actor, { type: disabled ? 'user.disabled' : 'user.enabled', userId: id, details: sessionsEnded !== undefined ? { sessionsEnded } : {} });
  return { ...(await getUser(c, id)), ...(sessionsEnded !== undefined ? { sessions_ended: sessionsEnded } : {}) };
}

/**
 * Admins never set a user's password (ASVS 5 §6.4.6, checklist 135): they start a reset. Either way the
 * current password stops working at once and every session, token and remembered device ends.
 *  - `email`: the user gets the password-reset link (30 minutes, single use) and sets a new password.
 *  - `forced`: nothing is sent; the user gets back in through "Forgot password?" or an admin recovery. Use it
 *    when the password is known to be compromised and the mailbox may be too.
 */
export type PasswordReset = { mode: 'email' } | { mode: 'forced' };

export async function resetUserPassword(c: AdminContext, actor: Actor, id: string, reset: PasswordReset): Promise<{ id: string; mode: PasswordReset['mode']; sessions_ended: number }> {
  const user = await requireUser(c, id);
  // Nobody knows this value: the hash stays a valid argon2id hash that no password matches.
  const hash = await c.hasher.hash(randomToken(48));
  const now = c.now();
  await guardStore(() =>
    c.db.transaction(async (trx) => {
      await trx('users').where({ id }).update({ password_hash: hash, updated_at: now });
      await c.users.endTokens(id, now, trx);
      await c.devices.forget(id, undefined, trx);
    }),
  );
  const { ended } = await c.userSessions.endAll(id, { reason: 'admin_password_reset' });
  await auditAdmin(c, actor, { type: 'user.password.reset', userId: id, details: { mode: reset.mode, sessionsEnded: ended } });
  // The link is issued for the new (unknown) hash, so it is the only way back in; an older link is void.
  if (reset.mode === 'email') await new PasswordResets(c).sendLink(user.email, { ip: actor.ip ?? 'admin', returnTo: null });
  return { id, mode: reset.mode, sessions_ended: ended };
}

export async function listUserFactors(c: AdminContext, id: string): Promise<FactorView[]> {
  await requireUser(c, id);
  return (await c.factors.listByUser(id)).filter((f) => f.kind !== 'password').map(factorView);
}

export interface RemovedFactors {
  user_id: string;
  removed: FactorView[];
  devices_forgotten: number;
}

/** The executor: removes the factors (one, or all), ends every token and forgets remembered devices. */
async function executeRemoveFactors(c: AdminContext, actor: Actor, userId: string, factorId: string | undefined, approvedBy?: string): Promise<RemovedFactors> {
  await requireUser(c, userId);
  const all = await c.factors.listByUser(userId);
  const targets = all.filter((f) => f.kind !== 'password' && (factorId === undefined || f.id === factorId));
  if (factorId !== undefined && targets.length === 0) throw new AppError('not_found', `user ${userId} has no factor ${factorId}`);
  const devicesForgotten = await guardStore(() =>
    c.db.transaction(async (trx) => {
      for (const f of targets) await c.factors.remove(userId, f.id, trx);
      if (targets.some((f) => f.kind === 'backup_code')) await c.factorService.registry.backup_code.removeCodes(userId, trx);
      if (!targets.some((f) => f.status === 'active')) return 0;
      // As when the user removes one: every token issued while the factor existed ends with it.
      await c.users.endTokens(userId, c.now(), trx);
      return c.devices.forget(userId, undefined, trx);
    }),
  );
  await auditAdmin(c, actor, {
    type: 'factor.removed',
    userId,
    details: { factorIds: targets.map((f) => f.id), kinds: targets.map((f) => f.kind), devicesForgotten, ...(approvedBy ? { approvedBy } : {}) },
  });
  return { user_id: userId, removed: targets.map(factorView), devices_forgotten: devicesForgotten };
}

registerGuardedAction('remove_user_factors', (c, params, who) =>
  executeRemoveFactors(c, who.requester, String(params.userId), params.factorId === undefined ? undefined : String(params.factorId), who.approver.id),
);

/**
 * Removes one factor (`factorId`) or every factor of the user. Under four eyes (`remove_user_factors`) it
 * is created pending instead. An admin may remove the last second factor (that is how a user who lost it
 * is helped); enforcement then asks them to enroll again.
 */
export async function removeUserFactors(c: AdminContext, actor: Actor, userId: string, opts: { factorId?: string } = {}): Promise<Guarded<RemovedFactors>> {
  const user = await requireUser(c, userId);
  if (opts.factorId !== undefined) {
    const factor = await c.factors.findById(opts.factorId);
    if (!factor || factor.userId !== userId || factor.kind === 'password') throw new AppError('not_found', `user ${userId} has no factor ${opts.factorId}`);
  }
  const what = opts.factorId === undefined ? 'every factor' : `factor ${opts.factorId}`;
  return guarded(
    c,
    actor,
    'remove_user_factors',
    { params: { userId, ...(opts.factorId !== undefined ? { factorId: opts.factorId } : {}) }, summary: `remove ${what} of ${user.email}`, userId },
    () => executeRemoveFactors(c, actor, userId, opts.factorId),
  );
}

export async function listUserSessions(c: AdminContext, id: string): Promise<SessionView[]> {
  await requireUser(c, id);
  return (await c.userSessions.list(id)).map((s) => ({ id: s.uid, created_at: s.createdAt, last_seen: s.lastSeen ?? null, clients: s.clients }));
}

/** Ends one session (`sessionId`) or all of them; their RPs get back-channel logout tokens. */
export async function endUserSessions(c: AdminContext, actor: Actor, id: string, opts: { sessionId?: string } = {}): Promise<{ user_id: string; ended: number }> {
  await requireUser(c, id);
  let ended: number;
  if (opts.sessionId !== undefined) {
    if (!(await c.userSessions.endOne(id, opts.sessionId, { reason: 'admin' }))) throw new AppError('not_found', `user ${id} has no session ${opts.sessionId}`);
    ended = 1;
  } else {
    ended = (await c.userSessions.endAll(id, { reason: 'admin' })).ended;
  }
  await auditAdmin(c, actor, { type: 'session.revoked', userId: id, details: { ended, ...(opts.sessionId ? { sessionId: opts.sessionId } : { all: true }) } });
  return { user_id: id, ended };
}

export async function listUserDevices(c: AdminContext, id: string): Promise<DeviceView[]> {
  await requireUser(c, id);
  const now = c.now();
  return (await c.devices.listByUser(id)).map((d) => deviceView(d, now));
}

/** Forgets one remembered device (`deviceId`) or all: they stop sparing risk prompts. */
export async function forgetUserDevices(c: AdminContext, actor: Actor, id: string, opts: { deviceId?: string } = {}): Promise<{ user_id: string; forgotten: number }> {
  await requireUser(c, id);
  if (opts.deviceId !== undefined && !(await c.devices.listByUser(id)).some((d) => d.id === opts.deviceId)) {
    throw new AppError('not_found', `user ${id} has no device ${opts.deviceId}`);
  }
  const forgotten = await c.devices.forget(id, opts.deviceId);
  await auditAdmin(c, actor, { type: 'device.forgotten', userId: id, details: { forgotten, ...(opts.deviceId ? { deviceId: opts.deviceId } : { all: true }) } });
  return { user_id: id, forgotten };
}
