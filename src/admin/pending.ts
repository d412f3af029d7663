/**
 * Four eyes: an admin action the policy file lists under `admin.second_approval` is stored pending
 * (table pending_actions: the serialized action and who asked) and runs only when a different admin
 * approves it. Deciding is one conditional UPDATE (`where status = 'pending'`), so two racing approvals —
 * or an approval racing a rejection — decide once and execute at most once, on SQLite and PostgreSQL.
 *
 * Modules that own a guarded action register its executor here (users.ts, clients.ts, recovery.ts);
 * approvals.ts imports them all, so an approval always finds its executor.
 */
import type { SecondApprovalAction } from './approval-kinds.js';
import { auditAdmin, decodeCursor, encodeCursor, pageLimit, type Actor, type AdminContext, type Guarded, type Page, type PageRequest } from './types.js';
import { AppError } from '../errors/index.js';
import { guardStore } from '../errors/index.js';
import { newId } from '../security/crypto.js';
import { CREATED_BY_PROPERTY } from './scopes.js';

/** A pending action stays approvable this long. */
export const PENDING_TTL_MS = 7 * 24 * 3600 * 1000;

export type PendingStatus = 'pending' | 'executed' | 'failed' | 'rejected' | 'expired' | 'approved';

export interface PendingActionView {
  id: string;
  kind: SecondApprovalAction;
  /** One line for the approver: what will happen. */
  summary: string;
  /** The action's parameters (ids, the new policy…), as it will be executed. */
  action: Record<string, unknown>;
  requested_by: string;
  status: PendingStatus;
  decided_by: string | null;
  /** The executed action's result, or `{ error, message }` when it failed at execution. */
  result: unknown;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  executed_at: number | null;
}

/** Runs an approved action. `requester` is whom the action is audited for; `approver` approved it. */
export type Executor = (c: AdminContext, params: Record<string, unknown>, who: { requester: Actor; approver: Actor }) => Promise<unknown>;

const executors = new Map<SecondApprovalAction, Executor>();

export function registerGuardedAction(kind: SecondApprovalAction, executor: Executor): void {
  executors.set(kind, executor);
}

export function needsSecondApproval(c: AdminContext, kind: SecondApprovalAction): boolean {
  return c.config.risk.admin?.secondApproval.includes(kind) ?? false;
}

function toView(r: Record<string, unknown>): PendingActionView {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: r.id as string,
    kind: r.kind as SecondApprovalAction,
    summary: r.summary as string,
    action: JSON.parse(r.action as string) as Record<string, unknown>,
    requested_by: r.requested_by as string,
    status: r.status as PendingStatus,
    decided_by: (r.decided_by as string | null) ?? null,
    result: r.result ? (JSON.parse(r.result as string) as unknown) : null,
    created_at: Number(r.created_at),
    expires_at: Number(r.expires_at),
    decided_at: num(r.decided_at),
    executed_at: num(r.executed_at),
  };
}

/**
 * Runs `run` now, or — when the policy puts `kind` under four eyes — stores it pending and returns the
 * pending action. `params` must be everything the executor registered for `kind` needs (JSON).
 */
export async function guarded<T>(
  c: AdminContext,
  actor: Actor,
  kind: SecondApprovalAction,
  request: { params: Record<string, unknown>; summary: string; userId?: string | null; clientId?: string | null },
  run: () => Promise<T>,
): Promise<Guarded<T>> {
  if (!needsSecondApproval(c, kind)) return { status: 'applied', result: await run() };
  const now = c.now();
  const row = {
    id: newId(),
    kind,
    action: JSON.stringify(request.params),
    summary: request.summary,
    requested_by: actor.id,
    status: 'pending',
    decided_by: null,
    result: null,
    created_at: now,
    expires_at: now + PENDING_TTL_MS,
    decided_at: null,
    executed_at: null,
  };
  await guardStore(() => c.db('pending_actions').insert(row));
  await auditAdmin(c, actor, { type: 'admin.approval.requested', userId: request.userId, clientId: request.clientId, details: { approvalId: row.id, kind, summary: request.summary } });
  return { status: 'pending', approval: toView(row) };
}

export async function getPendingAction(c: AdminContext, id: string): Promise<PendingActionView> {
  const row = await guardStore(() => c.db('pending_actions').where({ id }).first());
  if (!row) throw new AppError('not_found', `no approval ${id}`);
  return toView(row);
}

const isSeqCursor = (v: unknown): v is [number, string] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string';

/** Newest first; `status` filters (e.g. `pending`). Expired ones are reported as `expired`. */
export async function listPendingActions(c: AdminContext, filter: { status?: PendingStatus } & PageRequest = {}): Promise<Page<PendingActionView>> {
  const limit = pageLimit(filter.limit);
  const after = decodeCursor(filter.cursor, isSeqCursor);
  await expireOld(c);
  const rows = await guardStore(() => {
    let q = c.db('pending_actions').orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit + 1);
    if (filter.status) q = q.where({ status: filter.status });
    if (after) q = q.where((w) => w.where('created_at', '<', after[0]).orWhere((x) => x.where('created_at', '=', after[0]).andWhere('id', '<', after[1])));
    return q;
  });
  const items = rows.slice(0, limit).map(toView);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor([last.created_at, last.id]) : null };
}

