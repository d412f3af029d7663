/**
 * Admin-initiated account recovery (policy `recovery:`), one service for the CLI, the admin API and the
 * user's pages. An admin who has checked the user's identity out of band starts it, recording who, why and
 * an evidence reference. The user hears about it at once (mail with a cancel link, and an SMS to every phone
 * number on the account) and can cancel it while it is pending — with the link, or on /account after
 * signing in with any factor they still have. Only after `recovery_timeout` does it become effective: the
 * user is mailed a one-time sign-in link; using it removes every old factor (and ends every session, token
 * and remembered device), and the next sign-in with the password must enroll a new second factor before
 * anything else (the enforcement gate asks RecoveryEnrollment). Every step is audited.
 *
 * Becoming effective is lazy: `sweepRecoveries` makes the due transitions (and mails the link). It runs on
 * `recovery list` (CLI, admin API), whenever the user opens a recovery page or /account, and periodically in
 * the server (see startRecoverySweep).
 */
import type { Container } from '../container.js';
import { AppError } from '../errors/index.js';
import { newId } from '../security/crypto.js';
import { smsNumberContext } from '../factors/sms/index.js';
import { RecoveriesRepo, type RecoveryRecord } from './repo.js';
import { cancellable, dueTransition, recoveryStatus, signinUsable, SIGNIN_LINK_TTL_SECONDS, RECOVERY_STATUSES, type RecoveryStatus } from './timeline.js';
import { preferredRequestLocale } from '../i18n/context.js';
import { DEFAULT_LOCALE, defaultI18n } from '../i18n/index.js';
import { formatMailDate } from '../notify/mail.js';

export type RecoveryContainer = Pick<
  Container,
  'db' | 'users' | 'audit' | 'links' | 'notices' | 'mailer' | 'notifier' | 'box' | 'factors' | 'factorService' | 'devices' | 'userSessions' | 'risk' | 'config' | 'log' | 'now'
>;

/** How a recovery is shown to admins (CLI JSON, admin API): snake_case, times as ISO strings. */
export interface RecoveryView {
  id: string;
  user_id: string;
  email: string | null;
  status: RecoveryStatus;
  reason: string;
  evidence: string;
  requested_by: string;
  created_at: string;
  effective_at: string;
  signin_link_sent_at: string | null;
  signin_link_expires_at: string | null;
  used_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  cancelled_by: string | null;
  expired_at: string | null;
}

export interface StartRecoveryInput {
  email: string;
  /** Why (free text, shown to the user in the notice). */
  reason: string;
  /** A reference to the identity check (ticket number, document check id) — never the document itself. */
  evidence: string;
  /** Who starts it (admin name or e-mail). */
  admin: string;
  ip?: string | null;
}

