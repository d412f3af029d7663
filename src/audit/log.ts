/**
 * Append-only, hash-chained audit log: each event's hash covers the previous hash, so deleting or editing a
 * row breaks the chain; signed checkpoints (src/audit/checkpoint.ts) anchor its head so a cut tail or an
 * emptied table shows too (`verifyChain`, `stepwise audit verify`).
 */
import type { Db } from '../store/db.js';
import { newId } from '../security/crypto.js';
import { guardStore } from '../errors/index.js';
import { digest, GENESIS } from './chain.js';
import type { CheckpointKeys } from './checkpoint.js';
import { appendTransaction } from './lock.js';
import { verifyAudit } from './verify.js';
import { joinRequestBatch } from './request-batch.js';
import type { Knex } from 'knex';

/** A durable write run inside another commit (src/audit/request-batch.ts). */
export type DeferredWrite = (trx: Knex.Transaction) => Promise<void>;

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

/** An event before it is chained (no hash yet). */
export type PendingEvent = Omit<AuditEvent, 'hash'>;

export type AuditListener = (event: AuditEvent) => void;

export class AuditLog {
  private readonly listeners: AuditListener[] = [];

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
    /** The checkpoint keys: with them, verifyChain also follows a pruned log and checks the stored checkpoints. */
    private readonly opts: { keys?: CheckpointKeys } = {},
  ) {}

  /** Called after each event is committed (metrics, checkpoints); a listener's error never fails the write. */
  onRecord(fn: AuditListener): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Records an event. Inside a request it joins the request's batch (src/audit/request-batch.ts), committed
   * in one transaction before the response leaves — a sign-in step records up to four events, and each
   * append holds the chain's one writer lock. Elsewhere (CLI, timers) it is committed at once.
   */
  async record(input: AuditInput): Promise<void> {
    const event: PendingEvent = {
      id: newId(),
      at: this.now(),
      type: input.type,
      outcome: input.outcome,
      userId: input.userId ?? null,
      clientId: input.clientId ?? null,
      ip: input.ip ?? null,
      details: input.details ?? {},
    };
    if (joinRequestBatch(event)) return;
    await this.append([event]);
  }

  /**
   * Appends events in order, in one transaction (one head read, one insert), then tells the listeners.
   * `writes` run first in the same transaction (before the chain's lock is taken); with no events, alone.
   */
  async append(events: PendingEvent[], writes: DeferredWrite[] = []): Promise<void> {
    const before: DeferredWrite = async (trx) => {
      for (const write of writes) await write(trx);
    };
    if (events.length === 0) {
      if (writes.length > 0) await guardStore(() => this.db.transaction(before));
      return;
    }
    const hashes = await guardStore(() => appendTransaction(this.db, async (trx, head) => {
      let prev = head ?? GENESIS;
      const rows = events.map((event) => {
        const hash = digest(prev, event);
        const row = {
          id: event.id,
          at: event.at,
          type: event.type,
          outcome: event.outcome,
          user_id: event.userId,
          client_id: event.clientId,
          ip: event.ip,
          details: JSON.stringify(event.details),
          prev_hash: prev,
          hash,
        };
        prev = hash;
        return row;
      });
      // Row order is chain order: seq follows insertion order, also for a multi-row insert.
      await trx('audit_events').insert(rows);
      return rows.map((r) => r.hash);
    }, before));
    events.forEach((event, i) => {
      for (const fn of this.listeners) {
        try {
          fn({ ...event, hash: hashes[i]! });
        } catch {
          /* observers must not break auditing */
        }
      }
    });
  }

  /**
   * Fails (store_unavailable) when the log cannot be written now: for actions that cannot be undone once done
   * and must be audited, checked before they start.
   */
  async probe(): Promise<void> {
    await guardStore(() => this.db('audit_events').select('seq').limit(1));
  }

  async list(filter: { userId?: string; type?: string; limit?: number } = {}): Promise<AuditEvent[]> {
    let q = this.db('audit_events').orderBy('seq', 'desc').limit(filter.limit ?? 100);
    if (filter.userId) q = q.where({ user_id: filter.userId });
    if (filter.type) q = q.where({ type: filter.type });
    const rows = await q;
    return rows.map((r) => ({ ...toEvent(r), hash: r.hash as string }));
  }

  /**
   * Recomputes the chain from its anchor (the genesis, or a signed prune boundary) and checks it against the
   * stored checkpoints; returns the id of the first event that does not match, the problem's kind
   * (`truncated`, `wiped`, …) when no single event is at fault, or null when intact.
   */
  async verifyChain(): Promise<string | null> {
    const { problem } = await verifyAudit(this.db, { keys: this.opts.keys ?? null });
    return problem ? (problem.eventId ?? problem.kind) : null;
  }
}
