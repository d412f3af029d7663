/**
 * One writer at a time on the audit chain, across IdP processes and CLI runs: every append, checkpoint
 * and prune reads the head and writes after it inside this transaction.
 */
import type { Knex } from 'knex';
import type { Db } from '../store/db.js';
import { isPostgres } from '../store/db.js';

const AUDIT_LOCK = 7_431_001; // advisory lock id: serialises appends across IdP processes on PostgreSQL

/** `before` runs in the transaction ahead of the lock (writes that do not touch the chain: the lock is held for less). */
export async function auditTransaction<T>(
  db: Db,
  fn: (trx: Knex.Transaction) => Promise<T>,
  before?: (trx: Knex.Transaction) => Promise<void>,
): Promise<T> {
  return db.transaction(async (trx) => {
    await before?.(trx);
    // SQLite needs no statement of its own: every transaction begins IMMEDIATE (store/db.ts), so the write
    // lock is held before the head is read, and another process appending waits (busy_timeout) instead of
    // forking the chain or failing on a stale snapshot.
    if (isPostgres(db)) await trx.raw('select pg_advisory_xact_lock(?)', [AUDIT_LOCK]);
    return fn(trx);
  });
}