async function expireOld(c: AdminContext): Promise<void> {
  await guardStore(() => c.db('pending_actions').where({ status: 'pending' }).andWhere('expires_at', '<=', c.now()).update({ status: 'expired' }));
}

/** pending → `to`, decided by `actor`; false when someone else decided first (or it expired). */
async function decide(c: AdminContext, id: string, actor: Actor, to: 'approved' | 'rejected', notRequester: boolean): Promise<boolean> {
  const now = c.now();
  const n = await guardStore(() => {
    let q = c.db('pending_actions').where({ id, status: 'pending' }).andWhere('expires_at', '>', now);
    if (notRequester) q = q.whereNot({ requested_by: actor.id });
    return q.update({ status: to, decided_by: actor.id, decided_at: now });
  });
  return n === 1;
}

function notDecidable(p: PendingActionView, now: number): AppError {
  if (p.status === 'pending' && p.expires_at <= now) return new AppError('conflict', `approval ${p.id} expired at ${new Date(p.expires_at).toISOString()}`);
  return new AppError('conflict', `approval ${p.id} is already ${p.status}${p.decided_by ? ` (by ${p.decided_by})` : ''}`);
}

/** The admins an identity descends from: the creators of a service client, recursively (bounded). */
async function creators(c: AdminContext, id: string): Promise<string[]> {
  const chain: string[] = [];
  let current = id;
  for (let depth = 0; depth < 10; depth++) {
    const row = await guardStore(() => c.db('clients').where({ client_id: current }).first('metadata'));
    const by = row ? (JSON.parse(row.metadata as string) as Record<string, unknown>)[CREATED_BY_PROPERTY] : undefined;
    if (typeof by !== 'string' || chain.includes(by) || by === id) break;
    chain.push(by);
    current = by;
  }
  return chain;
}

/**
 * Whether two admin identities may be one person: the same id, one created the other (directly or down a
 * chain), or both were created by the same API client. (Identities made by the CLI or by different console
 * users stay distinct: those operators are accountable on their own.)
 */
async function sameAdmin(c: AdminContext, a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  const [upA, upB] = await Promise.all([creators(c, a), creators(c, b)]);
  if (upA.includes(b) || upB.includes(a)) return true;
  const shared = upA.filter((x) => upB.includes(x));
  for (const x of shared) if (await guardStore(() => c.db('clients').where({ client_id: x }).first('client_id'))) return true;
  return false;
}

/**
 * A second admin approves: the action runs once, as requested, and its outcome is stored. The requester
 * can never approve their own — nor through a service client they created, or one created alongside theirs
 * by the same client; a decided or expired action is a conflict.
 */
export async function approvePendingAction(c: AdminContext, actor: Actor, id: string): Promise<PendingActionView> {
  const pending = await getPendingAction(c, id);
  if (await sameAdmin(c, pending.requested_by, actor.id)) {
    await auditAdmin(c, actor, { type: 'admin.approval.approved', outcome: 'failure', details: { approvalId: id, kind: pending.kind, reason: 'self_approval' } });
    throw new AppError('forbidden', 'the admin who requested an action cannot approve it; another admin must');
  }
  if (!(await decide(c, id, actor, 'approved', true))) throw notDecidable(await getPendingAction(c, id), c.now());
  await auditAdmin(c, actor, { type: 'admin.approval.approved', details: { approvalId: id, kind: pending.kind, requestedBy: pending.requested_by } });
  const executor = executors.get(pending.kind);
  let status: PendingStatus = 'executed';
  let result: unknown;
  try {
    if (!executor) throw new AppError('internal', `no executor for ${pending.kind}`);
    result = await executor(c, pending.action, { requester: { id: pending.requested_by, ip: actor.ip }, approver: actor });
  } catch (err) {
    status = 'failed';
    // Stored in English (err.message), whoever approved: the console shows it in each reader's language.
    result = err instanceof AppError ? { error: err.code, message: err.message } : { error: 'internal', message: 'the action failed' };
    if (!(err instanceof AppError) || err.code === 'internal' || err.code === 'store_unavailable') c.log.error({ err, approvalId: id }, 'approved admin action failed');
  }
  await guardStore(() => c.db('pending_actions').where({ id }).update({ status, result: JSON.stringify(result ?? null), executed_at: c.now() }));
  return getPendingAction(c, id);
}

/** Any admin — the requester too (withdrawing it) — may reject a pending action. */
export async function rejectPendingAction(c: AdminContext, actor: Actor, id: string): Promise<PendingActionView> {
  const pending = await getPendingAction(c, id);
  if (!(await decide(c, id, actor, 'rejected', false))) throw notDecidable(await getPendingAction(c, id), c.now());
  await auditAdmin(c, actor, { type: 'admin.approval.rejected', details: { approvalId: id, kind: pending.kind, requestedBy: pending.requested_by } });
  return getPendingAction(c, id);
}
