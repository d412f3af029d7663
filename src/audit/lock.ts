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

const HEAD_HASH = 'select hash from audit_events order by seq desc limit 1';

/**
 * auditTransaction for an append: `fn` gets the chain's last hash, read under the lock. On PostgreSQL the lock
 * and the read go in one round trip, as two statements of one simple query (no parameters): under READ
 * COMMITTED each statement takes its own snapshot, so the read, which starts once the lock is granted, sees
 * every append committed before it.
 */
export async function appendTransaction<T>(
  db: Db,
  fn: (trx: Knex.Transaction, head: string | undefined) => Promise<T>,
  before?: (trx: Knex.Transaction) => Promise<void>,
): Promise<T> {
  return db.transaction(async (trx) => {
    await before?.(trx);
    if (!isPostgres(db)) return fn(trx, ((await trx.raw(HEAD_HASH)) as Array<{ hash: string }>)[0]?.hash);
    const results = (await trx.raw(`select pg_advisory_xact_lock(${AUDIT_LOCK}); ${HEAD_HASH}`)) as Array<{ rows: Array<{ hash: string }> }>;
    return fn(trx, results[1]?.rows[0]?.hash);
  });
}
