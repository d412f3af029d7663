/** migrations/20261202000002_recovery.ts: up, the one-open-recovery-per-user index, and down (SQLite in memory). */
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as migration from '../../migrations/20261202000002_recovery.js';

let db: Knex;
beforeAll(async () => {
  // Checked on PostgreSQL 15 too when written; the integration tests run the full migration set on both stores.
  db = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
  await db.schema.createTable('users', (t) => t.string('id', 64).primary());
  await db('users').insert({ id: 'u-recovery-migration' });
});
afterAll(async () => db.destroy());

const row = (id: string, status: string) => ({ id, user_id: 'u-recovery-migration', status, reason: 'r', evidence: 'e', requested_by: 'a', created_at: 1, effective_at: 2 });

it('creates the table with at most one open recovery per user, and drops it again', async () => {
  await migration.up(db);
  await db('recoveries').insert(row('r1', 'pending'));
  await expect(db('recoveries').insert(row('r2', 'effective'))).rejects.toThrow(/unique|duplicate/i);
  await db('recoveries').insert([row('r3', 'cancelled'), row('r4', 'completed')]);
  await db('recoveries').where({ id: 'r1' }).update({ status: 'expired' });
  await db('recoveries').insert(row('r5', 'used'));
  expect((await db('recoveries').orderBy('id')).map((r) => r.status)).toEqual(['expired', 'cancelled', 'completed', 'used']);
  await migration.down(db);
  expect(await db.schema.hasTable('recoveries')).toBe(false);
});
