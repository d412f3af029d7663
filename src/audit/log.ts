/**
 * Append-only, hash-chained audit log: each event's hash covers the previous hash, so deleting or editing a
 * row breaks the chain (`verifyChain`).
 */
import { createHash } from 'node:crypto';
import type { Db } from '../store/db.js';
import { isPostgres } from '../store/db.js';
import { newId } from '../security/crypto.js';
import { guardStore } from '../errors/index.js';

export interface AuditInput {
  type: string;
  outcome: 'success' | 'failure';
  userId?: string | null;
  clientId?: string | null;
  ip?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditEvent extends Required<Omit<AuditInput, 'details'>> {
  id: string;
  at: number;
  details: Record<string, unknown>;
  hash: string;
}

const GENESIS = '0'.repeat(64);
const AUDIT_LOCK = 7_431_001; // advisory lock id: serialises appends across IdP processes on PostgreSQL

function digest(prev: string, e: Omit<AuditEvent, 'hash'>): string {
  const body = JSON.stringify([e.id, e.at, e.type, e.outcome, e.userId, e.clientId, e.ip, e.details]);
  return createHash('sha256').update(prev).update(body).digest('hex');
}

function toEvent(r: Record<string, unknown>): Omit<AuditEvent, 'hash'> {
  return {
    id: r.id as string,
    at: Number(r.at),
    type: r.type as string,
    outcome: r.outcome as AuditEvent['outcome'],
    userId: r.user_id as string | null,
    clientId: r.client_id as string | null,
    ip: r.ip as string | null,
    details: JSON.parse(r.details as string) as Record<string, unknown>,
  };
}

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  async record(input: AuditInput): Promise<void> {
    const event = {
      id: newId(),
      at: this.now(),
      type: input.type,
      outcome: input.outcome,
      userId: input.userId ?? null,
      clientId: input.clientId ?? null,
      ip: input.ip ?? null,
      details: input.details ?? {},
    };
    await this.db.transaction(async (trx) => {
      if (isPostgres(this.db)) await trx.raw('select pg_advisory_xact_lock(?)', [AUDIT_LOCK]);
      const last = await trx('audit_events').orderBy('seq', 'desc').first('hash');
      const prev = (last?.hash as string | undefined) ?? GENESIS;
      await trx('audit_events').insert({
        id: event.id,
        at: event.at,
        type: event.type,
        outcome: event.outcome,
        user_id: event.userId,
        client_id: event.clientId,
        ip: event.ip,
        details: JSON.stringify(event.details),
        prev_hash: prev,
        hash: digest(prev, event),
      });
    });
  }

  async list(filter: { userId?: string; type?: string; limit?: number } = {}): Promise<AuditEvent[]> {
    let q = this.db('audit_events').orderBy('seq', 'desc').limit(filter.limit ?? 100);
    if (filter.userId) q = q.where({ user_id: filter.userId });
    if (filter.type) q = q.where({ type: filter.type });
    const rows = await q;
    return rows.map((r) => ({ ...toEvent(r), hash: r.hash as string }));
  }

  /** How many events of `type` a user has had since `sinceMs` (risk signals such as denied pushes). */
  async countSince(userId: string, type: string, sinceMs: number): Promise<number> {
    const row = await guardStore(() =>
      this.db('audit_events').where({ user_id: userId, type }).andWhere('at', '>=', sinceMs).count<{ n: number | string }[]>({ n: '*' }).first(),
    );
    return Number(row?.n ?? 0);
  }

  /** Recomputes the chain; returns the id of the first event that does not match, or null when intact. */
  async verifyChain(): Promise<string | null> {
    const rows = await this.db('audit_events').orderBy('seq', 'asc');
    let prev = GENESIS;
    for (const r of rows) {
      const e = toEvent(r);
      if (r.prev_hash !== prev || r.hash !== digest(prev, e)) return r.id as string;
      prev = r.hash;
    }
    return null;
  }
}
