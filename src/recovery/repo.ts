/** The `recoveries` table (migrations/20261202000002_recovery.ts): rows in, typed records out. */
import type { Db } from '../store/db.js';
import { guardStore } from '../errors/index.js';
import type { RecoveryStatus } from './timeline.js';

export interface RecoveryRecord {
  id: string;
  userId: string;
  /** The stored status (see timeline.ts for the status at a given time). */
  status: RecoveryStatus;
  reason: string;
  evidence: string;
  requestedBy: string;
  createdAt: number;
  effectiveAt: number;
  signinSentAt: number | null;
  signinExpiresAt: number | null;
  usedAt: number | null;
  completedAt: number | null;
  cancelledAt: number | null;
  cancelledBy: string | null;
  expiredAt: number | null;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

const toRecord = (r: Record<string, unknown>): RecoveryRecord => ({
  id: r.id as string,
  userId: r.user_id as string,
  status: r.status as RecoveryStatus,
  reason: r.reason as string,
  evidence: r.evidence as string,
  requestedBy: r.requested_by as string,
  createdAt: Number(r.created_at),
  effectiveAt: Number(r.effective_at),
  signinSentAt: num(r.signin_sent_at),
  signinExpiresAt: num(r.signin_expires_at),
  usedAt: num(r.used_at),
  completedAt: num(r.completed_at),
  cancelledAt: num(r.cancelled_at),
  cancelledBy: (r.cancelled_by as string | null) ?? null,
  expiredAt: num(r.expired_at),
});

export class RecoveriesRepo {
  constructor(private readonly db: Db) {}

  async insert(r: Pick<RecoveryRecord, 'id' | 'userId' | 'reason' | 'evidence' | 'requestedBy' | 'createdAt' | 'effectiveAt'>): Promise<void> {
    await guardStore(() =>
      this.db('recoveries').insert({
        id: r.id,
        user_id: r.userId,
        status: 'pending',
        reason: r.reason,
        evidence: r.evidence,
        requested_by: r.requestedBy,
        created_at: r.createdAt,
        effective_at: r.effectiveAt,
      }),
    );
  }

  async find(id: string): Promise<RecoveryRecord | undefined> {
    const row = await guardStore(() => this.db('recoveries').where({ id }).first());
    return row ? toRecord(row) : undefined;
  }

  /** The user's open recovery (pending, effective or used), if any. */
  async findOpen(userId: string): Promise<RecoveryRecord | undefined> {
    const row = await guardStore(() => this.db('recoveries').where({ user_id: userId }).whereIn('status', ['pending', 'effective', 'used']).first());
    return row ? toRecord(row) : undefined;
  }

  async list(filter: { userId?: string; limit?: number } = {}): Promise<RecoveryRecord[]> {
    const q = this.db('recoveries').orderBy('created_at', 'desc').limit(filter.limit ?? 100);
    if (filter.userId) q.where({ user_id: filter.userId });
    return (await guardStore(() => q)).map(toRecord);
  }

  /** Rows a sweep may have to move on: pending past their effective time, effective past the link's expiry. */
  async due(nowMs: number, userId?: string): Promise<RecoveryRecord[]> {
    const q = this.db('recoveries').where((w) =>
      w.where((p) => p.where({ status: 'pending' }).andWhere('effective_at', '<=', nowMs)).orWhere((e) => e.where({ status: 'effective' }).andWhere('signin_expires_at', '<=', nowMs)),
    );
    if (userId) q.andWhere({ user_id: userId });
    return (await guardStore(() => q.limit(500))).map(toRecord);
  }

  /**
   * Compare-and-set: writes `patch` only while the row still has status `from` (and matches `extra`), so
   * two processes (or a click and a sweep) never both make the same transition. True when this call won.
   */
  async transition(id: string, from: RecoveryStatus, patch: Record<string, unknown>, trx: Db = this.db, extra?: (q: ReturnType<Db>) => void): Promise<boolean> {
    const q = trx('recoveries').where({ id, status: from });
    extra?.(q);
    return (await guardStore(() => q.update(patch))) === 1;
  }
}