export interface CancelRecoveryInput {
  id: string;
  /** Who cancels: an admin's name, or `user` for the account holder. */
  by: string;
  /** Set when the account holder cancels: the recovery must be theirs. */
  userId?: string;
  via: 'admin' | 'link' | 'account';
  ip?: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
/** `2026-12-01 23:45 UTC`: how mails and pages show a time. */
export const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const ID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const recoveryPath = (kind: 'cancel' | 'signin', token: string) => `/recovery/${kind}/${token}`;

export function toView(r: RecoveryRecord, email: string | null, nowMs: number): RecoveryView {
  return {
    id: r.id,
    user_id: r.userId,
    email,
    status: recoveryStatus(r, nowMs),
    reason: r.reason,
    evidence: r.evidence,
    requested_by: r.requestedBy,
    created_at: iso(r.createdAt)!,
    effective_at: iso(r.effectiveAt)!,
    signin_link_sent_at: iso(r.signinSentAt),
    signin_link_expires_at: iso(r.signinExpiresAt),
    used_at: iso(r.usedAt),
    completed_at: iso(r.completedAt),
    cancelled_at: iso(r.cancelledAt),
    cancelled_by: r.cancelledBy,
    expired_at: iso(r.expiredAt),
  };
}

function text(value: unknown, field: string, max: number): string {
  const v = typeof value === 'string' ? value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim() : '';
  if (!v) throw new AppError('invalid_form', `${field} is required`, field);
  if (v.length > max) throw new AppError('invalid_form', `${field}: at most ${max} characters`, field);
  return v;
}

/** Starts a recovery: pending until now + recovery_timeout; the user is notified on every channel at once. */
export async function startRecovery(c: RecoveryContainer, input: StartRecoveryInput): Promise<RecoveryView & { notified: { email: string; sms: number } }> {
  const policy = c.risk.policy.recovery;
  if (policy.adminRecovery !== 'verify_with_id') {
    throw new AppError('forbidden', 'Admin recovery is turned off by the policy (recovery.admin_recovery).');
  }
  const reason = text(input.reason, 'reason', 500);
  const evidence = text(input.evidence, 'evidence', 200);
  const admin = text(input.admin, 'admin', 200);
  const user = await c.users.findByEmail(text(input.email, 'email', 320));
  if (!user) throw new AppError('not_found', 'No user with that email.');
  if (user.disabled) throw new AppError('conflict', 'That account is disabled; enable it before recovering it.');
  if (user.serviceAccount) throw new AppError('conflict', 'Service accounts have no second factor to recover.');
  const repo = new RecoveriesRepo(c.db);
  const now = c.now();
  const record = { id: newId(), userId: user.id, reason, evidence, requestedBy: admin, createdAt: now, effectiveAt: now + policy.recoveryTimeoutSeconds * 1000 };
  try {
    await repo.insert(record);
  } catch (err) {
    const open = await repo.findOpen(user.id);
    if (open) throw new AppError('conflict', `A recovery is already open for this user (${open.id}, ${recoveryStatus(open, now)}).`);
    throw err;
  }
  await c.audit.record({
    type: 'recovery.started',
    outcome: 'success',
    userId: user.id,
    ip: input.ip ?? null,
    details: { recoveryId: record.id, requestedBy: admin, reason, evidence, effectiveAt: record.effectiveAt },
  });
  // The cancel link cancels only while the recovery is pending; it lives on a while after, so a late click
  // is told the recovery already took effect instead of "invalid link".
  const token = await c.links.issue('recovery_cancel', user.id, { recoveryId: record.id }, policy.recoveryTimeoutSeconds + SIGNIN_LINK_TTL_SECONDS);
  await c.notices.send(user.id, 'recovery_started', {
    at: now,
    details: { cancelUrl: `${c.config.issuer}${recoveryPath('cancel', token)}`, effectiveAt: record.effectiveAt, reason },
  });
  const sms = await textEveryNumber(c, user.id, record.effectiveAt, user.locale);
  const stored = (await repo.find(record.id))!;
  return { ...toView(stored, user.email, now), notified: { email: user.email, sms } };
}

/**
 * One text to each active phone number (no link: a text cannot be told from a phishing one). Failures are
 * logged and audited, never fatal: the mail and the delay still protect the user. Returns how many went out.
 */
async function textEveryNumber(c: RecoveryContainer, userId: string, effectiveAt: number, userLocale: string | null): Promise<number> {
  if (!c.notifier.smsAvailable) return 0;
  const product = c.config.webauthn.rpName;
  // In the user's language: the request's if it states one (never the admin's: CLI/API are on behalf), else stored.
  const i18n = defaultI18n();
  const lang = i18n.firstSupported(await preferredRequestLocale(), userLocale) ?? DEFAULT_LOCALE;
  const body = i18n.translator(lang)('sms.recoveryStarted', { product, at: formatMailDate(effectiveAt, lang) });
  let sent = 0;
  for (const f of await c.factors.listByUser(userId, { kind: 'sms', status: 'active' })) {
    if (!f.secretEnc) continue;
    try {
      await c.notifier.sms.send(c.box.decryptString(f.secretEnc, smsNumberContext(f.id)), body);
      sent += 1;
    } catch (err) {
      c.log.error({ userId, factorId: f.id, err: (err as Error).message }, 'recovery: SMS notice failed');
      await c.audit.record({ type: 'notice.failed', outcome: 'failure', userId, details: { event: 'recovery_started', channel: 'sms', factorId: f.id } });
    }
  }
  return sent;
}

/** Recoveries, newest first, after a sweep (so the statuses and mailed links are current). */
export async function listRecoveries(c: RecoveryContainer, filter: { email?: string; status?: string; limit?: number } = {}): Promise<RecoveryView[]> {
  if (filter.status !== undefined && !RECOVERY_STATUSES.includes(filter.status as RecoveryStatus)) {
    throw new AppError('invalid_form', `status: expected one of ${RECOVERY_STATUSES.join('|')}`, 'status');
  }
  let userId: string | undefined;
  if (filter.email !== undefined) {
    const user = await c.users.findByEmail(filter.email);
    if (!user) return [];
    userId = user.id;
  }
  await sweepRecoveries(c, { userId });
  const now = c.now();
  const rows = await new RecoveriesRepo(c.db).list({ userId, limit: Math.min(Math.max(filter.limit ?? 100, 1), 500) });
  const emails = new Map<string, string | null>();
  const views: RecoveryView[] = [];
  for (const r of rows) {
    if (!emails.has(r.userId)) emails.set(r.userId, (await c.users.findById(r.userId))?.email ?? null);
    const view = toView(r, emails.get(r.userId)!, now);
    if (!filter.status || view.status === filter.status) views.push(view);
  }
  return views;
}

async function findRecovery(c: RecoveryContainer, id: unknown): Promise<RecoveryRecord> {
  const found = typeof id === 'string' && ID_SHAPE.test(id) ? await new RecoveriesRepo(c.db).find(id) : undefined;
  if (!found) throw new AppError('not_found', `No recovery with id ${JSON.stringify(String(id).slice(0, 80))}.`);
  return found;
}

/** Cancels a pending recovery (admin, the user's cancel link, or the user on /account). */
export async function cancelRecovery(c: RecoveryContainer, input: CancelRecoveryInput): Promise<RecoveryView> {
  const r = await findRecovery(c, input.id);
  if (input.userId !== undefined && r.userId !== input.userId) throw new AppError('not_found', `No recovery with id ${JSON.stringify(input.id)}.`);
  const now = c.now();
  const refuse = async (status: RecoveryStatus) => {
    await c.audit.record({ type: 'recovery.cancelled', outcome: 'failure', userId: r.userId, ip: input.ip ?? null, details: { recoveryId: r.id, by: input.by, via: input.via, status } });
    return new AppError('conflict', `This recovery is ${status}; only a pending recovery can be cancelled.`);
  };
  if (!cancellable(r, now)) throw await refuse(recoveryStatus(r, now));
  const by = text(input.by, 'by', 200);
  // Still pending and not yet due, atomically: a sweep or a parallel cancel cannot interleave.
  const won = await new RecoveriesRepo(c.db).transition(r.id, 'pending', { status: 'cancelled', cancelled_at: now, cancelled_by: by }, c.db, (q) => q.andWhere('effective_at', '>', now));
  if (!won) {
    const again = (await new RecoveriesRepo(c.db).find(r.id))!;
    throw await refuse(recoveryStatus(again, now));
  }
  await c.audit.record({ type: 'recovery.cancelled', outcome: 'success', userId: r.userId, ip: input.ip ?? null, details: { recoveryId: r.id, by, via: input.via } });
  await c.notices.send(r.userId, 'recovery_cancelled', { ip: input.ip ?? undefined, at: now, details: { reason: r.reason } });
  const user = await c.users.findById(r.userId);
  return toView((await new RecoveriesRepo(c.db).find(r.id))!, user?.email ?? null, now);
}

/**
 * Makes every due transition (of one user, or all): a pending recovery past its effective time becomes
 * effective and its sign-in link is mailed; an effective one whose link ran out expires. Compare-and-set
 * writes, so parallel sweeps send one link. A failed mail puts the recovery back to pending: the next sweep
 * tries again.
 */
export async function sweepRecoveries(c: RecoveryContainer, opts: { userId?: string } = {}): Promise<{ effective: number; expired: number }> {
  const repo = new RecoveriesRepo(c.db);
  const now = c.now();
  const out = { effective: 0, expired: 0 };
  for (const r of await repo.due(now, opts.userId)) {
    const step = dueTransition(r, now);
    if (step === 'expire') {
      if (await repo.transition(r.id, 'effective', { status: 'expired', expired_at: now })) {
        out.expired += 1;
        await c.audit.record({ type: 'recovery.expired', outcome: 'success', userId: r.userId, details: { recoveryId: r.id } });
      }
    } else if (step === 'send_signin_link') {
      const expiresAt = now + SIGNIN_LINK_TTL_SECONDS * 1000;
      if (!(await repo.transition(r.id, 'pending', { status: 'effective', signin_sent_at: now, signin_expires_at: expiresAt }))) continue;
      if (await mailSigninLink(c, r, expiresAt)) {
        out.effective += 1;
        await c.audit.record({ type: 'recovery.effective', outcome: 'success', userId: r.userId, details: { recoveryId: r.id, signinLinkExpiresAt: expiresAt } });
      } else {
        await repo.transition(r.id, 'effective', { status: 'pending', signin_sent_at: null, signin_expires_at: null });
      }
    }
  }
  return out;
}

async function mailSigninLink(c: RecoveryContainer, r: RecoveryRecord, expiresAt: number): Promise<boolean> {
  const user = await c.users.findById(r.userId);
  if (!user) return false;
  const token = await c.links.issue('recovery_signin', user.id, { recoveryId: r.id }, SIGNIN_LINK_TTL_SECONDS);
  try {
    await c.mailer.send({
      to: user.email,
      template: 'recovery-signin',
      vars: {
        userName: user.name,
        signinUrl: `${c.config.issuer}${recoveryPath('signin', token)}`,
        startedAt: r.createdAt,
        expiresAt,
      },
      userLocale: user.locale,
    });
    return true;
  } catch (err) {
    await c.links.revoke('recovery_signin', token);
    c.log.error({ userId: user.id, recoveryId: r.id, err: (err as Error).message }, 'recovery: sign-in link mail failed');
    await c.audit.record({ type: 'recovery.effective', outcome: 'failure', userId: user.id, details: { recoveryId: r.id, reason: 'mail_failed' } });
    return false;
  }
}

/** What a recovery link's page needs: the recovery behind a (not yet spent) link, and whether it may be used. */
export async function recoveryBehindLink(c: RecoveryContainer, purpose: 'recovery_cancel' | 'recovery_signin', token: unknown): Promise<{ record: RecoveryRecord; status: RecoveryStatus } | null> {
  const grant = await c.links.peek<{ recoveryId?: string }>(purpose, token);
  if (!grant || typeof grant.data.recoveryId !== 'string') return null;
  await sweepRecoveries(c, { userId: grant.userId });
  const record = await new RecoveriesRepo(c.db).find(grant.data.recoveryId);
  if (!record || record.userId !== grant.userId) return null;
  return { record, status: recoveryStatus(record, c.now()) };
}

/** The user's cancel link: spends it and cancels. null when the link is not (or no longer) valid. */
export async function cancelWithLink(c: RecoveryContainer, token: unknown, ip: string | null): Promise<RecoveryView | null> {
  const behind = await recoveryBehindLink(c, 'recovery_cancel', token);
  if (!behind || behind.status !== 'pending') return null;
  const grant = await c.links.redeem<{ recoveryId: string }>('recovery_cancel', token);
  if (!grant) return null;
  return cancelRecovery(c, { id: grant.data.recoveryId, by: 'user', userId: grant.userId, via: 'link', ip });
}

/**
 * The mailed sign-in link, used: the old factors are removed (with every token, remembered device and SSO
 * session), and the recovery waits for the new factor (RecoveryEnrollment). null when the link is not valid.
 */
export async function useSigninLink(c: RecoveryContainer, token: unknown, ip: string | null): Promise<{ userId: string; email: string } | null> {
  const behind = await recoveryBehindLink(c, 'recovery_signin', token);
  const now = c.now();
  if (!behind || !signinUsable(behind.record, now)) return null;
  const grant = await c.links.redeem<{ recoveryId: string }>('recovery_signin', token);
  if (!grant) return null;
  const user = await c.users.findById(grant.userId);
  if (!user || user.disabled) return null;
  const repo = new RecoveriesRepo(c.db);
  const old = await c.factors.listByUser(user.id);
  const removed = await c.db.transaction(async (trx) => {
    const won = await repo.transition(behind.record.id, 'effective', { status: 'used', used_at: now }, trx, (q) => q.andWhere('signin_expires_at', '>', now));
    if (!won) return null;
    for (const f of old) await c.factors.remove(user.id, f.id, trx);
    await c.factorService.registry.backup_code.removeCodes(user.id, trx);
    await c.users.endTokens(user.id, now, trx);
    await c.devices.forget(user.id, undefined, trx);
    return old.map((f) => ({ id: f.id, kind: f.kind, status: f.status }));
  });
  if (!removed) return null;
  const { ended } = await c.userSessions.endAll(user.id, { reason: 'recovery' });
  await c.audit.record({
    type: 'recovery.used',
    outcome: 'success',
    userId: user.id,
    ip,
    details: { recoveryId: behind.record.id, factorsRemoved: removed, sessionsEnded: ended },
  });
  return { userId: user.id, email: user.email };
}

/** The user's open recovery as /account shows it (after a sweep of theirs), or null. */
export async function accountRecovery(c: RecoveryContainer, userId: string): Promise<{ id: string; status: RecoveryStatus; startedAt: string; effectiveAt: string; requestedBy: string } | null> {
  await sweepRecoveries(c, { userId });
  const r = await new RecoveriesRepo(c.db).findOpen(userId);
  if (!r) return null;
  return { id: r.id, status: recoveryStatus(r, c.now()), startedAt: utc(r.createdAt), effectiveAt: utc(r.effectiveAt), requestedBy: r.requestedBy };
}

/** How often the server sweeps (recoveries also move on whenever they are listed or their user's pages open). */
export const RECOVERY_SWEEP_INTERVAL_MS = 5 * 60 * 1000;

/** The server's periodic sweep; returns the stop function (called on shutdown). */
export function startRecoverySweep(c: RecoveryContainer, intervalMs = RECOVERY_SWEEP_INTERVAL_MS): () => void {
  const timer = setInterval(() => {
    sweepRecoveries(c).catch((err: unknown) => c.log.warn({ err: (err as Error).message }, 'recovery: sweep failed'));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
