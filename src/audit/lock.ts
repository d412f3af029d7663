/**
 * One writer at a time on the audit chain, across IdP processes and CLI runs: every append, checkpoint
 * and prune reads the head and writes after it inside this transaction.
 */
import type { Knex } from 'knex';
import type { Db } from '../store/db.js';
import { isPostgres } from '../store/db.js';

const AUDIT_LOCK = 7_431_001; // advisory lock id: serialises appends across IdP processes on PostgreSQL

export async function auditTransaction<T>(db: Db, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    if (isPostgres(db)) await trx.raw('select pg_advisory_xact_lock(?)', [AUDIT_LOCK]);
    // SQLite: a write statement first takes the write lock before anything is read (BEGIN IMMEDIATE in
    // effect), so another process cannot append between our read of the head and our insert — it waits
    // (busy_timeout) instead of forking the chain or failing on a stale snapshot.
    else await trx('audit_events').where('seq', '<', 0).update({ seq: -1 });
    return fn(trx);
  });
}
