/**
 * Embedded default: the short-lived state (oidc-provider payloads, key/value, rate limits) lives in a second
 * SQLite file attached as `transient`, synchronous=NORMAL; everything else stays in the main file, FULL.
 * migrations/20261203000001_transient_state.ts moves the tables with their rows, both ways, and survives a
 * run cut short between its two steps.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory from 'knex';
import { afterEach, describe, expect, it } from 'vitest';
import { createDb, migrate, transientStateFile, type Db } from '../../src/store/db.js';
import { SqlKv } from '../../src/store/kv.js';
import { createThrottle } from '../../src/security/rate-limit.js';
import * as migration from '../../migrations/20261203000001_transient_state.js';

const TRANSIENT = ['ephemeral', 'oidc_payloads', 'rate_limits'];

const tablesIn = async (db: Db, schema: string) =>
  ((await db.raw(`select name from ${schema}.sqlite_master where type = 'table' and name not like 'sqlite_%'`)) as Array<{ name: string }>)
    .map((r) => r.name)
    .sort();

const rowsOf = async (db: Db, schema: string, table: string) => (await db.raw(`select * from ${schema}."${table}" order by 1`)) as unknown[];

let open: Db[] = [];
afterEach(async () => {
  await Promise.all(open.map((db) => db.destroy()));
  open = [];
});

async function freshDb(): Promise<{ db: Db; file: string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'stepwise-transient-')), 'db.sqlite');
  const db = createDb({ client: 'sqlite', filename: file });
  open.push(db);
  await migrate(db);
  return { db, file };
}

async function seedTransientRows(db: Db): Promise<void> {
  await db('ephemeral').insert({ key: 'challenge:1', value: 'v1', expires_at: Date.now() + 60_000 });
  await db('oidc_payloads').insert({ model: 'Session', id: 's1', payload: '{"accountId":"u1"}', uid: 'uid1', expires_at: Date.now() + 60_000 });
  await db('rate_limits').insert({ key: 'rl:login:u1', points: 3, expire: Date.now() + 60_000 });
}

describe('transient state (SQLite)', () => {
  it('keeps the short-lived tables in the transient file (NORMAL), the rest in the main file (FULL)', async () => {
    const { db, file } = await freshDb();
    expect(await tablesIn(db, 'transient')).toEqual(TRANSIENT);
    const main = await tablesIn(db, 'main');
    for (const t of TRANSIENT) expect(main).not.toContain(t);
    expect(main).toEqual(expect.arrayContaining(['users', 'factors', 'audit_events', 'sign_ins', 'devices']));

    expect(await db.raw('pragma main.synchronous')).toEqual([{ synchronous: 2 }]);
    expect(await db.raw('pragma transient.synchronous')).toEqual([{ synchronous: 1 }]);
    expect(await db.raw('pragma transient.journal_mode')).toEqual([{ journal_mode: 'wal' }]);
    expect(statSync(transientStateFile(file)).mode & 0o777).toBe(0o600);
    // Reopened (the file is in WAL mode now, where better-sqlite3 would default to NORMAL): still FULL.
    const again = createDb({ client: 'sqlite', filename: file });
    open.push(again);
    expect(await again.raw('pragma main.synchronous')).toEqual([{ synchronous: 2 }]);
    expect(await again.raw('pragma transient.synchronous')).toEqual([{ synchronous: 1 }]);

    // The code names the tables unqualified: the key/value store and a throttle write to the transient file.
    const kv = new SqlKv(db);
    await kv.set('k', 'v', 60);
    expect(await rowsOf(db, 'transient', 'ephemeral')).toHaveLength(1);
    expect(await kv.take('k')).toBe('v');
    expect(await kv.take('k')).toBeNull();
    const throttle = await createThrottle({ name: 'transient-test', points: 2, durationSeconds: 60, blockSeconds: 0 }, { db });
    await throttle.consume('u1');
    await throttle.consume('u1');
    await expect(throttle.consume('u1')).rejects.toThrow();
    expect(await rowsOf(db, 'transient', 'rate_limits')).toEqual([expect.objectContaining({ points: 3 })]);
  });

  it('a lost transient file comes back empty at the next start; the main file keeps its data', async () => {
    const { db, file } = await freshDb();
    await db('users').insert({ id: 'u-kept', email: 'kept@example.test', password_hash: 'x', created_at: 1, updated_at: 1 });
    await new SqlKv(db).set('gone', 'v', 60);
    await db.destroy();
    open = open.filter((d) => d !== db);
    for (const suffix of ['', '-wal', '-shm']) rmSync(transientStateFile(file) + suffix, { force: true });

    const again = createDb({ client: 'sqlite', filename: file });
    open.push(again);
    expect(await migrate(again)).toEqual([]);
    expect(await tablesIn(again, 'transient')).toEqual(TRANSIENT);
    expect(await new SqlKv(again).get('gone')).toBeNull();
    await new SqlKv(again).set('new', 'v', 60);
    expect(await new SqlKv(again).get('new')).toBe('v');
    expect(await again('users').where({ id: 'u-kept' }).first('email')).toEqual({ email: 'kept@example.test' });
  });

  it('moves the tables with their rows to the main file (down) and back (up)', async () => {
    const { db } = await freshDb();
    await migration.down(db);
    expect(await tablesIn(db, 'transient')).toEqual([]);
    await seedTransientRows(db); // unqualified: now in main
    const before = await Promise.all(TRANSIENT.map((t) => rowsOf(db, 'main', t)));
    expect(before.map((r) => r.length)).toEqual([1, 1, 1]);

    await migration.up(db);
    expect(await tablesIn(db, 'transient')).toEqual(TRANSIENT);
    expect(await Promise.all(TRANSIENT.map((t) => rowsOf(db, 'transient', t)))).toEqual(before);
    for (const t of TRANSIENT) expect(await tablesIn(db, 'main')).not.toContain(t);
    // Indexes came along (oidc-provider looks payloads up by uid and grant).
    const indexes = (await db.raw("select name from transient.sqlite_master where type = 'index' and tbl_name = 'oidc_payloads' and sql is not null")) as unknown[];
    expect(indexes).toHaveLength(3);
    expect(await db.raw('pragma transient.synchronous')).toEqual([{ synchronous: 1 }]); // back to NORMAL after the move
  });

  it('after a run cut short between copying and dropping, the next run copies again without duplicates', async () => {
    const { db } = await freshDb();
    await migration.down(db);
    await seedTransientRows(db);
    // What the first step leaves: copies in the transient file (here a stale one with a row too many), originals in main.
    await db.raw('create table transient.ephemeral as select * from main.ephemeral');
    await db.raw("insert into transient.ephemeral (key, value, expires_at) values ('stale', 'x', 1)");

    await migration.up(db);
    expect(((await rowsOf(db, 'transient', 'ephemeral')) as Array<{ key: string }>).map((r) => r.key)).toEqual(['challenge:1']);
    expect(await tablesIn(db, 'main')).not.toContain('ephemeral');
  });

  it('on a knex without the transient file attached, leaves the tables where they are and creates rate_limits there', async () => {
    const db = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true });
    open.push(db);
    await db.schema.createTable('ephemeral', (t) => t.string('key').primary());
    await migration.up(db);
    expect(await tablesIn(db, 'main')).toEqual(['ephemeral', 'rate_limits']);
  });
});
